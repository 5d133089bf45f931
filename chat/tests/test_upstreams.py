"""The upstream clients against the fake model server, over real sockets, on both
HTTP transports (the lean one and httpx's default)."""

from __future__ import annotations

import pytest

from chat.upstreams import http
from chat.upstreams.base import Final, UpstreamError, UpstreamTimeout
from chat.upstreams.ollama import OllamaUpstream
from chat.upstreams.openai_compat import OpenAICompatUpstream

MESSAGES = [{"role": "user", "content": "hi there"}]


@pytest.fixture(params=["lean", "httpcore"])
def transport(request, settings):
    settings.UPSTREAM_TRANSPORT = request.param
    settings.UPSTREAM_FIRST_BYTE_TIMEOUT = 0.5
    settings.UPSTREAM_IDLE_TIMEOUT = 0.5
    http.set_transport(None)  # new clients with these settings
    yield request.param
    http.set_transport(None)


@pytest.fixture(params=["ollama", "openai"])
def upstream(request, fake_upstream, transport):
    if request.param == "ollama":
        return OllamaUpstream(fake_upstream.url)
    return OpenAICompatUpstream(fake_upstream.url + "/v1", "sk-test")


async def collect(upstream, model, max_tokens=None):
    events = []
    async for event in upstream.stream(model=model, messages=MESSAGES, max_tokens=max_tokens, temperature=None):
        events.append(event)
    return events


async def test_a_complete_reply_ends_with_the_reported_usage(upstream):
    events = await collect(upstream, "fake")
    assert "".join(e for e in events if isinstance(e, str)) == "tok0 tok1 tok2 tok3 tok4 tok5 "
    assert events[-1] == Final(prompt_tokens=3, completion_tokens=6, finish_reason="stop")


async def test_max_tokens_reaches_the_upstream_and_the_finish_reason_says_length(upstream):
    events = await collect(upstream, "fake", max_tokens=2)
    assert events[-1].finish_reason == "length" and events[-1].completion_tokens == 2


@pytest.mark.parametrize(
    ("mode", "message", "delivered"),
    [
        ("http500", "answered 500", ""),
        ("drop&after=2", "connection to the model server broke", "tok0 tok1 "),
        ("error&after=2", "reported an error", "tok0 tok1 "),
        ("malformed&after=1", "malformed", "tok0 "),
        ("no_final", "ended before it was complete", "tok0 tok1 tok2 tok3 tok4 tok5 "),
    ],
)
async def test_misbehaviour_is_an_upstream_error_never_a_silent_success(upstream, mode, message, delivered):
    events = []
    with pytest.raises(UpstreamError, match=message):
        async for event in upstream.stream(
            model=f"fake?mode={mode}", messages=MESSAGES, max_tokens=None, temperature=None
        ):
            events.append(event)
    assert "".join(events) == delivered


async def test_a_server_that_never_answers_hits_the_first_byte_timeout(upstream):
    with pytest.raises(UpstreamTimeout):
        await collect(upstream, "fake?mode=timeout")


async def test_a_stream_that_goes_silent_hits_the_idle_timeout(upstream):
    with pytest.raises(UpstreamTimeout):
        await collect(upstream, "fake?mode=stall&after=2")


async def test_a_line_longer_than_the_cap_is_refused(upstream, settings):
    settings.UPSTREAM_MAX_LINE_BYTES = 64
    with pytest.raises(UpstreamError, match="too long"):
        await collect(upstream, "fake")


async def test_openrouter_comment_lines_and_a_missing_usage_chunk_are_tolerated(fake_upstream, transport):
    upstream = OpenAICompatUpstream(fake_upstream.url + "/v1", "sk-test")
    events = await collect(upstream, "fake?comments=1&mode=no_usage")
    assert events[-1] == Final(prompt_tokens=None, completion_tokens=None, finish_reason="stop")
    assert fake_upstream.requests[-1]["stream_options"] == {"include_usage": True}


async def test_connections_are_kept_alive_and_reused(fake_upstream, transport):
    upstream = OllamaUpstream(fake_upstream.url)
    for _ in range(3):
        await collect(upstream, "fake")
    assert fake_upstream.connections_total == 1


async def test_an_unreachable_upstream_is_a_clear_error(transport):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UpstreamError, match="could not be reached"):
        await collect(OllamaUpstream(f"http://127.0.0.1:{port}"), "fake")
