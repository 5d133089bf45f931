"""ByteChat's POST /api/chat/stream: OpenAI SSE chunks, usage, token_update, [DONE]; 401/403."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from billing.models import LedgerEntry, Outcome, TokenBalance
from billing.services import token_balance_for

pytestmark = pytest.mark.django_db(transaction=True)


async def post(body, headers=None):
    response = await AsyncClient().post(
        "/api/chat/stream", data=body, content_type="application/json", headers=headers or {}
    )
    if not response.streaming:
        return response, []
    raw = b"".join([part async for part in response.streaming_content]).decode()
    events = [block[len("data: ") :] for block in raw.split("\n\n") if block]
    return response, events


def balance(user) -> TokenBalance:
    return TokenBalance.objects.get(user=user)


async def test_a_chat_streams_openai_chunks_then_usage_then_token_update_then_done(chat_settings, user, user_token):
    response, events = await post(
        {
            "access_token": user_token,
            "messages": [{"role": "user", "content": "Hello!"}],
            "model": "gpt",
            "temperature": 0.7,
        }
    )
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    assert events[-1] == "[DONE]"
    update = json.loads(events[-2])
    chunks = [json.loads(e) for e in events[:-2]]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "gpt" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "tok0 tok1 tok2 tok3 tok4 tok5 "
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["usage"] == {"prompt_tokens": 2, "completion_tokens": 6, "total_tokens": 8}
    assert update == {"type": "token_update", "tokens_left": 1_000_000 - 8, "tokens_used": 8}
    b = await sync_to_async(balance)(user)
    assert (b.tokens_used, b.tokens_reserved, b.tokens_left) == (8, 0, 1_000_000 - 8)
    entry = await sync_to_async(LedgerEntry.objects.get)()
    assert entry.outcome == Outcome.COMPLETED and entry.tokens == -8 and entry.principal_kind == "user"


async def test_the_fake_upstream_received_the_openai_request_with_include_usage(
    chat_settings, fake_upstream, user_token
):
    await post(
        {"access_token": user_token, "messages": [{"role": "user", "content": "x"}], "model": "gpt", "max_tokens": 50}
    )
    sent = fake_upstream.requests[-1]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True} and sent["max_tokens"] == 50


async def test_a_bearer_jwt_is_accepted_beside_access_token(chat_settings, user, user_token):
    response, events = await post(
        {"messages": [{"role": "user", "content": "hi"}]}, headers={"Authorization": f"Bearer {user_token}"}
    )
    assert response.status_code == 200 and events[-1] == "[DONE]"


@pytest.mark.parametrize("token", ["ya29.not-a-google-token-we-can-check", "a.b.c", ""])
async def test_an_invalid_access_token_is_a_401(chat_settings, token):
    response, _ = await post({"access_token": token, "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 401 and response.json() == {"detail": "Invalid access token"}


async def test_a_user_with_no_tokens_left_gets_403(chat_settings, user, user_token):
    await sync_to_async(token_balance_for)(user=user)
    await sync_to_async(TokenBalance.objects.filter(user=user).update)(tokens_used=1_000_000)
    response, _ = await post({"access_token": user_token, "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 403
    assert response.json() == {"detail": "Insufficient tokens. Please contact support to add more tokens."}
    assert (await sync_to_async(LedgerEntry.objects.get)()).outcome == Outcome.REFUSED


async def test_a_nearly_empty_balance_caps_the_reply_and_never_goes_negative(
    chat_settings, fake_upstream, user, user_token
):
    await sync_to_async(token_balance_for)(user=user)
    await sync_to_async(TokenBalance.objects.filter(user=user).update)(total_tokens=5)
    response, events = await post(
        {"access_token": user_token, "messages": [{"role": "user", "content": "hi"}], "model": "llama"}
    )
    assert response.status_code == 200
    assert fake_upstream.requests[-1]["options"]["num_predict"] == 4  # 5 left - 1 prompt token estimated
    b = await sync_to_async(balance)(user)
    assert b.tokens_left >= 0 and b.tokens_reserved == 0 and b.tokens_used <= 5


async def test_an_unknown_model_is_a_400_listing_the_available_ones(chat_settings, user_token):
    response, _ = await post(
        {"access_token": user_token, "messages": [{"role": "user", "content": "hi"}], "model": "gpt-9"}
    )
    assert response.status_code == 400
    assert "Unknown model 'gpt-9'" in response.json()["detail"] and "demo" in response.json()["detail"]


async def test_a_model_not_allowed_for_users_is_a_403(chat_settings, user_token):
    chat_settings.CHAT_MODELS_USER = ["demo"]
    response, _ = await post(
        {"access_token": user_token, "messages": [{"role": "user", "content": "hi"}], "model": "gpt"}
    )
    assert response.status_code == 403 and "not available" in response.json()["detail"]


async def test_an_upstream_error_mid_stream_is_an_error_event_then_token_update_and_done(
    chat_settings, user, user_token
):
    response, events = await post(
        {"access_token": user_token, "messages": [{"role": "user", "content": "hi"}], "model": "gpt-error"}
    )
    assert response.status_code == 200
    error = json.loads(events[-3])
    assert error["error"]["type"] == "upstream_error" and "Provider returned error" in error["error"]["message"]
    update = json.loads(events[-2])
    assert update["type"] == "token_update" and update["tokens_used"] > 0
    assert events[-1] == "[DONE]"
    entry = await sync_to_async(LedgerEntry.objects.get)()
    assert entry.outcome == Outcome.UPSTREAM_ERROR and entry.tokens == -update["tokens_used"]
    b = await sync_to_async(balance)(user)
    assert b.tokens_reserved == 0


async def test_an_upstream_500_is_a_502_and_reserves_nothing(chat_settings, user, user_token):
    response, _ = await post(
        {"access_token": user_token, "messages": [{"role": "user", "content": "hi"}], "model": "gpt-500"}
    )
    assert response.status_code == 502 and "Internal error" in response.json()["detail"]
    b = await sync_to_async(balance)(user)
    assert (b.tokens_used, b.tokens_reserved) == (0, 0)
