"""Fake Reddit listing API: ``GET /r/{sub}/hot.json?limit=50`` → ``{"kind": "Listing", "data": {"children": [...]}}``.

Refuses requests without a descriptive User-Agent (429, as Reddit does to default agents).
"""

from __future__ import annotations

import httpx


def post(
    title: str,
    url: str,
    *,
    subreddit: str = "memes",
    over_18: bool = False,
    post_hint: str | None = "image",
    is_video: bool = False,
) -> dict:
    data = {
        "title": title,
        "url": url,
        "permalink": f"/r/{subreddit}/comments/abc123/{title.lower().replace(' ', '_')}/",
        "over_18": over_18,
        "subreddit": subreddit,
        "is_video": is_video,
        "score": 1234,
    }
    if post_hint is not None:
        data["post_hint"] = post_hint
    return {"kind": "t3", "data": data}


class FakeReddit:
    def __init__(self):
        self.subreddits: dict[str, list[dict]] = {}
        self.down = False
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            return httpx.Response(502, text="Bad Gateway")
        agent = request.headers.get("User-Agent", "")
        if not agent or agent.startswith("python-httpx"):
            return httpx.Response(429, json={"message": "Too Many Requests", "error": 429})
        parts = request.url.path.split("/")
        if len(parts) != 4 or parts[1] != "r" or parts[3] != "hot.json":
            return httpx.Response(404, json={"message": "Not Found", "error": 404})
        children = self.subreddits.get(parts[2].lower())
        if children is None:
            return httpx.Response(404, json={"reason": "banned", "message": "Not Found", "error": 404})
        limit = int(request.url.params.get("limit", "25"))
        return httpx.Response(
            200, json={"kind": "Listing", "data": {"after": None, "dist": len(children), "children": children[:limit]}}
        )

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)
