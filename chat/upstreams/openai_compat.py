"""OpenAI-compatible chat (OpenRouter by default, any base URL): SSE stream.

``data: {chunk}`` events with ``choices[0].delta.content``; with
``stream_options.include_usage`` a last chunk carries ``usage``; then
``data: [DONE]``. Comment lines (``: OPENROUTER PROCESSING``) keep the
connection open and are skipped; a ``data:`` event with an ``error`` object is
an error; a stream without ``[DONE]`` is incomplete.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from django.conf import settings

from chat.upstreams.base import Event, Final, UpstreamError, short
from chat.upstreams.http import line_batches, open_stream


class OpenAICompatUpstream:
    kind = "openai"

    def __init__(self, base_url: str | None = None, api_key: str | None = None):
        self.url = (base_url or settings.OPENAI_COMPAT_BASE_URL).rstrip("/") + "/chat/completions"
        key = settings.OPENROUTER_API_KEY if api_key is None else api_key
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.headers["Accept"] = "text/event-stream"

    async def stream(
        self, *, model: str, messages: list[dict], max_tokens: int | None, temperature: float | None
    ) -> AsyncIterator[Event]:
        payload: dict = {
            "model": model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if max_tokens is not None:
            payload["max_tokens"] = max_tokens
        if temperature is not None:
            payload["temperature"] = temperature
        response = await open_stream(self.url, payload, self.headers)
        usage = None
        finish = "stop"
        final = None
        try:
            async for lines in line_batches(response):
                if final is not None:
                    continue  # read to the end, so the connection goes back to the pool
                pieces = []
                failure = None
                try:
                    for raw in lines:
                        line = raw.rstrip(b"\r")
                        if not line.startswith(b"data:"):
                            continue  # blank separators, comments (": ..."), event:/id:/retry: fields
                        data = line[5:].strip()
                        if data == b"[DONE]":
                            final = Final(
                                prompt_tokens=_int(usage, "prompt_tokens"),
                                completion_tokens=_int(usage, "completion_tokens"),
                                finish_reason=finish,
                            )
                            break
                        try:
                            obj = json.loads(data)
                        except ValueError:
                            raise UpstreamError("The model server sent a malformed event.") from None
                        if not isinstance(obj, dict):
                            raise UpstreamError("The model server sent a malformed event.")
                        if obj.get("error"):
                            error = obj["error"]
                            message = error.get("message") if isinstance(error, dict) else error
                            raise UpstreamError(f"The model server reported an error: {short(message)}")
                        if isinstance(obj.get("usage"), dict):
                            usage = obj["usage"]
                        for choice in obj.get("choices") or ():
                            if not isinstance(choice, dict):
                                continue
                            delta = choice.get("delta") or {}
                            content = delta.get("content") if isinstance(delta, dict) else None
                            if content and isinstance(content, str):
                                pieces.append(content)
                            if choice.get("finish_reason"):
                                finish = choice["finish_reason"]
                except UpstreamError as exc:
                    failure = exc
                if pieces:
                    yield "".join(pieces)  # what arrived before an error line still reaches the client
                if failure is not None:
                    raise failure
        finally:
            await response.aclose()
        if final is None:
            raise UpstreamError("The model server's stream ended before it was complete.")
        yield final


def _int(usage: dict | None, name: str) -> int | None:
    value = (usage or {}).get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
