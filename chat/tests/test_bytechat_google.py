"""ByteChat's clients send a Google access token as ``access_token``: it is verified with
Google (the fake, at the HTTP boundary) and charges that Google user's balance."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from accounts.models import User
from billing.models import LedgerEntry, Outcome
from fakes.google import FakeGoogle, GoogleUser

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT_ID = "ours.apps.googleusercontent.com"


@pytest.fixture
def google(chat_settings):
    fake = FakeGoogle()
    chat_settings.GOOGLE_CLIENT_ID = CLIENT_ID
    chat_settings.GOOGLE_EXTRA_CLIENT_IDS = []
    chat_settings.SOCIALACCOUNT_PROVIDERS = {
        "google": {"APP": {"client_id": CLIENT_ID, "secret": "g-secret"}, "SCOPE": ["profile", "email"]}
    }
    chat_settings.SOCIAL_HTTP_TRANSPORT = fake.transport
    return fake


async def chat(access_token: str):
    response = await AsyncClient().post(
        "/api/chat/stream",
        data={"access_token": access_token, "messages": [{"role": "user", "content": "Hello!"}], "model": "gpt"},
        content_type="application/json",
    )
    body = b"".join([part async for part in response.streaming_content]) if response.streaming else response.content
    return response, body.decode()


async def test_a_google_access_token_streams_and_charges_that_google_users_balance(google):
    token = google.access_token(GoogleUser(sub="g-123", email="jane@example.com"), client_id=CLIENT_ID)
    response, body = await chat(token)
    assert response.status_code == 200, body
    assert body.rstrip().endswith("data: [DONE]") and "token_update" in body
    entry = await sync_to_async(LedgerEntry.objects.select_related("user").get)()
    assert entry.outcome == Outcome.COMPLETED and entry.user.email == "jane@example.com"
    # a second chat within the cache TTL costs no second Google round trip
    calls = len(google.calls)
    assert (await chat(token))[0].status_code == 200
    assert len(google.calls) == calls
    assert await sync_to_async(User.objects.filter(email="jane@example.com").count)() == 1


async def test_another_apps_google_token_is_a_401_and_charges_nothing(google):
    token = google.access_token(GoogleUser(sub="g-9", email="x@example.com"), client_id="someone-else.apps")
    response, _ = await chat(token)
    assert response.status_code == 401
    assert await sync_to_async(LedgerEntry.objects.count)() == 0


async def test_google_unreachable_is_a_502(google):
    google.unreachable = True
    response, body = await chat("ya29.whatever-token")
    assert response.status_code == 502 and "Google" in body


async def test_without_google_configured_a_non_jwt_token_is_a_401(chat_settings):
    chat_settings.GOOGLE_CLIENT_ID = ""
    response, _ = await chat("ya29.whatever-token")
    assert response.status_code == 401
