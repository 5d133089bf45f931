"""Request limits checked before any upstream call: messages, roles, lengths,
``max_tokens`` and ``temperature``."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

ALLOWED_ROLES = ("system", "user", "assistant")


class ChatInputError(Exception):
    def __init__(self, detail: str, param: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.param = param


@dataclass(slots=True)
class ChatInput:
    messages: list[dict]
    max_tokens: int | None = None
    temperature: float | None = None
    chars: int = 0


def _content(value, index: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # OpenAI content parts: only text is accepted here
        texts = []
        for part in value:
            if not (isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)):
                raise ChatInputError(f"messages[{index}].content: only text parts are supported.", "messages")
            texts.append(part["text"])
        return "".join(texts)
    raise ChatInputError(f"messages[{index}].content must be a string.", "messages")


def clean_messages(raw) -> tuple[list[dict], int]:
    if not isinstance(raw, list) or not raw:
        raise ChatInputError("messages must be a non-empty list.", "messages")
    if len(raw) > settings.CHAT_MAX_MESSAGES:
        raise ChatInputError(f"Too many messages (at most {settings.CHAT_MAX_MESSAGES}).", "messages")
    messages, total = [], 0
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ChatInputError(f"messages[{index}] must be an object with role and content.", "messages")
        role = item.get("role")
        if role not in ALLOWED_ROLES:
            raise ChatInputError(f"messages[{index}].role must be one of {', '.join(ALLOWED_ROLES)}.", "messages")
        content = _content(item.get("content"), index)
        if len(content) > settings.CHAT_MAX_MESSAGE_CHARS:
            raise ChatInputError(
                f"messages[{index}] is too long (at most {settings.CHAT_MAX_MESSAGE_CHARS} characters).", "messages"
            )
        total += len(content)
        messages.append({"role": role, "content": content})
    if total > settings.CHAT_MAX_TOTAL_CHARS:
        raise ChatInputError(
            f"The messages are too long together (at most {settings.CHAT_MAX_TOTAL_CHARS} characters)."
        )
    return messages, total


def clean_max_tokens(value) -> int | None:
    if value is None:
        return None
    ceiling = settings.CHAT_MAX_TOKENS_CEILING
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= ceiling:
        raise ChatInputError(f"max_tokens must be an integer from 1 to {ceiling}.", "max_tokens")
    return value


def clean_temperature(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 2:
        raise ChatInputError("temperature must be a number from 0 to 2.", "temperature")
    return float(value)


def chat_input(body: dict, *, messages_key: str = "messages") -> ChatInput:
    messages, chars = clean_messages(body.get(messages_key))
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        max_tokens = body.get("max_completion_tokens")
    return ChatInput(
        messages=messages,
        max_tokens=clean_max_tokens(max_tokens),
        temperature=clean_temperature(body.get("temperature")),
        chars=chars,
    )
