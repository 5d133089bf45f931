"""The HTTP side that Google and Discord sign-in share: a client per process
(transport and timeout from settings, rebuilt when those change) and the check
that an answer is a JSON object."""

from __future__ import annotations

import httpx
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

_clients: dict[str | None, httpx.Client] = {}


def client(*, user_agent: str | None = None) -> httpx.Client:
    """The shared client (one per User-Agent); the transport comes from settings (tests use the fakes)."""
    found = _clients.get(user_agent)
    if found is None:
        headers = {"Accept": "application/json"}
        if user_agent:
            headers["User-Agent"] = user_agent
        found = _clients[user_agent] = httpx.Client(
            transport=settings.SOCIAL_HTTP_TRANSPORT,
            timeout=httpx.Timeout(settings.SOCIAL_HTTP_TIMEOUT, connect=5.0),
            headers=headers,
        )
    return found


@receiver(setting_changed)
def _reset_clients(*, setting, **kwargs):
    if setting in ("SOCIAL_HTTP_TRANSPORT", "SOCIAL_HTTP_TIMEOUT"):
        _clients.clear()


def json_object(response: httpx.Response, unavailable: type[Exception], service: str) -> dict:
    """The answer's JSON object, or ``unavailable`` (the provider answered nonsense)."""
    try:
        data = response.json()
    except ValueError as exc:
        raise unavailable(f"{service} answered with something that is not JSON.") from exc
    if not isinstance(data, dict):
        raise unavailable(f"{service} answered with something unexpected.")
    return data
