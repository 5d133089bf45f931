"""Models by name, from ``CHAT_MODELS`` (``name=upstream:upstream_model`` items)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from billing.models import PrincipalKind
from chat.upstreams.base import Upstream

KINDS = ("demo", "ollama", "openai")


@dataclass(frozen=True, slots=True)
class ModelRoute:
    name: str
    kind: str
    upstream_model: str


class UnknownModel(Exception):
    def __init__(self, name: str, available: list[str]):
        super().__init__(name)
        self.detail = f"Unknown model {name!r}. Available models: {', '.join(available)}."


class ModelNotAllowed(Exception):
    def __init__(self, name: str):
        super().__init__(name)
        self.detail = f"The model {name!r} is not available to this kind of account."


@lru_cache(maxsize=4)
def parse_models(spec: str) -> dict[str, ModelRoute]:
    routes: dict[str, ModelRoute] = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, target = item.partition("=")
        kind, sep2, upstream_model = target.partition(":")
        name, kind, upstream_model = name.strip(), kind.strip(), upstream_model.strip()
        if not (sep and sep2 and name and upstream_model) or kind not in KINDS:
            raise ImproperlyConfigured(
                f"CHAT_MODELS: cannot read {item!r}; write name=upstream:upstream_model with upstream one of {', '.join(KINDS)}."
            )
        routes[name] = ModelRoute(name, kind, upstream_model)
    if not routes:
        raise ImproperlyConfigured("CHAT_MODELS names no model.")
    return routes


def routes() -> dict[str, ModelRoute]:
    return parse_models(settings.CHAT_MODELS)


def route_for(name: str | None) -> ModelRoute:
    table = routes()
    route = table.get(name or settings.DEFAULT_MODEL)
    if route is None:
        raise UnknownModel(name or settings.DEFAULT_MODEL, sorted(table))
    return route


_ALLOWED = {
    PrincipalKind.DEVICE: "CHAT_MODELS_DEVICE",
    PrincipalKind.PRO_TOKEN: "CHAT_MODELS_PRO",
    PrincipalKind.USER: "CHAT_MODELS_USER",
    PrincipalKind.API_KEY: "CHAT_MODELS_USER",
}


def check_allowed(route: ModelRoute, principal_kind: str) -> None:
    allowed = getattr(settings, _ALLOWED[principal_kind])
    if "*" not in allowed and route.name not in allowed:
        raise ModelNotAllowed(route.name)


@lru_cache(maxsize=16)
def _upstream(kind: str, ollama_url: str, openai_url: str, openai_key: str) -> Upstream:
    if kind == "ollama":
        from chat.upstreams.ollama import OllamaUpstream

        return OllamaUpstream(ollama_url)
    if kind == "openai":
        from chat.upstreams.openai_compat import OpenAICompatUpstream

        return OpenAICompatUpstream(openai_url, openai_key)
    from chat.upstreams.demo import DemoUpstream

    return DemoUpstream()


def upstream_for(route: ModelRoute) -> Upstream:
    return _upstream(route.kind, settings.OLLAMA_BASE_URL, settings.OPENAI_COMPAT_BASE_URL, settings.OPENROUTER_API_KEY)
