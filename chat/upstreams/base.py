"""Shared types of the upstream clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(slots=True, frozen=True)
class Final:
    """The end of a complete upstream stream, with the usage it reported (or ``None``)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str = "stop"


class UpstreamError(Exception):
    """The upstream failed: HTTP error, error line or event, malformed or cut stream."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class UpstreamTimeout(UpstreamError):
    pass


Event = str | Final


class Upstream(Protocol):
    kind: str

    def stream(
        self, *, model: str, messages: list[dict], max_tokens: int | None, temperature: float | None
    ) -> AsyncIterator[Event]: ...


def token_count(value: object) -> int | None:
    """A usage count the upstream reported: a non-negative int, else unknown (``None``)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def short(text: object, limit: int = 200) -> str:
    """An upstream's message, cut to a length fit for a client's ``detail``."""
    text = str(text).strip().replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"
