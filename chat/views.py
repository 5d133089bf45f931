"""Chat endpoints: VOID's ``/chat/stream``, ByteChat's ``/api/chat/stream`` and the
OpenAI-compatible ``/v1/chat/completions`` and ``/v1/models``.

Thin async views: parse and check the input (no I/O), reserve (one thread hop),
open the upstream and wait for its first piece (so an early failure is a 502
with the reservation refunded), then stream. Settlement lives in
:class:`chat.services.MeteredStream`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time

from django.conf import settings
from django.http import JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from billing import metering
from billing.metering import Refused, Reservation
from billing.models import Outcome
from chat import registry, services
from chat.limits import ChatInput, ChatInputError, chat_input
from chat.services import MeteredStream
from chat.upstreams.base import UpstreamError
from voidsite.errors import json_error
from voidsite.net import client_ip

log = logging.getLogger("chat")

MAX_ID_LENGTH = 512
_pending: set[asyncio.Future] = set()


# --- shared helpers ---------------------------------------------------------------
def _json_body(request) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ChatInputError("The request body must be JSON.") from None
    if not isinstance(body, dict):
        raise ChatInputError("The request body must be a JSON object.")
    return body


def _bearer(request) -> str:
    kind, _, raw = request.headers.get("authorization", "").partition(" ")
    return raw.strip() if kind.lower() == "bearer" else ""


def _release_abandoned(task: asyncio.Future) -> None:
    """A reservation that finished after its client left: give it back."""
    if task.cancelled() or task.exception() is not None:
        return
    settle = asyncio.ensure_future(
        metering.run_in_thread(
            metering.reservation_settle, reservation=task.result(), outcome=Outcome.CLIENT_DISCONNECTED, refund=True
        )
    )
    _pending.add(settle)
    settle.add_done_callback(_pending.discard)


async def reserve(fn, **kwargs) -> Reservation:
    """Run a reserve phase; if the client leaves meanwhile, the reservation is refunded."""
    task = asyncio.ensure_future(metering.run_in_thread(fn, **kwargs))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(_release_abandoned)
        raise


async def _open(reservation: Reservation, route, chat: ChatInput, started: float):
    stream = MeteredStream(reservation=reservation, route=route, chat=chat, started=started)
    return stream, await stream.first()


# --- VOID: POST /chat/stream ------------------------------------------------------
@csrf_exempt
async def void_chat_stream(request):
    """The VOID seed's contract: device headers, ``{messages}`` or ``{message}``, a text/plain stream."""
    started = time.perf_counter()
    if request.method != "POST":
        return json_error("Method not allowed.", 405, {"Allow": "POST"})
    client_id = request.headers.get("x-void-client-id", "").strip()
    fingerprint = request.headers.get("x-void-browser-fp", "").strip()
    pro_token = request.headers.get("x-void-pro-token", "").strip()
    if not 10 <= len(client_id) <= MAX_ID_LENGTH:
        return json_error("Invalid Client ID.", 400)
    if not 10 <= len(fingerprint) <= MAX_ID_LENGTH:
        return json_error("Missing Browser Fingerprint.", 400)
    try:
        body = _json_body(request)
        if body.get("messages"):
            chat = chat_input(body)
        else:
            message = body.get("message") or ""
            if not isinstance(message, str):
                raise ChatInputError("message must be a string.")
            chat = chat_input({"messages": [{"role": "user", "content": message}]})
        route = registry.route_for(settings.VOID_MODEL)
    except ChatInputError as exc:
        return json_error(exc.detail, 400)
    try:
        reservation = await reserve(
            services.void_reserve,
            client_id=client_id,
            fingerprint=fingerprint,
            pro_token=pro_token,
            ip=client_ip(request),
            route=route,
            chat=chat,
        )
    except Refused as refusal:
        return json_error(refusal.detail, refusal.status, refusal.headers)
    try:
        stream, first = await _open(reservation, route, chat, started)
    except UpstreamError as exc:
        return json_error(exc.detail, 502, reservation.headers)
    return StreamingHttpResponse(
        _text_body(stream, first), content_type="text/plain; charset=utf-8", headers=reservation.headers
    )


async def _text_body(stream: MeteredStream, event):
    try:
        events = aiter(stream)
        while type(event) is str:
            yield event.encode()
            event = await anext(events)
    except UpstreamError:
        # A plain-text stream has no error event: end it without its terminating
        # chunk, so the client sees an incomplete reply rather than a short one.
        raise
    finally:
        await stream.aclose()


# --- SSE encoding (ByteChat and /v1) ----------------------------------------------
class _Chunks:
    """Pre-encoded halves of an OpenAI ``chat.completion.chunk`` event."""

    def __init__(self, model: str):
        self.id = "chatcmpl-" + secrets.token_hex(12)
        self.created = int(time.time())
        self.model = model
        self.head = (
            f'data: {{"id":"{self.id}","object":"chat.completion.chunk","created":{self.created},'
            f'"model":{json.dumps(model)},"choices":'
        ).encode()

    def content(self, text: str) -> bytes:
        return (
            self.head
            + b'[{"index":0,"delta":{"content":'
            + json.dumps(text).encode()
            + b'},"finish_reason":null}]}\n\n'
        )

    def role(self) -> bytes:
        return self.head + b'[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n'

    def finish(self, reason: str, usage: dict | None = None) -> bytes:
        tail = f',"usage":{json.dumps(usage)}' if usage is not None else ""
        return self.head + f'[{{"index":0,"delta":{{}},"finish_reason":{json.dumps(reason)}}}]{tail}}}\n\n'.encode()

    def usage_only(self, usage: dict) -> bytes:
        return self.head + f'[],"usage":{json.dumps(usage)}}}\n\n'.encode()


def _usage(stream: MeteredStream) -> dict:
    return {
        "prompt_tokens": stream.prompt_tokens,
        "completion_tokens": stream.completion_tokens,
        "total_tokens": stream.prompt_tokens + stream.completion_tokens,
    }


def _sse(obj: dict) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


# --- ByteChat: POST /api/chat/stream ----------------------------------------------
@csrf_exempt
async def bytechat_chat_stream(request):
    """ByteChat's contract: ``{access_token, messages, model, temperature, max_tokens}`` →
    OpenAI SSE chunks, the usage, ``token_update``, ``[DONE]``; 401 / 403."""
    started = time.perf_counter()
    if request.method != "POST":
        return json_error("Method not allowed.", 405, {"Allow": "POST"})
    try:
        body = _json_body(request)
        chat = chat_input(body)
        route = registry.route_for(body.get("model") if isinstance(body.get("model"), str) else None)
    except ChatInputError as exc:
        return json_error(exc.detail, 400)
    except registry.UnknownModel as exc:
        return json_error(exc.detail, 400)
    access_token = body.get("access_token")
    try:
        reservation = await reserve(
            services.bytechat_reserve,
            access_token=access_token.strip() if isinstance(access_token, str) else "",
            bearer=_bearer(request),
            ip=client_ip(request),
            route=route,
            chat=chat,
        )
    except Refused as refusal:
        return json_error(refusal.detail, refusal.status, refusal.headers)
    try:
        stream, first = await _open(reservation, route, chat, started)
    except UpstreamError as exc:
        return json_error(exc.detail, 502)
    return StreamingHttpResponse(
        _bytechat_body(stream, first, route.name), content_type="text/event-stream", headers=SSE_HEADERS
    )


async def _bytechat_body(stream: MeteredStream, event, model: str):
    # Every write costs a trip through the server: the end of the stream (finish +
    # usage, token_update, [DONE]) goes out as one.
    chunks = _Chunks(model)
    tail = b""
    try:
        events = aiter(stream)
        while type(event) is str:
            yield chunks.content(event)
            event = await anext(events)
        tail = chunks.finish(stream.finish_reason, _usage(stream))
    except UpstreamError as exc:
        tail = _sse({"error": {"message": exc.detail, "type": "upstream_error", "code": 502}})
    finally:
        await stream.aclose()
    token_update = {"type": "token_update", "tokens_left": stream.tokens_left, "tokens_used": stream.tokens_used}
    yield tail + _sse(token_update) + SSE_DONE


# --- OpenAI-compatible: /v1 -------------------------------------------------------
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    405: "invalid_request_error",
    429: "rate_limit_error",
    502: "upstream_error",
}


def openai_error(
    detail: str, status: int, headers: dict | None = None, code: str | None = None, param: str | None = None
):
    """OpenAI's error shape (for its SDKs), with the project's ``detail`` beside it."""
    error = {"message": detail, "type": _OPENAI_TYPES.get(status, "api_error"), "param": param, "code": code}
    response = JsonResponse({"error": error, "detail": detail}, status=status)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


@csrf_exempt
async def openai_chat_completions(request):
    started = time.perf_counter()
    if request.method != "POST":
        return openai_error("Method not allowed.", 405, {"Allow": "POST"})
    try:
        body = _json_body(request)
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise ChatInputError("model must be a string.", "model")
        chat = chat_input(body)
        route = registry.route_for(model)
        stream_options = body.get("stream_options") or {}
        include_usage = bool(isinstance(stream_options, dict) and stream_options.get("include_usage"))
    except ChatInputError as exc:
        return openai_error(exc.detail, 400, param=exc.param)
    except registry.UnknownModel as exc:
        return openai_error(exc.detail, 400, code="model_not_found", param="model")
    try:
        reservation = await reserve(
            services.openai_reserve, bearer=_bearer(request), ip=client_ip(request), route=route, chat=chat
        )
    except Refused as refusal:
        return openai_error(refusal.detail, refusal.status, refusal.headers, code=refusal.code or None)
    try:
        stream, first = await _open(reservation, route, chat, started)
    except UpstreamError as exc:
        return openai_error(exc.detail, 502, reservation.headers, code="upstream_error")
    if body.get("stream") is True:
        return StreamingHttpResponse(
            _openai_stream_body(stream, first, route.name, include_usage),
            content_type="text/event-stream",
            headers={**SSE_HEADERS, **reservation.headers},
        )
    return await _openai_complete(stream, first, route.name, reservation.headers)


async def _openai_stream_body(stream: MeteredStream, event, model: str, include_usage: bool):
    # Every write costs a trip through the server: the role chunk goes out with the
    # first text, and the end (finish, usage, [DONE]) as one.
    chunks = _Chunks(model)
    try:
        head = chunks.role()
        events = aiter(stream)
        while type(event) is str:
            yield head + chunks.content(event)
            head = b""
            event = await anext(events)
        tail = head + chunks.finish(stream.finish_reason)
        if include_usage:
            tail += chunks.usage_only(_usage(stream))
        yield tail + SSE_DONE
    except UpstreamError as exc:
        yield _sse(
            {"error": {"message": exc.detail, "type": "upstream_error", "param": None, "code": "upstream_error"}}
        )
    finally:
        await stream.aclose()


async def _openai_complete(stream: MeteredStream, event, model: str, headers: dict):
    pieces = []
    try:
        events = aiter(stream)
        while type(event) is str:
            pieces.append(event)
            event = await anext(events)
    except UpstreamError as exc:
        return openai_error(exc.detail, 502, headers, code="upstream_error")
    finally:
        await stream.aclose()
    body = {
        "id": "chatcmpl-" + secrets.token_hex(12),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(pieces)},
                "finish_reason": stream.finish_reason,
            }
        ],
        "usage": _usage(stream),
    }
    response = JsonResponse(body)
    for key, value in headers.items():
        response[key] = value
    return response


async def openai_models(request):
    if request.method != "GET":
        return openai_error("Method not allowed.", 405, {"Allow": "GET"})
    data = [
        {"id": route.name, "object": "model", "created": 0, "owned_by": f"voidsite/{route.kind}"}
        for route in registry.routes().values()
    ]
    return JsonResponse({"object": "list", "data": data})
