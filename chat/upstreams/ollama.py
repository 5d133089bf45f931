"""Ollama: ``POST {OLLAMA_BASE_URL}/api/chat``, NDJSON stream.

Each line is ``{"message": {"content": ...}, "done": false}``; the last has
``"done": true`` with ``prompt_eval_count`` / ``eval_count``. An
``{"error": ...}`` line is an error; a stream without its ``done`` line is
incomplete.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

import httpx
from django.conf import settings

from chat.upstreams.base import Event, Final, UpstreamError, short, token_count
from chat.upstreams.http import decoded, open_stream, parsed_stream


class OllamaUpstream:
    kind = "ollama"

    def __init__(self, base_url: str | None = None):
        # Parsed once: httpx parses a str URL again on every request.
        self.url = httpx.URL((base_url or settings.OLLAMA_BASE_URL).rstrip("/") + "/api/chat")

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
        # Closed explicitly: closing this generator (a client that left) closes the response at once.
        async with aclosing(parsed_stream(response, _parse_lines)) as events:
            async for event in events:
                yield event


def _parse_lines(lines: list[str], pieces: list[str]) -> Final | None:
    """A network read's worth of NDJSON lines (see :func:`decoded`)."""
    lines = [line for line in lines if line and not line.isspace()]
    for obj in decoded(lines, "The model server sent a malformed line."):
        final = _parse_object(obj, pieces)
        if final is not None:
            return final
    return None


def _parse_object(obj, pieces: list[str]) -> Final | None:
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
            prompt_tokens=token_count(obj.get("prompt_eval_count")),
            completion_tokens=token_count(obj.get("eval_count")),
            finish_reason=obj.get("done_reason") or "stop",
        )
    return None
