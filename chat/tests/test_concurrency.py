"""Real concurrency over real sockets: 200 simultaneous requests against one
allowance (PostgreSQL), and a client hanging up mid-stream."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from billing.models import AnonymousDevice, LedgerEntry, Outcome, TokenBalance
from billing.services import pro_token_issue, token_balance_for
from chat.tests.conftest import VOID_HEADERS, wait_until
from chat.upstreams.demo import reply_words

pytestmark = pytest.mark.django_db(transaction=True)
N = 200


def burst(url: str, path: str, *, json: dict, headers: dict) -> list[tuple[int, bytes]]:
    return burst_of(N, url, path, json=json, headers=headers)


def burst_of(n: int, url: str, path: str, *, json: dict, headers: dict) -> list[tuple[int, bytes]]:
    async def run():
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

            async def one():
                async with client.stream("POST", path, json=json, headers=headers) as response:
                    return response.status_code, await response.aread()

            return await asyncio.gather(*(one() for _ in range(n)))

    return asyncio.run(run())


@pytest.fixture
def unlimited(chat_settings):
    chat_settings.FREE_LIMIT = 50
    chat_settings.CHAT_MAX_CONCURRENT_STREAMS = 0
    chat_settings.RL_MAX_REQUESTS_IP = 10_000
    return chat_settings


def outcomes() -> Counter:
    return Counter(LedgerEntry.objects.values_list("outcome", flat=True))


def test_200_concurrent_requests_from_one_device_stream_exactly_the_free_limit(
    require_postgres, unlimited, live_server_url
):
    results = burst(live_server_url, "/chat/stream", json={"message": "hi"}, headers=VOID_HEADERS)
    assert Counter(status for status, _ in results) == {200: 50, 402: 150}
    full = "".join(reply_words([{"role": "user", "content": "hi"}])).encode()
    assert all(body == full for status, body in results if status == 200)
    assert outcomes() == {Outcome.COMPLETED: 50, Outcome.REFUSED: 150}
    device = AnonymousDevice.objects.get()
    assert device.window_used == 50


def test_200_concurrent_requests_on_a_pro_token_with_20_credits_stream_exactly_20(
    require_postgres, unlimited, live_server_url
):
    raw, token = pro_token_issue(credits=20)
    results = burst(
        live_server_url, "/chat/stream", json={"message": "hi"}, headers={**VOID_HEADERS, "x-void-pro-token": raw}
    )
    assert Counter(status for status, _ in results) == {200: 20, 402: 180}
    token.refresh_from_db()
    assert token.credits_left == 0
    assert LedgerEntry.objects.filter(kind="usage", outcome=Outcome.COMPLETED, pro_token=token).count() == 20


def test_200_concurrent_requests_on_a_balance_for_50_stream_exactly_50(
    require_postgres, unlimited, live_server_url, user, user_token
):
    # "hello there" is 3 prompt tokens by the estimate; max_tokens 8 → 11 reserved, and the
    # demo model uses exactly that, so no reservation returns change mid-burst.
    token_balance_for(user=user)
    TokenBalance.objects.filter(user=user).update(total_tokens=50 * 11)
    body = {"access_token": user_token, "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 8}
    results = burst(live_server_url, "/api/chat/stream", json=body, headers={})
    assert Counter(status for status, _ in results) == {200: 50, 403: 150}
    assert all(
        b"token_update" in body and body.endswith(b"data: [DONE]\n\n") for status, body in results if status == 200
    )
    balance = TokenBalance.objects.get(user=user)
    assert (balance.tokens_used, balance.tokens_reserved) == (550, 0)
    assert outcomes() == {Outcome.COMPLETED: 50, Outcome.REFUSED: 150}


def test_a_client_hanging_up_mid_stream_stops_the_upstream_and_settles(
    chat_settings, fake_upstream, live_server_url, user_token
):
    async def run():
        async with httpx.AsyncClient(base_url=live_server_url, timeout=10) as client:
            body = {"access_token": user_token, "messages": [{"role": "user", "content": "x"}], "model": "llama-slow"}
            async with client.stream("POST", "/api/chat/stream", json=body) as response:
                assert response.status_code == 200
                seen = 0
                async for _ in response.aiter_raw():
                    seen += 1
                    if seen == 3:
                        break

    asyncio.run(run())
    assert wait_until(lambda: fake_upstream.connections_open == 0)  # the upstream was stopped
    assert wait_until(lambda: LedgerEntry.objects.exclude(outcome=Outcome.RESERVED).exists(), interval=0.2)
    entry = LedgerEntry.objects.get()
    assert entry.outcome == Outcome.CLIENT_DISCONNECTED and 0 < entry.completion_tokens < 200
    balance = TokenBalance.objects.get(user_id=entry.user_id)
    assert balance.tokens_reserved == 0 and balance.tokens_used == -entry.tokens


def test_30_concurrent_streams_on_one_pro_token_with_a_cap_of_3_stream_exactly_3(
    require_postgres, chat_settings, live_server_url
):
    chat_settings.VOID_MODEL = "llama-slow"  # 200 tokens 20 ms apart: the first streams outlast the burst
    chat_settings.CHAT_MAX_CONCURRENT_STREAMS = 3
    chat_settings.RL_MAX_REQUESTS_IP = 10_000
    raw, token = pro_token_issue(credits=100)
    results = burst_of(
        30, live_server_url, "/chat/stream", json={"message": "hi"}, headers={**VOID_HEADERS, "x-void-pro-token": raw}
    )
    assert Counter(status for status, _ in results) == {200: 3, 429: 27}
    token.refresh_from_db()
    assert token.credits_left == 97  # a refused request took nothing
    usage = Counter(LedgerEntry.objects.filter(kind="usage").values_list("outcome", flat=True))
    assert usage == {Outcome.COMPLETED: 3, Outcome.REFUSED: 27}
