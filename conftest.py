"""Shared fixtures: API clients, users of each role, WebSocket helpers, service checks."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import socket
from urllib.parse import urlparse

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.services import tokens_for_user

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session", autouse=True)
def _close_db_pools(django_db_setup, django_db_blocker):
    """Close PostgreSQL pools before pytest-django drops the test database (open pooled
    connections would block the DROP)."""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for conn in connections.all(initialized_only=True):
            if conn.vendor == "postgresql":
                # Connections checked out by finished worker threads (sync_to_async) are
                # never returned to the pool; end them so the DROP can go ahead.
                with conn.cursor() as cursor:
                    cursor.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
            if hasattr(conn, "close_pool"):
                conn.close_pool()


@pytest.fixture(autouse=True)
def _metering_connections_back():
    """Chat metering workers keep a pooled connection between phases (billing.metering);
    hand them back after each test so they never add up to the pool's size."""
    yield
    from django.conf import settings

    if "postgresql" in settings.DATABASES["default"]["ENGINE"]:
        from billing import metering

        metering.close_worker_connections()


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate-limit counters and cached lookups never leak from one test into the next."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def redis_url() -> str:
    """A reachable Redis: ``REDIS_URL``, else the local default. Missing in CI is a failure, not a skip."""
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    if not _reachable(url):
        if CI:
            pytest.fail(f"Redis is not reachable at {url} (CI=true: required)")
        pytest.skip("Redis not reachable")
    return url


@pytest.fixture
def require_postgres():
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def make_user(db, django_user_model):
    counter = {"n": 0}

    def make(role: str = Role.USER, password: str = "correct horse battery", **fields):
        counter["n"] += 1
        fields.setdefault("username", f"{role}{counter['n']}")
        return django_user_model.objects.create_user(password=password, role=role, **fields)

    return make


@pytest.fixture
def user(make_user):
    return make_user(Role.USER)


@pytest.fixture
def moderator(make_user):
    return make_user(Role.MODERATOR)


@pytest.fixture
def admin_user(make_user):
    return make_user(Role.ADMIN, is_staff=True, is_superuser=True)


@pytest.fixture
def client_for():
    """``client_for(user)`` → an APIClient sending that user's Bearer JWT."""

    def make(user) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for_user(user=user)['access']}")
        return client

    return make


@pytest.fixture
def access_token():
    def make(user) -> str:
        return tokens_for_user(user=user)["access"]

    return make


@pytest.fixture
def user_token(user) -> str:
    """An access token for ``user``, made in sync code (async tests cannot touch the ORM directly)."""
    return tokens_for_user(user=user)["access"]


def pytest_collection_modifyitems(items):
    """Every async test disconnects the WebSocket communicators it opened (see below)."""
    for item in items:
        if inspect.iscoroutinefunction(getattr(item, "function", None)):
            item.fixturenames.append("_disconnect_websockets")


@pytest.fixture
async def _disconnect_websockets(monkeypatch):
    """Send ``websocket.disconnect`` to every communicator a test opened and left open.

    In production daphne sends it once a socket closes; a test that lets the server
    close a socket (4401, 1009, a refused handshake) never does, and the consumer,
    still blocked in the channel layer's receive, would then hang the event loop's
    teardown (seen with channels-redis).
    """
    from channels.testing import WebsocketCommunicator

    opened = []
    original = WebsocketCommunicator.__init__

    def tracking_init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(WebsocketCommunicator, "__init__", tracking_init)
    yield
    for comm in opened:
        if not comm.future.done():
            with contextlib.suppress(Exception):  # the test's own outcome is what counts here
                await asyncio.wait_for(comm.disconnect(), 10)
