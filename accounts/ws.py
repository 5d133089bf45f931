"""WebSocket authentication and origin policy, shared by every consumer.

Origin policy (written down, as the tickets issue asks):
- a browser (it always sends ``Origin``) must come from an allowed host
  (``ALLOWED_HOSTS``) or a configured ``CORS_ORIGINS`` origin; others are refused;
- a native client (Flutter app, the Discord bot) sends no ``Origin`` and is
  accepted, but must still authenticate with a bearer token.

A token is taken from the ``Authorization: Bearer`` header, a ``token`` query
parameter, or a first message ``{"type": "auth", "token": "..."}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from urllib.parse import parse_qs, urlparse

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from rest_framework.exceptions import AuthenticationFailed

from accounts.authentication import user_for_raw_token

log = logging.getLogger("voidsite.ws")

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_BIG = 1009
CLOSE_RATE_LIMITED = 4429


class OriginPolicyValidator(OriginValidator):
    def __init__(self, application):
        super().__init__(application, allowed_origins=[])

    def valid_origin(self, parsed_origin):
        if parsed_origin is None:
            return True  # native clients; authentication is still required
        for origin in settings.CORS_ALLOWED_ORIGINS:
            allowed = urlparse(origin)
            if (parsed_origin.scheme, parsed_origin.hostname, parsed_origin.port) == (
                allowed.scheme,
                allowed.hostname,
                allowed.port,
            ):
                return True
        return any(self.match_allowed_origin(parsed_origin, host) for host in settings.ALLOWED_HOSTS)


def _token_from_scope(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            kind, _, raw = value.decode("latin1").partition(" ")
            if kind.lower() == "bearer" and raw.strip():
                return raw.strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin1"))
    if query.get("token"):
        return query["token"][0]
    return None


async def authenticate_token(raw: str):
    """``(user, token)`` for a raw access token, or ``(None, None)``."""
    try:
        return await database_sync_to_async(user_for_raw_token)(raw)
    except AuthenticationFailed:
        return None, None


class JWTAuthMiddleware:
    """Sets ``scope["user"]`` (and ``scope["token"]``) from a header or query token."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        scope["user"], scope["token"] = AnonymousUser(), None
        raw = _token_from_scope(scope)
        if raw:
            user, token = await authenticate_token(raw)
            if user is None:
                scope["auth_error"] = True
            else:
                scope["user"], scope["token"] = user, token
        return await self.app(scope, receive, send)


class AuthenticatedJsonConsumer(AsyncJsonWebsocketConsumer):
    """Base consumer: authenticated JSON messages with size and rate limits.

    Subclasses implement :meth:`on_authenticated` (join groups; return False to
    refuse) and :meth:`on_message`. Errors are sent as
    ``{"type": "error", "detail": ...}`` and the socket stays open; an invalid
    or expired token closes it with code 4401.
    """

    auth_timeout = 10.0  # seconds to send {"type": "auth"} when no token came with the handshake
    max_message_bytes = 1024 * 1024
    rate_per_second = 10.0
    rate_burst = 30.0

    user = None
    token = None
    _timers: list[asyncio.Task]

    async def connect(self):
        self._timers = []
        self._allowance, self._last = self.rate_burst, time.monotonic()
        if self.scope.get("auth_error"):
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            if await self._start(user, self.scope["token"]):
                await self.accept()
            return
        await self.accept()
        self._timers.append(asyncio.create_task(self._close_after(self.auth_timeout)))

    async def _start(self, user, token) -> bool:
        self.user, self.token = user, token
        if await self.on_authenticated() is False:
            await self.close(code=CLOSE_FORBIDDEN)
            return False
        ttl = token["exp"] - time.time()
        self._timers.append(asyncio.create_task(self._close_after(max(ttl, 0))))
        return True

    async def _close_after(self, seconds: float):
        await asyncio.sleep(seconds)
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        raw = text_data if text_data is not None else bytes_data
        if raw is None:
            return
        if len(raw) > self.max_message_bytes:
            await self.send_error("Message too large.")
            await self.close(code=CLOSE_TOO_BIG)
            return
        if not self._take_token():
            await self.send_error("Too many messages; slow down.", code="rate_limited")
            return
        try:
            content = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            await self.send_error("Malformed JSON.")
            return
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self.send_error('Each message must be a JSON object with a "type".')
            return
        if self.user is None:
            await self._authenticate_message(content)
            return
        await self.on_message(content)

    async def _authenticate_message(self, content):
        token = content.get("token") if content["type"] == "auth" else None
        user, validated = await authenticate_token(token) if isinstance(token, str) else (None, None)
        if user is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if await self._start(user, validated):
            await self.send_json({"type": "auth.ok", "user": user.username, "role": user.role})

    def _take_token(self) -> bool:
        now = time.monotonic()
        self._allowance = min(self.rate_burst, self._allowance + (now - self._last) * self.rate_per_second)
        self._last = now
        if self._allowance < 1:
            return False
        self._allowance -= 1
        return True

    async def dispatch(self, message):
        """Run the handler for ``message``, without Channels' per-event trip to the database thread for
        channel-layer events.

        Channels (4.2+) runs ``close_old_connections`` on the single sync thread before *every*
        handler. For a group event that is one thread round trip per socket: a room of 500 sockets
        queued 500 of them behind the database work of the message being posted. Our consumers do all
        database work through ``database_sync_to_async``, which closes stale connections before and
        after each call itself, so for channel-layer events (anything but ``websocket.*``) the trip
        buys nothing. Client frames keep it. Subclasses: do database work in event handlers only
        through ``database_sync_to_async``.
        """
        if str(message.get("type", "")).startswith("websocket."):
            await super().dispatch(message)
            return
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def send_error(self, detail: str, **extra):
        await self.send_json({"type": "error", "detail": detail, **extra})

    async def disconnect(self, code):
        for timer in getattr(self, "_timers", []):
            timer.cancel()
        if self.user is not None:
            await self.on_disconnect(code)

    # --- for subclasses --------------------------------------------------------
    async def on_authenticated(self) -> bool | None:
        return True

    async def on_message(self, content: dict):
        await self.send_error(f"Unknown message type {content['type']!r}.")

    async def on_disconnect(self, code):
        return None
