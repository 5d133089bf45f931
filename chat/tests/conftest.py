"""Chat fixtures: the fake model server (real sockets on 127.0.0.1), models routed
to it, and a live HTTP server (uvicorn in a thread) for real-client tests."""

from __future__ import annotations

import threading
import time

import pytest

from fakes.upstream import Behaviour, FakeUpstream


@pytest.fixture
def fake_upstream():
    server = FakeUpstream(Behaviour(tokens=6))
    server.start_in_thread()
    yield server
    server.stop_in_thread()


@pytest.fixture
def chat_settings(settings, fake_upstream):
    """Models: ``demo``; ``llama``/``gpt`` on the fake; ``*-<mode>`` variants that misbehave."""
    modes = {"drop": "mode=drop&after=2", "error": "mode=error&after=2", "early": "mode=error&after=0"}
    models = ["demo=demo:voidsite-demo", "llama=ollama:fake", "gpt=openai:fake?comments=1"]
    models += ["llama-500=ollama:fake?mode=http500", "gpt-500=openai:fake?mode=http500"]
    models += ["llama-slow=ollama:fake?tokens=200&delay_ms=20", "gpt-slow=openai:fake?tokens=200&delay_ms=20"]
    for name, query in modes.items():
        models += [f"llama-{name}=ollama:fake?{query}", f"gpt-{name}=openai:fake?{query}"]
    settings.CHAT_MODELS = ",".join(models)
    settings.DEFAULT_MODEL = "demo"
    settings.VOID_MODEL = "demo"
    settings.OLLAMA_BASE_URL = fake_upstream.url
    settings.OPENAI_COMPAT_BASE_URL = fake_upstream.url + "/v1"
    settings.OPENROUTER_API_KEY = "sk-test"
    settings.FREE_LIMIT = 5
    settings.RL_MAX_REQUESTS_IP = 1000
    settings.CHAT_MAX_CONCURRENT_STREAMS = 4
    settings.UPSTREAM_FIRST_BYTE_TIMEOUT = 3.0
    settings.UPSTREAM_IDLE_TIMEOUT = 3.0
    return settings


@pytest.fixture
def live_server_url(transactional_db):
    """voidsite's ASGI app served over real sockets by uvicorn in a background thread."""
    import uvicorn

    from voidsite.asgi import application

    config = uvicorn.Config(application, host="127.0.0.1", port=0, log_level="warning", lifespan="off", backlog=2048)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("live server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.05):
    """Poll ``predicate``. A database error counts as "not yet": the SQLite test
    database is in-memory with a shared cache, where a read racing the server
    thread's write fails at once with "table is locked" instead of waiting."""
    from django.db import OperationalError

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except OperationalError:
            pass
        time.sleep(interval)
    return predicate()


VOID_HEADERS = {"x-void-client-id": "client-0123456789", "x-void-browser-fp": "fingerprint-0123456789"}
