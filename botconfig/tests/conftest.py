import pytest

from accounts.models import Role
from accounts.services import bot_token_issue
from botconfig import lemmy, reddit, trn
from fakes.lemmy import FakeLemmy
from fakes.reddit import FakeReddit
from fakes.trn import FakeTrn


@pytest.fixture
def fake_trn(settings, monkeypatch):
    settings.ROCKET_LEAGUE_API_KEY = "test-trn-key"
    settings.ROCKET_LEAGUE_API_URL = "https://trn.test"
    fake = FakeTrn(api_key="test-trn-key")
    monkeypatch.setattr(trn, "_client", trn.make_client(transport=fake.transport()))
    return fake


@pytest.fixture
def fake_reddit(settings, monkeypatch):
    settings.REDDIT_BASE_URL = "https://reddit.test"
    fake = FakeReddit()
    monkeypatch.setattr(reddit, "_client", reddit.make_client(transport=fake.transport()))
    return fake


@pytest.fixture
def fake_lemmy(settings, monkeypatch):
    settings.LEMMY_BASE_URL = "https://lemmy.test"
    fake = FakeLemmy()
    monkeypatch.setattr(lemmy, "_client", lemmy.make_client(transport=fake.transport()))
    return fake


@pytest.fixture
def bot_token(db) -> str:
    return bot_token_issue(username="discord-bot", days=1)


@pytest.fixture
def bot_account(bot_token, django_user_model):
    return django_user_model.objects.get(username="discord-bot", role=Role.BOT)
