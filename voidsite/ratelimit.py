"""Fixed-window rate limits on the shared cache, through django-ratelimit's core.

django-ratelimit's decorator does not work on ``async def`` views (its issue
#293), so callers use :func:`hit` directly. A cache failure (Redis down) is
logged and fails open: it must never turn into a 500.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django_ratelimit.core import get_usage

log = logging.getLogger("voidsite.ratelimit")


@dataclass(frozen=True)
class Usage:
    limited: bool
    limit: int
    remaining: int
    retry_after: int

    def headers(self) -> dict[str, str]:
        out = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining)}
        if self.limited:
            out["Retry-After"] = str(self.retry_after)
        return out


def hit(request, *, group: str, value: str, rate: str, increment: bool = True) -> Usage | None:
    """Count one request for ``value`` in ``group``; ``None`` when limits are off or the cache failed."""
    try:
        usage = get_usage(request, group=group, key=lambda _g, _r: value, rate=rate, increment=increment)
    except Exception:  # any cache backend error: fail open, loudly (log.exception keeps the traceback)
        log.exception("rate limit cache unavailable for group %s", group)
        return None
    if usage is None:
        return None
    if usage["time_left"] < 0:  # the cache refused the write: fail open
        log.warning("rate limit cache failed for group %s", group)
        return None
    return Usage(
        limited=usage["should_limit"],
        limit=usage["limit"],
        remaining=max(usage["limit"] - usage["count"], 0),
        retry_after=max(usage["time_left"], 1),
    )
