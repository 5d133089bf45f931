"""Lemmy's public API: ``GET {instance}/api/v3/post/list?community_name=...&sort=Hot&limit=50``.

Communities are configured as ``name@instance`` (``memes@lemmy.world``); the
configured ``LEMMY_BASE_URL`` instance resolves federated names.
"""

from __future__ import annotations

import threading

import httpx
from django.conf import settings

from botconfig.reddit import Meme, is_image_url, memes_client


class LemmyError(Exception):
    pass


_client: httpx.Client | None = None
_lock = threading.Lock()


def make_client(*, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    return memes_client(settings.LEMMY_BASE_URL, transport=transport)


def shared_client() -> httpx.Client:
    global _client
    with _lock:
        if _client is None:
            _client = make_client()
        return _client


def hot_memes(*, community: str, client: httpx.Client | None = None) -> list[Meme]:
    """Image posts of a community's hot list; NSFW and non-images skipped."""
    client = client or shared_client()
    try:
        response = client.get("/api/v3/post/list", params={"community_name": community, "sort": "Hot", "limit": 50})
    except httpx.HTTPError as exc:
        raise LemmyError(f"lemmy unreachable ({type(exc).__name__})") from exc
    if response.status_code != 200:
        raise LemmyError(f"lemmy answered {response.status_code}")
    try:
        posts = response.json()["posts"]
    except (ValueError, KeyError, TypeError) as exc:
        raise LemmyError("lemmy sent an unexpected body") from exc
    memes = []
    for item in posts if isinstance(posts, list) else []:
        post = item.get("post") if isinstance(item, dict) else None
        community_info = item.get("community") if isinstance(item.get("community"), dict) else {}
        if not isinstance(post, dict) or post.get("nsfw") or community_info.get("nsfw"):
            continue
        if not is_image_url(post.get("url")):
            continue
        comm = community_info.get("name") or community
        memes.append(
            Meme(
                title=str(post.get("name") or ""),
                url=post["url"],
                source="lemmy",
                community=str(comm),
                permalink=str(post.get("ap_id") or ""),
            )
        )
    return memes
