"""A fake Discord at the HTTP boundary: the OAuth2 token exchange, the current
user and their guild member record, with the documented JSON.

- ``POST https://discord.com/api/oauth2/token`` (form: ``grant_type=authorization_code``,
  ``code``, ``redirect_uri``; client id/secret by HTTP Basic or in the form) →
  ``{"access_token", "token_type": "Bearer", "expires_in", "refresh_token", "scope"}``;
  a bad or reused code → 400 ``{"error": "invalid_grant"}``; bad client → 401 ``{"error": "invalid_client"}``.
- ``GET https://discord.com/api/users/@me`` (Bearer) → ``{"id", "username", "global_name", "avatar", ...}``.
- ``GET https://discord.com/api/users/@me/guilds/{guild.id}/member`` (Bearer) →
  ``{"user", "nick", "roles", "joined_at", ...}``; 404 ``{"message": "Unknown Guild", "code": 10004}``
  when the user is not a member.

:meth:`FakeDiscord.authorize` plays the person clicking "Authorize" and returns the code
Discord would append to the redirect URI.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import httpx

HOSTS = ("discord.com", "discordapp.com")


@dataclass
class DiscordUser:
    id: str
    username: str
    global_name: str | None = None
    avatar: str | None = "a1b2c3d4e5f6"

    def json(self) -> dict:
        return {
            "id": self.id,
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": self.avatar,
            "public_flags": 0,
            "flags": 0,
            "mfa_enabled": False,
            "locale": "en-US",
            "premium_type": 0,
        }


@dataclass
class FakeDiscord:
    client_id: str
    client_secret: str
    guild_id: str
    unreachable: bool = False
    # guild member roles by user id; a user missing here is not a member (404)
    members: dict[str, list[str]] = field(default_factory=dict)
    users: dict[str, DiscordUser] = field(default_factory=dict)
    codes: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.transport = httpx.MockTransport(self.handle)

    def authorize(self, user: DiscordUser, *, roles: list[str] | None, redirect_uri: str | None = None) -> str:
        """The person authorizes us; ``roles=None`` means they are not in the guild."""
        self.users[user.id] = user
        if roles is None:
            self.members.pop(user.id, None)
        else:
            self.members[user.id] = list(roles)
        code = secrets.token_urlsafe(20)
        self.codes[code] = (user.id, redirect_uri)
        return code

    def handles(self, request: httpx.Request) -> bool:
        return request.url.host in HOSTS

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(f"{request.method} {request.url.path}")
        if self.unreachable:
            raise httpx.ConnectError("connection refused", request=request)
        path = request.url.path.removeprefix("/api").removeprefix("/v10")
        if path == "/oauth2/token" and request.method == "POST":
            return self._token(request)
        user_id = self._bearer_user(request)
        if path.startswith("/users/@me") and user_id is None:
            return httpx.Response(401, json={"message": "401: Unauthorized", "code": 0})
        if path == "/users/@me" and request.method == "GET":
            return httpx.Response(200, json=self.users[user_id].json())
        if path == f"/users/@me/guilds/{self.guild_id}/member" and request.method == "GET":
            roles = self.members.get(user_id)
            if roles is None:
                return httpx.Response(404, json={"message": "Unknown Guild", "code": 10004})
            return httpx.Response(
                200,
                json={
                    "user": self.users[user_id].json(),
                    "nick": None,
                    "avatar": None,
                    "roles": roles,
                    "joined_at": "2024-01-01T00:00:00.000000+00:00",
                    "premium_since": None,
                    "deaf": False,
                    "mute": False,
                    "flags": 0,
                    "pending": False,
                },
            )
        if path.startswith("/users/@me/guilds/") and path.endswith("/member"):
            return httpx.Response(404, json={"message": "Unknown Guild", "code": 10004})
        return httpx.Response(404, json={"message": "404: Not Found", "code": 0})

    def _bearer_user(self, request: httpx.Request) -> str | None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        return self.tokens.get(header[7:])

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            client_id, _, client_secret = base64.b64decode(header[6:]).decode().partition(":")
        if client_id != self.client_id or client_secret != self.client_secret:
            return httpx.Response(401, json={"error": "invalid_client"})
        if form.get("grant_type") != "authorization_code":
            return httpx.Response(400, json={"error": "unsupported_grant_type"})
        entry = self.codes.pop(form.get("code", ""), None)
        if entry is None:
            return httpx.Response(
                400, json={"error": "invalid_grant", "error_description": 'Invalid "code" in request.'}
            )
        user_id, redirect_uri = entry
        if redirect_uri is not None and form.get("redirect_uri") != redirect_uri:
            return httpx.Response(
                400, json={"error": "invalid_grant", "error_description": 'Invalid "redirect_uri" in request.'}
            )
        access = secrets.token_urlsafe(24)
        self.tokens[access] = user_id
        return httpx.Response(
            200,
            json={
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": 604800,
                "refresh_token": secrets.token_urlsafe(24),
                "scope": "identify guilds.members.read",
            },
        )


def router(*fakes) -> httpx.MockTransport:
    """One transport for several fakes, each answering for its own hosts."""

    def handle(request: httpx.Request) -> httpx.Response:
        for fake in fakes:
            if fake.handles(request):
                return fake.handle(request)
        raise httpx.ConnectError(f"no fake for {request.url.host}", request=request)

    return httpx.MockTransport(handle)
