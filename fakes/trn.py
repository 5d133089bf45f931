"""Fake Tracker Network profile API (Rocket League), as an httpx transport.

Speaks ``GET /api/v2/rocket-league/standard/profile/{platform}/{username}`` with
the ``TRN-Api-Key`` header: ``{"data": {"platformInfo", "segments": [...]}}`` for
a known player, ``{"errors": [{"code", "message"}]}`` with 404 for an unknown one
and 401 for a wrong key.
"""

from __future__ import annotations

from urllib.parse import unquote

import httpx

PLAYLIST_NAMES = {"1v1": "Ranked Duel 1v1", "2v2": "Ranked Doubles 2v2", "3v3": "Ranked Standard 3v3"}
_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}


def playlist_segment(playlist: str, *, tier: str, division: int, mmr: int, tier_value: int = 15) -> dict:
    return {
        "type": "playlist",
        "attributes": {"playlistId": 10 + len(playlist)},
        "metadata": {"name": PLAYLIST_NAMES[playlist]},
        "stats": {
            "tier": {"value": tier_value, "metadata": {"name": tier}},
            "division": {"value": division - 1, "metadata": {"name": f"Division {_ROMAN[division]}"}},
            "rating": {"value": mmr, "metadata": {}},
            "matchesPlayed": {"value": 42},
        },
    }


def profile_body(platform: str, handle: str, ranks: dict[str, tuple[str, int, int]]) -> dict:
    """``ranks``: ``{"1v1": ("Diamond I", 3, 950), ...}``."""
    segments = [{"type": "overview", "metadata": {"name": "Lifetime"}, "stats": {"wins": {"value": 100}}}]
    segments += [playlist_segment(p, tier=tier, division=div, mmr=mmr) for p, (tier, div, mmr) in ranks.items()]
    segments.append({"type": "playlist", "metadata": {"name": "Un-Ranked"}, "stats": {"rating": {"value": 700}}})
    return {
        "data": {
            "platformInfo": {"platformSlug": platform, "platformUserHandle": handle, "platformUserId": handle},
            "userInfo": {"isPremium": False},
            "metadata": {},
            "segments": segments,
        }
    }


class FakeTrn:
    def __init__(self, api_key: str = "test-trn-key"):
        self.api_key = api_key
        self.players: dict[tuple[str, str], dict] = {}
        self.down = False
        self.requests: list[httpx.Request] = []

    def add_player(self, platform: str, handle: str, ranks: dict[str, tuple[str, int, int]]) -> None:
        self.players[(platform, handle.casefold())] = profile_body(platform, handle, ranks)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            return httpx.Response(503, text="<html>Service Unavailable</html>")
        if request.headers.get("TRN-Api-Key") != self.api_key:
            return httpx.Response(401, json={"errors": [{"code": "Unauthorized", "message": "Invalid API key."}]})
        parts = request.url.raw_path.decode().split("?")[0].split("/")
        # ['', 'api', 'v2', 'rocket-league', 'standard', 'profile', platform, username]
        if len(parts) != 8 or parts[1:6] != ["api", "v2", "rocket-league", "standard", "profile"]:
            return httpx.Response(404, json={"errors": [{"code": "NotFound", "message": "Not found."}]})
        platform, username = parts[6], unquote(parts[7])
        body = self.players.get((platform, username.casefold()))
        if body is None:
            return httpx.Response(
                404,
                json={
                    "errors": [
                        {
                            "code": "CollectorResultStatus::NotFound",
                            "message": "We could not find the player you were looking for.",
                        }
                    ]
                },
            )
        return httpx.Response(200, json=body)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)
