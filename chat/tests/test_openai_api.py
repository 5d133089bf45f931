"""/v1/chat/completions and /v1/models with the official ``openai`` package over real sockets."""

from __future__ import annotations

import httpx
import openai
import pytest

from billing.metering import api_key_create
from billing.models import LedgerEntry, Outcome, TokenBalance
from billing.services import pro_token_issue
from chat.upstreams.demo import reply_words

pytestmark = pytest.mark.django_db(transaction=True)
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]


def sdk(live_server_url, key) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live_server_url}/v1", api_key=key, max_retries=0, timeout=10)


def test_the_openai_sdk_streams_a_reply_with_usage(chat_settings, live_server_url, user, user_token):
    stream = sdk(live_server_url, user_token).chat.completions.create(
        model="demo", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "".join(reply_words(MESSAGES))
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = chunks[-1].usage
    assert usage.completion_tokens == 48 and usage.total_tokens == usage.prompt_tokens + 48
    assert TokenBalance.objects.get(user=user).tokens_used == usage.total_tokens
    assert LedgerEntry.objects.get().outcome == Outcome.COMPLETED


def test_the_openai_sdk_gets_a_whole_completion_with_an_api_key(chat_settings, live_server_url, user):
    raw, key = api_key_create(user=user, name="ci")
    completion = sdk(live_server_url, raw).chat.completions.create(model="gpt", messages=MESSAGES, max_tokens=4)
    assert completion.choices[0].message.content == "tok0 tok1 tok2 tok3 "
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 4
    entry = LedgerEntry.objects.get()
    assert entry.principal_kind == "api_key" and entry.api_key_id == key.pk and entry.user_id == user.pk


def test_a_pro_token_is_a_bearer_for_v1_and_spends_a_credit(chat_settings, live_server_url):
    raw, token = pro_token_issue(credits=1)
    client = sdk(live_server_url, raw)
    client.chat.completions.create(model="llama", messages=MESSAGES)
    with pytest.raises(openai.APIStatusError) as exc:
        client.chat.completions.create(model="llama", messages=MESSAGES)
    assert exc.value.status_code == 402
    token.refresh_from_db()
    assert token.credits_left == 0


def test_errors_come_in_openai_shape_to_the_sdk(chat_settings, live_server_url, user_token):
    with pytest.raises(openai.AuthenticationError):
        sdk(live_server_url, "vsk_unknown").chat.completions.create(model="demo", messages=MESSAGES)
    with pytest.raises(openai.BadRequestError) as exc:
        sdk(live_server_url, user_token).chat.completions.create(model="nope", messages=MESSAGES)
    assert exc.value.body["code"] == "model_not_found" and "Available models" in exc.value.body["message"]
    with pytest.raises(openai.APIStatusError) as exc:
        sdk(live_server_url, user_token).chat.completions.create(model="gpt-500", messages=MESSAGES, stream=True)
    assert exc.value.status_code == 502


def test_a_mid_stream_upstream_error_reaches_the_sdk_as_an_error(chat_settings, live_server_url, user_token):
    stream = sdk(live_server_url, user_token).chat.completions.create(
        model="llama-error", messages=MESSAGES, stream=True
    )
    with pytest.raises(openai.APIError, match="reported an error"):
        list(stream)


def test_v1_models_lists_the_configured_models(chat_settings, live_server_url, user_token):
    ids = [m.id for m in sdk(live_server_url, user_token).models.list()]
    assert ids[:3] == ["demo", "llama", "gpt"]


def test_a_revoked_api_key_stops_working(chat_settings, live_server_url, user, client_for):
    created = client_for(user).post("/api/keys", {"name": "laptop"}, format="json")
    assert created.status_code == 201 and created.json()["key"].startswith("vsk_")
    raw = created.json()["key"]
    assert "key" not in client_for(user).get("/api/keys").json()[0]
    sdk(live_server_url, raw).chat.completions.create(model="demo", messages=MESSAGES)
    assert client_for(user).delete(f"/api/keys/{created.json()['id']}").status_code == 204
    with pytest.raises(openai.AuthenticationError):
        sdk(live_server_url, raw).chat.completions.create(model="demo", messages=MESSAGES)


def test_another_user_cannot_revoke_my_key(chat_settings, user, make_user, client_for):
    _, key = api_key_create(user=user)
    assert client_for(make_user()).delete(f"/api/keys/{key.pk}").status_code == 404


def test_v1_without_a_bearer_is_a_401_in_openai_shape(chat_settings, live_server_url):
    response = httpx.post(f"{live_server_url}/v1/chat/completions", json={"model": "demo", "messages": MESSAGES})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error" and response.json()["detail"]
