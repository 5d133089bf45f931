"""OpenAI-compatible chat (OpenRouter by default, any base URL): SSE stream.

``data: {chunk}`` events with ``choices[0].delta.content``; with
``stream_options.include_usage`` a last chunk carries ``usage``; then
``data: [DONE]``. Comment lines (``: OPENROUTER PROCESSING``) keep the
connection open and are skipped; a ``data:`` event with an ``error`` object is
an error; a stream without ``[DONE]`` is incomplete.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

import httpx
from django.conf import settings

from chat.upstreams.base import Event, Final, UpstreamError, short, token_count
from chat.upstreams.http import decoded, open_stream, parsed_stream


class OpenAICompatUpstream:
    kind = "openai"

    def __init__(self, base_url: str | None = None, api_key: str | None = None):
        # Parsed once: httpx parses a str URL again on every request.
        self.url = httpx.URL((base_url or settings.OPENAI_COMPAT_BASE_URL).rstrip("/") + "/chat/completions")
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
        # Closed explicitly: closing this generator (a client that left) closes the response at once.
        async with aclosing(parsed_stream(response, _EventParser())) as events:
            async for event in events:
                yield event


class _EventParser:
    """One stream's SSE lines; remembers the usage chunk and the finish reason.

    The ``data:`` payloads of one network read are decoded together (see
    :func:`chat.upstreams.http.decoded`).
    """

    __slots__ = ("usage", "finish")

    def __init__(self):
        self.usage: dict | None = None
        self.finish = "stop"

    def __call__(self, lines: list[str], pieces: list[str]) -> Final | None:
        payloads = []
        done = False
        for line in lines:
            if not line.startswith("data:"):
                continue  # blank separators, comments (": ..."), event:/id:/retry: fields
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                break
            payloads.append(data)
        for obj in decoded(payloads, "The model server sent a malformed event."):
            self._event(obj, pieces)
        if not done:
            return None
        return Final(
            prompt_tokens=token_count((self.usage or {}).get("prompt_tokens")),
            completion_tokens=token_count((self.usage or {}).get("completion_tokens")),
            finish_reason=self.finish,
        )

    def _event(self, obj, pieces: list[str]) -> None:
        if type(obj) is not dict:
            raise UpstreamError("The model server sent a malformed event.")
        error = obj.get("error")
        if error:
            message = error.get("message") if isinstance(error, dict) else error
            raise UpstreamError(f"The model server reported an error: {short(message)}")
        usage = obj.get("usage")
        if type(usage) is dict:
            self.usage = usage
        for choice in obj.get("choices") or ():
            if type(choice) is not dict:
                continue
            delta = choice.get("delta")
            content = delta.get("content") if type(delta) is dict else None
            if content and type(content) is str:
                pieces.append(content)
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
