"""Discord OAuth2 client (HazeBot sign-in): authorize URL, code exchange, the
user, and their member record in the configured guild.

One shared ``httpx.Client`` per process with explicit timeouts; base URLs and
the transport come from settings, so tests run the same code against
:mod:`fakes.discord`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
from django.conf import settings

from accounts import social_http

log = logging.getLogger("voidsite.accounts.discord")

PROVIDER = "discord"
SCOPES = ("identify", "guilds.members.read")


class DiscordError(Exception):
    """Base of the Discord client errors."""


class DiscordAuthError(DiscordError):
    """Discord refused the code or the token (→ sign-in refused)."""


class DiscordUnavailable(DiscordError):
    """Discord could not be reached or failed on its side (→ 502)."""


class DiscordNotConfigured(DiscordError):
    """The Discord settings are incomplete (→ 503)."""


@dataclass(frozen=True)
class DiscordToken:
    access_token: str
    token_type: str
    expires_in: int
    scope: str


def is_configured() -> bool:
    return all(
        (
            settings.DISCORD_CLIENT_ID,
            settings.DISCORD_CLIENT_SECRET,
            settings.DISCORD_REDIRECT_URI,
            settings.DISCORD_GUILD_ID,
        )
    )


def require_configured() -> None:
    if not is_configured():
        raise DiscordNotConfigured("Discord sign-in is not configured on this server.")


def _api(path: str) -> str:
    return settings.DISCORD_API_URL.rstrip("/") + path


def authorize_url(*, state: str) -> str:
    """Where the browser goes to authorize us (scopes ``identify guilds.members.read``)."""
    require_configured()
    query = urlencode(
        {
            "client_id": settings.DISCORD_CLIENT_ID,
            "redirect_uri": settings.DISCORD_REDIRECT_URI,
            "response_type": "code",
            "scope": " ".join(SCOPES),
            "state": state,
            "prompt": "none",
        }
    )
    return f"{settings.DISCORD_AUTHORIZE_URL}?{query}"


def _send(method: str, url: str, **kwargs) -> httpx.Response:
    try:
        response = social_http.client(user_agent="voidsite/1.0").request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        log.warning("Discord unreachable: %s", type(exc).__name__)
        raise DiscordUnavailable("Discord could not be reached. Try again later.") from exc
    if response.status_code >= 500 or response.status_code == 429:
        log.warning("Discord answered %s for %s", response.status_code, url.rsplit("/", 1)[-1])
        raise DiscordUnavailable("Discord is not answering right now. Try again later.")
    return response


def token_exchange(*, code: str) -> DiscordToken:
    """Trade an authorization code for an access token."""
    require_configured()
    response = _send(
        "POST",
        _api("/oauth2/token"),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": settings.DISCORD_REDIRECT_URI,
        },
        auth=(settings.DISCORD_CLIENT_ID, settings.DISCORD_CLIENT_SECRET),
    )
    if response.status_code != 200:
        raise DiscordAuthError("Discord refused the authorization code.")
    data = social_http.json_object(response, DiscordUnavailable, "Discord")
    if not data.get("access_token"):
        raise DiscordAuthError("Discord returned no access token.")
    return DiscordToken(
        access_token=str(data["access_token"]),
        token_type=str(data.get("token_type", "Bearer")),
        expires_in=int(data.get("expires_in") or 0),
        scope=str(data.get("scope", "")),
    )


def current_user(*, access_token: str) -> dict:
    """``GET /users/@me`` → ``{"id", "username", "global_name", "avatar", ...}``."""
    response = _send("GET", _api("/users/@me"), headers={"Authorization": f"Bearer {access_token}"})
    if response.status_code != 200:
        raise DiscordAuthError("Discord refused the access token.")
    data = social_http.json_object(response, DiscordUnavailable, "Discord")
    if not data.get("id"):
        raise DiscordAuthError("Discord returned no user id.")
    return data


def guild_member(*, access_token: str, guild_id: str | None = None) -> dict | None:
    """The token owner's member record in the guild, or ``None`` when they are not a member (404)."""
    guild = guild_id or settings.DISCORD_GUILD_ID
    response = _send(
        "GET", _api(f"/users/@me/guilds/{guild}/member"), headers={"Authorization": f"Bearer {access_token}"}
    )
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise DiscordAuthError("Discord refused to show the guild membership.")
    return social_http.json_object(response, DiscordUnavailable, "Discord")
