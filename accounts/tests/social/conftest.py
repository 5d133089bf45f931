"""Fixtures for the Google and Discord sign-in tests: configured settings and the fakes."""

from __future__ import annotations

import pytest

from fakes.discord import FakeDiscord, router
from fakes.google import FakeGoogle

GOOGLE_CLIENT_ID = "ours.apps.googleusercontent.com"
DISCORD_CLIENT_ID = "1100000000000000001"
DISCORD_SECRET = "discord-test-secret"
GUILD_ID = "900000000000000001"
ADMIN_ROLE, MOD_ROLE, LOOTLING_ROLE = "500000000000000001", "500000000000000002", "500000000000000003"
REDIRECT_URI = "https://voidsite.example/api/discord/callback"
APP_URLS = {"web": "https://app.example/auth/discord", "android": "hazebot://auth", "ios": ""}


@pytest.fixture
def google_fake():
    return FakeGoogle()


@pytest.fixture
def discord_fake():
    return FakeDiscord(client_id=DISCORD_CLIENT_ID, client_secret=DISCORD_SECRET, guild_id=GUILD_ID)


@pytest.fixture
def social_settings(settings, google_fake, discord_fake):
    settings.GOOGLE_CLIENT_ID = GOOGLE_CLIENT_ID
    settings.GOOGLE_EXTRA_CLIENT_IDS = []
    settings.DISCORD_CLIENT_ID = DISCORD_CLIENT_ID
    settings.DISCORD_CLIENT_SECRET = DISCORD_SECRET
    settings.DISCORD_REDIRECT_URI = REDIRECT_URI
    settings.DISCORD_GUILD_ID = GUILD_ID
    settings.ADMIN_ROLE_ID = ADMIN_ROLE
    settings.MODERATOR_ROLE_ID = MOD_ROLE
    settings.LOOTLING_ROLE_ID = LOOTLING_ROLE
    settings.DISCORD_APP_URLS = dict(APP_URLS)
    settings.SOCIALACCOUNT_PROVIDERS = {
        "google": {"APP": {"client_id": GOOGLE_CLIENT_ID, "secret": "g-secret"}, "SCOPE": ["profile", "email"]},
        "discord": {
            "APP": {"client_id": DISCORD_CLIENT_ID, "secret": DISCORD_SECRET},
            "SCOPE": ["identify", "guilds.members.read"],
        },
    }
    settings.SOCIAL_HTTP_TRANSPORT = router(google_fake, discord_fake)
    return settings
