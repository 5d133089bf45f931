"""Reddit's public JSON: ``GET /r/{sub}/hot.json?limit=50`` with a descriptive User-Agent."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from urllib.parse import quote

import httpx
from django.conf import settings

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")


class RedditError(Exception):
    pass


@dataclass(frozen=True)
class Meme:
    title: str
    url: str
    source: str
    community: str
    permalink: str = ""

    def as_dict(self) -> dict:
        return {
            "title": self.title,
            "url": self.url,
            "source": self.source,
            "subreddit": self.community,
            "permalink": self.permalink,
        }


_client: httpx.Client | None = None
_lock = threading.Lock()


def memes_client(base_url: str, *, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """A client for a meme source's JSON API (Reddit, Lemmy): timeouts and User-Agent from settings."""
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(settings.MEMES_TIMEOUT, connect=5.0),
        transport=transport,
        headers={"User-Agent": settings.MEMES_USER_AGENT, "Accept": "application/json"},
    )


def make_client(*, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    return memes_client(settings.REDDIT_BASE_URL, transport=transport)


def shared_client() -> httpx.Client:
    global _client
    with _lock:
        if _client is None:
            _client = make_client()
        return _client


def is_image_url(url) -> bool:
    if not isinstance(url, str) or not url.startswith("https://"):
        return False
    return url.split("?", 1)[0].lower().endswith(IMAGE_SUFFIXES)


def hot_memes(*, subreddit: str, client: httpx.Client | None = None) -> list[Meme]:
    """Image posts of a subreddit's hot list; NSFW, videos and non-images skipped."""
    client = client or shared_client()
    try:
        response = client.get(f"/r/{quote(subreddit, safe='')}/hot.json", params={"limit": 50})
    except httpx.HTTPError as exc:
        raise RedditError(f"reddit unreachable ({type(exc).__name__})") from exc
    if response.status_code != 200:
        raise RedditError(f"reddit answered {response.status_code}")
    try:
        children = response.json()["data"]["children"]
    except (ValueError, KeyError, TypeError) as exc:
        raise RedditError("reddit sent an unexpected body") from exc
    memes = []
    for child in children if isinstance(children, list) else []:
        post = child.get("data") if isinstance(child, dict) else None
        if not isinstance(post, dict) or post.get("over_18") or post.get("is_video"):
            continue
        hint = post.get("post_hint")
        if hint not in (None, "image") or not is_image_url(post.get("url")):
            continue
        permalink = post.get("permalink") or ""
        memes.append(
            Meme(
                title=str(post.get("title") or ""),
                url=post["url"],
                source="reddit",
                community=str(post.get("subreddit") or subreddit),
                permalink=f"https://www.reddit.com{permalink}" if permalink.startswith("/") else "",
            )
        )
    return memes
