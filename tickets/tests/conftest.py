"""Fixtures for the tickets tests: tickets, a bot account, the fake FCM with push switched on."""

from __future__ import annotations

import json

import pytest

from accounts import push
from accounts.models import Role
from fakes.fcm import FakeFCM
from tickets import services


@pytest.fixture
def bot(make_user):
    return make_user(Role.BOT, username="bot")


@pytest.fixture
def open_ticket():
    """``open_ticket(owner, subject=..., message=...)`` → a new open ticket."""

    def make(owner, subject="Help", message="It broke", category="general"):
        return services.ticket_open(owner=owner, subject=subject, content=message, category=category)

    return make


@pytest.fixture
def fake_fcm(settings):
    """A running fake FCM with push configured to use it; background pushes are awaited at teardown."""
    with FakeFCM() as fake:
        settings.FIREBASE_CREDENTIALS = json.dumps(fake.service_account_info())
        settings.FIREBASE_PROJECT_ID = ""
        settings.FCM_URL = fake.base_url
        push.firebase_app_reset()
        yield fake
        push.push_wait(10)
        push.firebase_app_reset()
