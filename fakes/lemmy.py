"""Fake Lemmy API: ``GET /api/v3/post/list?community_name=...&sort=Hot&limit=50`` → ``{"posts": [...]}``."""

from __future__ import annotations

import httpx


def post_view(name: str, url: str | None, *, community: str = "memes", nsfw: bool = False, post_id: int = 1) -> dict:
    post = {
        "id": post_id,
        "name": name,
        "ap_id": f"https://lemmy.world/post/{post_id}",
        "nsfw": nsfw,
        "published": "2024-12-05T10:30:00Z",
    }
    if url is not None:
        post["url"] = url
    return {
        "post": post,
        "creator": {"id": 7, "name": "someone"},
        "community": {"id": 3, "name": community, "nsfw": False},
        "counts": {"score": 99, "comments": 4},
    }


class FakeLemmy:
    def __init__(self):
        self.communities: dict[str, list[dict]] = {}
        self.down = False
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            return httpx.Response(503, text="Service Unavailable")
        if request.url.path != "/api/v3/post/list":
            return httpx.Response(404, json={"error": "not_found"})
        name = request.url.params.get("community_name", "")
        posts = self.communities.get(name)
        if posts is None:
            return httpx.Response(404, json={"error": "couldnt_find_community"})
        limit = int(request.url.params.get("limit", "10"))
        return httpx.Response(200, json={"posts": posts[:limit], "next_page": None})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)
