"""Ollama: ``POST {OLLAMA_BASE_URL}/api/chat``, NDJSON stream.

Each line is ``{"message": {"content": ...}, "done": false}``; the last has
``"done": true`` with ``prompt_eval_count`` / ``eval_count``. An
``{"error": ...}`` line is an error; a stream without its ``done`` line is
incomplete.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from django.conf import settings

from chat.upstreams.base import Event, Final, UpstreamError, short
from chat.upstreams.http import open_stream, parsed_stream


class OllamaUpstream:
    kind = "ollama"

    def __init__(self, base_url: str | None = None):
        self.url = (base_url or settings.OLLAMA_BASE_URL).rstrip("/") + "/api/chat"

    async def stream(
        self, *, model: str, messages: list[dict], max_tokens: int | None, temperature: float | None
    ) -> AsyncIterator[Event]:
        options: dict = {}
        if max_tokens is not None:
            options["num_predict"] = max_tokens
        if temperature is not None:
            options["temperature"] = temperature
        payload = {"model": model, "messages": messages, "stream": True, "keep_alive": settings.OLLAMA_KEEP_ALIVE}
        if options:
            payload["options"] = options
        response = await open_stream(self.url, payload)
        async for event in parsed_stream(response, _parse_line):
            yield event


_decode = json.JSONDecoder().decode


def _parse_line(line: str, pieces: list[str]) -> Final | None:
    if not line or line.isspace():
        return None
    try:
        obj = _decode(line)
    except ValueError:
        raise UpstreamError("The model server sent a malformed line.") from None
    if type(obj) is not dict:
        raise UpstreamError("The model server sent a malformed line.")
    if "error" in obj:
        raise UpstreamError(f"The model server reported an error: {short(obj['error'])}")
    message = obj.get("message")
    if type(message) is dict:
        content = message.get("content")
        if content and type(content) is str:
            pieces.append(content)
    if obj.get("done") is True:
        return Final(
            prompt_tokens=_int(obj.get("prompt_eval_count")),
            completion_tokens=_int(obj.get("eval_count")),
            finish_reason=obj.get("done_reason") or "stop",
        )
    return None


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
