"""``GET /api/health``: the seed's ``{"status", "timestamp"}`` plus each part's state.

A part that is down makes the answer a 503 naming it. Apps add their own parts
with :func:`register` (for example push, which reports ``off`` when unconfigured).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone

log = logging.getLogger("voidsite.health")

# name -> async callable returning "ok", "off" or raising on failure
_CHECKS: dict[str, Callable[[], Awaitable[str]]] = {}
CHECK_TIMEOUT = 3.0


def register(name: str, check: Callable[[], Awaitable[str]]) -> None:
    _CHECKS[name] = check


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


async def check_database() -> str:
    return await sync_to_async(_database, thread_sensitive=True)()


async def check_channel_layer() -> str:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    name = await layer.new_channel()
    await layer.send(name, {"type": "health.ping"})
    message = await layer.receive(name)
    if message.get("type") != "health.ping":
        raise RuntimeError("channel layer returned a wrong message")
    return "ok"


async def check_cache() -> str:
    await cache.aset("health:ping", "1", 10)
    if await cache.aget("health:ping") != "1":
        raise RuntimeError("cache did not keep a value")
    return "ok"


register("database", check_database)
register("channel_layer", check_channel_layer)
register("cache", check_cache)


async def _run(name: str, check) -> tuple[str, str]:
    try:
        return name, await asyncio.wait_for(check(), CHECK_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 (a failing part is reported, never raised)
        log.warning("health check %s failed: %s", name, type(exc).__name__)
        return name, "down"


async def health(request):
    results = dict(await asyncio.gather(*(_run(name, check) for name, check in _CHECKS.items())))
    failing = [name for name, state in results.items() if state == "down"]
    body = {
        "status": "ok" if not failing else "degraded",
        "timestamp": timezone.now().isoformat().replace("+00:00", "Z"),
        **results,
    }
    if failing:
        body["detail"] = f"Unavailable: {', '.join(failing)}."
    return JsonResponse(body, status=503 if failing else 200)
