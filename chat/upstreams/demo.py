"""The built-in demo model: a deterministic reply, no network. The embedded
default, so a fresh clone chats at once."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

from django.conf import settings

from chat.upstreams.base import Event, Final

REPLY_WORDS = 48
_TEXT = (
    "This is the voidsite demo model. It answers every message with the same kind of reply, "
    "so the whole chat pipeline (limits, metering, streaming and the ledger) can be tried "
    "without a model server. Configure CHAT_MODELS to route names to Ollama or an "
    "OpenAI-compatible server for real answers. Thank you for trying voidsite today."
).split()


def prompt_tokens_of(messages: list[dict]) -> int:
    from billing.metering import estimate_tokens

    return estimate_tokens(sum(len(m["content"]) for m in messages))


def reply_words(messages: list[dict]) -> list[str]:
    last = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    tag = hashlib.sha256(last.encode()).hexdigest()[:8]
    words = [f"[demo {tag}]", *_TEXT]
    return [w + " " for w in words[: REPLY_WORDS - 1]] + ["ok."]


class DemoUpstream:
    kind = "demo"

    async def stream(
        self, *, model: str, messages: list[dict], max_tokens: int | None, temperature: float | None
    ) -> AsyncIterator[Event]:
        words = reply_words(messages)
        finish = "stop"
        if max_tokens is not None and max_tokens < len(words):
            words, finish = words[:max_tokens], "length"
        delay = settings.DEMO_TOKEN_DELAY_MS / 1000
        if delay > 0:
            for word in words:
                await asyncio.sleep(delay)
                yield word
        else:
            for start in range(0, len(words), 16):
                yield "".join(words[start : start + 16])
        yield Final(prompt_tokens=prompt_tokens_of(messages), completion_tokens=len(words), finish_reason=finish)
