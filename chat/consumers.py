"""``/ws/chat/``: streamed chat over a WebSocket for a signed-in user.

Client → server: ``{"type": "chat.start", "id"?, "model"?, "messages": [...],
"max_tokens"?, "temperature"?}`` and ``{"type": "chat.cancel"}``.
Server → client: ``chat.delta`` (``content``), ``chat.done`` (``usage``,
``finish_reason``, ``tokens_left``), ``chat.cancelled``, and ``error`` events;
the socket stays usable after an error. One stream at a time per socket.
"""

from __future__ import annotations

import asyncio
import time

from accounts.ws import AuthenticatedJsonConsumer
from billing.metering import Refused
from chat import registry, services
from chat.limits import ChatInputError, chat_input
from chat.services import MeteredStream
from chat.upstreams.base import UpstreamError
from chat.views import reserve
from voidsite.net import scope_client_ip


class ChatConsumer(AuthenticatedJsonConsumer):
    _task: asyncio.Task | None = None

    async def on_message(self, content: dict):
        kind = content["type"]
        if kind == "chat.start":
            await self._chat_start(content)
        elif kind == "chat.cancel":
            await self._cancel(notify=True)
        else:
            await super().on_message(content)

    async def _chat_start(self, content: dict):
        request_id = content.get("id") if isinstance(content.get("id"), str | int) else None
        if self._task is not None and not self._task.done():
            await self.send_error("A reply is still streaming; send chat.cancel first.", id=request_id)
            return
        try:
            chat = chat_input(content)
            model = content.get("model")
            route = registry.route_for(model if isinstance(model, str) else None)
        except (ChatInputError, registry.UnknownModel) as exc:
            await self.send_error(exc.detail, id=request_id)
            return
        self._task = asyncio.create_task(self._stream(request_id, route, chat, time.perf_counter()))

    async def _stream(self, request_id, route, chat, started: float):
        try:
            reservation = await reserve(
                services.ws_reserve, user=self.user, ip=scope_client_ip(self.scope), route=route, chat=chat
            )
        except Refused as refusal:
            await self.send_error(refusal.detail, id=request_id, status=refusal.status, code=refusal.code)
            return
        stream = MeteredStream(reservation=reservation, route=route, chat=chat, started=started)
        try:
            async for event in stream:
                if type(event) is str:
                    await self.send_json({"type": "chat.delta", "id": request_id, "content": event})
        except UpstreamError as exc:
            await self.send_error(exc.detail, id=request_id, status=502, code="upstream_error")
            return
        finally:
            await stream.aclose()
        await self.send_json(
            {
                "type": "chat.done",
                "id": request_id,
                "model": route.name,
                "finish_reason": stream.finish_reason,
                "usage": {
                    "prompt_tokens": stream.prompt_tokens,
                    "completion_tokens": stream.completion_tokens,
                    "total_tokens": stream.prompt_tokens + stream.completion_tokens,
                },
                "tokens_used": stream.tokens_used,
                "tokens_left": stream.tokens_left,
            }
        )

    async def _cancel(self, *, notify: bool):
        task, self._task = self._task, None
        if task is None or task.done():
            if notify:
                await self.send_error("Nothing is streaming.")
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        if notify:
            await self.send_json({"type": "chat.cancelled"})

    async def on_disconnect(self, code):
        await self._cancel(notify=False)
