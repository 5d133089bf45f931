"""Client address of a request, believing forwarded headers only from trusted proxies."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=1)
def _trusted_networks(spec: tuple[str, ...]) -> tuple[ipaddress._BaseNetwork, ...]:
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in spec if item.strip())


def _is_trusted(addr: str) -> bool:
    networks = _trusted_networks(tuple(settings.TRUSTED_PROXIES))
    if not networks:
        return False
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_ip_from(peer: str, headers: dict[str, str]) -> str:
    """The client's address given the TCP peer and lower-case header names.

    ``CF-Connecting-IP`` and ``X-Forwarded-For`` are read only when the peer is a
    trusted proxy; in ``X-Forwarded-For`` the right-most address that is not
    itself a trusted proxy is the client (the left part is client-controlled).
    """
    peer = peer or "unknown"
    if not _is_trusted(peer):
        return peer
    cf = headers.get("cf-connecting-ip", "").strip()
    if cf:
        return cf
    forwarded = [part.strip() for part in headers.get("x-forwarded-for", "").split(",") if part.strip()]
    for addr in reversed(forwarded):
        if not _is_trusted(addr):
            return addr
    return forwarded[0] if forwarded else peer


def client_ip(request) -> str:
    """Client address of a Django ``HttpRequest``."""
    meta = request.META
    headers = {
        "cf-connecting-ip": meta.get("HTTP_CF_CONNECTING_IP", ""),
        "x-forwarded-for": meta.get("HTTP_X_FORWARDED_FOR", ""),
    }
    return client_ip_from(meta.get("REMOTE_ADDR", ""), headers)


def scope_client_ip(scope) -> str:
    """Client address of an ASGI scope (WebSocket consumers)."""
    client = scope.get("client") or ("", 0)
    headers = {k.decode("latin1").lower(): v.decode("latin1") for k, v in scope.get("headers", [])}
    return client_ip_from(client[0] or "", headers)
