"""Tracker Network (Rocket League) client.

``GET {ROCKET_LEAGUE_API_URL}/api/v2/rocket-league/standard/profile/{platform}/{username}``
with header ``TRN-Api-Key``. Ranked playlists are the ``data.segments`` of type
``playlist``; their ``metadata.name`` says which one.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
from django.conf import settings

PLATFORMS = ("steam", "epic", "psn", "xbl")

# Tracker Network playlist name → the seed's key.
PLAYLISTS = {
    "Ranked Duel 1v1": "1v1",
    "Ranked Doubles 2v2": "2v2",
    "Ranked Standard 3v3": "3v3",
}
_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5}


class TrnError(Exception):
    """The stats API could not answer (down, timeout, refused, malformed)."""


class TrnNotFound(TrnError):
    """The player does not exist on that platform (upstream 404)."""


@dataclass
class Profile:
    platform: str
    username: str
    ranks: dict[str, dict] = field(default_factory=dict)


_client: httpx.Client | None = None
_lock = threading.Lock()


def shared_client() -> httpx.Client:
    """One pooled client per process."""
    global _client
    with _lock:
        if _client is None:
            _client = make_client()
        return _client


def make_client(*, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=settings.ROCKET_LEAGUE_API_URL,
        timeout=httpx.Timeout(settings.ROCKET_LEAGUE_TIMEOUT, connect=5.0),
        transport=transport,
        headers={"Accept": "application/json", "User-Agent": settings.MEMES_USER_AGENT},
    )


def division_number(name: str | None) -> int | None:
    """``"Division III"`` → 3."""
    if not name:
        return None
    match = re.search(r"\b([IV]+|\d+)\s*$", name.strip())
    if not match:
        return None
    token = match.group(1)
    return int(token) if token.isdigit() else _ROMAN.get(token)


def _name(obj) -> str | None:
    if isinstance(obj, dict):
        meta = obj.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("name"), str):
            return meta["name"]
    return None


def ranks_from_profile(payload: dict) -> dict[str, dict]:
    """The seed's ``ranks`` map from a profile response body."""
    ranks: dict[str, dict] = {}
    segments = (payload.get("data") or {}).get("segments") or []
    for segment in segments:
        if not isinstance(segment, dict) or segment.get("type") != "playlist":
            continue
        key = PLAYLISTS.get(_name(segment) or "")
        if key is None:
            continue
        stats = segment.get("stats") or {}
        rating = (stats.get("rating") or {}).get("value")
        ranks[key] = {
            "tier": _name(stats.get("tier")),
            "division": division_number(_name(stats.get("division"))),
            "mmr": int(rating) if isinstance(rating, int | float) else None,
        }
    return ranks


def profile_get(*, platform: str, username: str, client: httpx.Client | None = None) -> Profile:
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}")
    client = client or shared_client()
    path = f"/api/v2/rocket-league/standard/profile/{platform}/{quote(username, safe='')}"
    try:
        response = client.get(path, headers={"TRN-Api-Key": settings.ROCKET_LEAGUE_API_KEY})
    except httpx.HTTPError as exc:
        raise TrnError(f"stats API unreachable ({type(exc).__name__})") from exc
    if response.status_code == 404:
        raise TrnNotFound("player not found")
    if response.status_code != 200:
        raise TrnError(f"stats API answered {response.status_code}")
    try:
        payload = response.json()
    except ValueError as exc:
        raise TrnError("stats API sent malformed JSON") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise TrnError("stats API sent an unexpected body")
    info = payload["data"].get("platformInfo") or {}
    handle = info.get("platformUserHandle") if isinstance(info.get("platformUserHandle"), str) else username
    return Profile(platform=platform, username=handle, ranks=ranks_from_profile(payload))
