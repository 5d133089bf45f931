"""Cost of the analytics middleware on the request path (no database, no I/O).

``python -m bench analytics [N]``: times N authenticated requests through
``AnalyticsMiddleware`` around a trivial view, against the same view alone,
and prints the added microseconds per request. The buffer is cleared, never flushed.
"""

from __future__ import annotations

import os
import time


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voidsite.settings")
    os.environ.setdefault("VOIDSITE_TESTING", "1")  # dev secret, no background writer
    import django

    django.setup()
    from django.http import HttpResponse
    from django.test import RequestFactory
    from django.urls import resolve

    from accounts import analytics
    from accounts.models import User

    n = int(argv[0]) if argv else 100_000
    user = User(pk=1, username="bench", role="user")
    factory = RequestFactory()
    request = factory.get("/api/users/me", HTTP_X_PLATFORM="android")
    request.user = user
    request.resolver_match = resolve("/api/users/me")
    response = HttpResponse()

    def view(_request):
        return response

    middleware = analytics.AnalyticsMiddleware(view)

    def run(handler) -> float:
        started = time.perf_counter()
        for i in range(n):
            handler(request)
            if i % 10_000 == 0:
                analytics.buffer.clear()
        return time.perf_counter() - started

    run(middleware)  # warm up
    bare = run(view)
    wrapped = run(middleware)
    analytics.buffer.clear()
    added_us = (wrapped - bare) / n * 1e6
    print(f"requests={n} bare={bare:.3f}s with_analytics={wrapped:.3f}s added_per_request={added_us:.2f}us queries=0")
    return 0
