"""VOID's POST /chat/stream: the seed's headers, statuses and free/pro metering."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.test import AsyncClient
from django.utils import timezone

from billing.models import AnonymousDevice, LedgerEntry, Outcome
from billing.services import pro_token_issue
from chat.tests.conftest import VOID_HEADERS
from chat.upstreams.demo import reply_words

pytestmark = pytest.mark.django_db(transaction=True)


async def void(client: AsyncClient, headers=None, body=None, **extra):
    response = await client.post(
        "/chat/stream",
        data=body if body is not None else {"message": "hello"},
        content_type="application/json",
        headers={**VOID_HEADERS, **(headers or {})},
        **extra,
    )
    text = b"".join([part async for part in response.streaming_content]) if response.streaming else response.content
    return response, text


def rows(**filters):
    return list(LedgerEntry.objects.filter(**filters).order_by("pk"))


async def test_a_device_streams_the_demo_reply_as_text_with_the_seed_headers(chat_settings):
    response, text = await void(AsyncClient())
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert text.decode() == "".join(reply_words([{"role": "user", "content": "hello"}]))
    assert response["X-Free-Left"] == "4"
    assert response["X-RateLimit-Limit"] == "1000" and response["X-RateLimit-Remaining"] == "999"
    [entry] = await sync_to_async(rows)()
    assert entry.outcome == Outcome.COMPLETED and entry.principal_kind == "device" and entry.credits == -1
    assert entry.completion_tokens == 48 and entry.ttfb_ms is not None and entry.duration_ms is not None


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({"x-void-client-id": "short"}, "Invalid Client ID."),
        ({"x-void-client-id": ""}, "Invalid Client ID."),
        ({"x-void-browser-fp": "short"}, "Missing Browser Fingerprint."),
    ],
)
async def test_a_missing_or_short_id_or_fingerprint_is_a_400(chat_settings, headers, detail):
    response, _ = await void(AsyncClient(), headers=headers)
    assert response.status_code == 400 and response.json() == {"detail": detail}


async def test_messages_are_checked_before_anything_is_charged(chat_settings):
    client = AsyncClient()
    bad = [
        {"messages": [{"role": "tool", "content": "x"}]},
        {"messages": [{"role": "user", "content": 5}]},
        {"messages": [{"role": "user", "content": "x" * 40_000}]},
        {"messages": [{"role": "user", "content": "x"}] * 101},
    ]
    for body in bad:
        response, _ = await void(client, body=body)
        assert response.status_code == 400, body
        assert response.json()["detail"]
    assert await sync_to_async(LedgerEntry.objects.count)() == 0


async def test_exactly_free_limit_requests_fit_in_a_window_then_402(chat_settings):
    client = AsyncClient()
    lefts = []
    for _ in range(5):
        response, _ = await void(client)
        assert response.status_code == 200
        lefts.append(response["X-Free-Left"])
    assert lefts == ["4", "3", "2", "1", "0"]
    response, _ = await void(client)
    assert response.status_code == 402
    assert response.json() == {"detail": "Free limit reached. Wait 24h or buy Pro."}
    assert response["X-Free-Left"] == "0" and "X-RateLimit-Remaining" in response
    assert [e.outcome for e in await sync_to_async(rows)()][-1] == Outcome.REFUSED


async def test_the_quota_is_durable_a_cache_flush_gives_nothing_back(chat_settings):
    client = AsyncClient()
    for _ in range(5):
        await void(client)
    await sync_to_async(cache.clear)()
    response, _ = await void(client)
    assert response.status_code == 402


async def test_a_new_client_id_with_a_known_fingerprint_shares_the_old_allowance(chat_settings):
    client = AsyncClient()
    for _ in range(5):
        await void(client)
    response, _ = await void(client, headers={"x-void-client-id": "another-client-id-1"})
    assert response.status_code == 402
    # ... and the new id stays bound to the spent device on its next request too.
    response, _ = await void(client, headers={"x-void-client-id": "another-client-id-1"})
    assert response.status_code == 402
    assert await sync_to_async(AnonymousDevice.objects.count)() == 1


async def test_an_unknown_client_and_fingerprint_on_a_known_ip_share_its_device(chat_settings):
    client = AsyncClient()
    await void(client)
    response, _ = await void(
        client, headers={"x-void-client-id": "brand-new-client-9", "x-void-browser-fp": "new-fp-0000000"}
    )
    assert response["X-Free-Left"] == "3"
    chat_settings.TRUSTED_PROXIES = ["127.0.0.1"]  # the test client's peer is a proxy saying who the client is
    other = {
        "x-void-client-id": "third-client-9999",
        "x-void-browser-fp": "third-fp-99999",
        "x-forwarded-for": "10.9.9.9",
    }
    response, _ = await void(client, headers=other)
    assert response["X-Free-Left"] == "4"
    assert await sync_to_async(AnonymousDevice.objects.count)() == 2


async def test_a_window_older_than_the_ttl_starts_afresh(chat_settings):
    client = AsyncClient()
    for _ in range(5):
        await void(client)
    await sync_to_async(AnonymousDevice.objects.update)(window_started_at=timezone.now() - timedelta(days=2))
    response, _ = await void(client)
    assert response.status_code == 200 and response["X-Free-Left"] == "4"


async def test_a_pro_token_spends_one_credit_per_request_and_then_402(chat_settings):
    raw, token = await sync_to_async(pro_token_issue)(credits=2)
    client = AsyncClient()
    response, text = await void(client, headers={"x-void-pro-token": raw})
    assert response.status_code == 200 and response["X-Pro-Left"] == "1" and text
    response, _ = await void(client, headers={"x-void-pro-token": raw})
    assert response["X-Pro-Left"] == "0"
    response, _ = await void(client, headers={"x-void-pro-token": raw})
    assert response.status_code == 402 and response.json() == {"detail": "Pro credits exhausted"}
    assert response["X-Pro-Left"] == "0"
    await sync_to_async(token.refresh_from_db)()
    assert token.credits_left == 0
    assert await sync_to_async(AnonymousDevice.objects.count)() == 0  # pro requests spend no free quota


async def test_an_unknown_pro_token_is_a_401(chat_settings):
    response, _ = await void(AsyncClient(), headers={"x-void-pro-token": "void_nope"})
    assert response.status_code == 401 and response.json() == {"detail": "Invalid Pro Token"}


async def test_the_ip_rate_limit_answers_429_with_retry_after(chat_settings):
    chat_settings.RL_MAX_REQUESTS_IP = 2
    client = AsyncClient()
    for _ in range(2):
        response, _ = await void(client)
        assert response.status_code == 200
    response, _ = await void(client)
    assert response.status_code == 429
    assert response.json() == {"detail": "Too many requests from this IP."}
    assert int(response["Retry-After"]) >= 1 and response["X-RateLimit-Remaining"] == "0"


async def test_forwarded_headers_from_an_untrusted_peer_do_not_dodge_the_rate_limit(chat_settings):
    chat_settings.RL_MAX_REQUESTS_IP = 1
    client = AsyncClient()
    await void(client, headers={"x-forwarded-for": "1.1.1.1"})
    response, _ = await void(client, headers={"x-forwarded-for": "2.2.2.2", "cf-connecting-ip": "3.3.3.3"})
    assert response.status_code == 429


async def test_an_upstream_failure_before_the_first_token_is_a_502_and_refunds_the_request(chat_settings):
    chat_settings.VOID_MODEL = "llama-500"
    response, _ = await void(AsyncClient())
    assert response.status_code == 502
    assert "500" in response.json()["detail"]
    [entry] = await sync_to_async(rows)()
    assert entry.outcome == Outcome.UPSTREAM_ERROR and entry.credits == 0
    device = await sync_to_async(AnonymousDevice.objects.get)()
    assert device.window_used == 0


async def test_an_error_line_before_any_token_refunds_a_pro_credit(chat_settings):
    chat_settings.VOID_MODEL = "llama-early"
    raw, token = await sync_to_async(pro_token_issue)(credits=1)
    response, _ = await void(AsyncClient(), headers={"x-void-pro-token": raw})
    assert response.status_code == 502 and "reported an error" in response.json()["detail"]
    await sync_to_async(token.refresh_from_db)()
    assert token.credits_left == 1


async def test_a_stream_cut_mid_way_is_not_reported_complete_and_is_charged(chat_settings):
    chat_settings.VOID_MODEL = "llama-drop"
    client = AsyncClient()
    response = await client.post(
        "/chat/stream", data={"message": "hi"}, content_type="application/json", headers=VOID_HEADERS
    )
    assert response.status_code == 200
    received = []
    with pytest.raises(Exception, match="connection to the model server broke"):
        async for part in response.streaming_content:
            received.append(part)
    assert b"".join(received) == b"tok0 tok1 "
    [entry] = await sync_to_async(rows)()
    assert entry.outcome == Outcome.UPSTREAM_ERROR and entry.credits == -1 and entry.completion_tokens > 0


async def test_the_concurrent_stream_cap_answers_429(chat_settings):
    chat_settings.CHAT_MAX_CONCURRENT_STREAMS = 1
    chat_settings.VOID_MODEL = "llama-slow"
    client = AsyncClient()
    first = await client.post(
        "/chat/stream", data={"message": "a"}, content_type="application/json", headers=VOID_HEADERS
    )
    assert first.status_code == 200
    second, _ = await void(client)
    assert second.status_code == 429 and second["Retry-After"]
    await first.streaming_content.aclose()
