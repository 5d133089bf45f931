"""Writes of the bot side: configuration changes, the bot's reported state,
cog commands, Rocket League rank checks and staff broadcasts."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
import uuid
from datetime import timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from botconfig import lemmy, reddit, trn
from botconfig.models import BotState, Broadcast, ConfigSection, TrackedPlayer
from botconfig.selectors import config_get, config_get_versioned
from botconfig.serializers import section_validate

log = logging.getLogger("voidsite.botconfig")

BOT_GROUP = "bot"


class ConfigConflict(Exception):
    """The section changed since the version the writer read (stale ``If-Match``)."""

    def __init__(self, current_version: int):
        super().__init__(f"Section changed; current version is {current_version}.")
        self.current_version = current_version


class BotOffline(Exception):
    pass


class BotTimeout(Exception):
    pass


# --- events to the bot ------------------------------------------------------------


def bot_event_send(*, payload: dict) -> None:
    """Send ``payload`` to the bot's socket after the surrounding transaction commits."""

    def _send():
        try:
            async_to_sync(get_channel_layer().group_send)(BOT_GROUP, {"type": "bot.event", "payload": payload})
        except Exception:  # a down channel layer must not fail the committed write; logged
            log.exception("could not send %s to the bot", payload.get("type"))

    transaction.on_commit(_send)


# --- configuration ----------------------------------------------------------------


def config_update(
    *, name: str, values: dict, user, expected_version: int | None, replace: bool = False, reason: str = ""
) -> tuple[dict, int]:
    """Validate and save section ``name``; returns ``(values, new_version)``.

    ``values`` may hold a subset of the section's fields (the others keep their
    value) unless ``replace`` (admin edits and reverts), which stores exactly
    ``values`` over the defaults. Raises DRF ``ValidationError`` (nothing saved)
    or :class:`ConfigConflict` when ``expected_version`` is not the current one.
    Locks the section's row (``select_for_update``) so concurrent writers queue
    and each sees the version the previous one left. Tells the bot after commit.
    """
    clean = section_validate(name=name, values=values)
    with transaction.atomic():
        ConfigSection.objects.get_or_create(name=name)
        row = ConfigSection.objects.select_for_update().get(name=name)
        if expected_version is not None and row.version != expected_version:
            raise ConfigConflict(row.version)
        data = {} if replace else dict(row.data or {})
        data.update(clean)
        row.data = data
        row.version += 1
        row.updated_by = user
        row._history_user = user
        row._change_reason = reason[:100]
        row.save()
        new_values, version = config_get_versioned(name)
        bot_event_send(payload={"type": "config.updated", "section": name, "version": version, "config": new_values})
    return new_values, version


# --- the bot's reported state -------------------------------------------------------


def bot_connected(*, channel_name: str) -> None:
    now = timezone.now()
    BotState.objects.update_or_create(
        pk=1,
        defaults={"channel_name": channel_name, "connected_at": now, "started_at": now, "last_heartbeat_at": now},
    )


def bot_disconnected(*, channel_name: str) -> None:
    """Forget the socket, unless another connection of the bot replaced it meanwhile."""
    BotState.objects.filter(pk=1, channel_name=channel_name).update(channel_name="")


def bot_report(
    *,
    channel_name: str,
    guilds: int | None = None,
    members: int | None = None,
    uptime: int | None = None,
    cogs: list[dict] | None = None,
) -> None:
    """Store a heartbeat/hello/cogs report of the bot connected on ``channel_name``."""
    now = timezone.now()
    fields: dict = {"channel_name": channel_name, "last_heartbeat_at": now}
    if guilds is not None:
        fields["guild_count"] = guilds
    if members is not None:
        fields["member_count"] = members
    if uptime is not None:
        fields["started_at"] = now - timedelta(seconds=uptime)
    if cogs is not None:
        fields["cogs"] = cogs
    updated = BotState.objects.filter(pk=1).update(**fields)
    if not updated:
        BotState.objects.update_or_create(pk=1, defaults={"connected_at": now, **fields})


async def cog_command_send(*, channel_name: str, action: str, cog_name: str, timeout: float) -> dict:
    """Send a cog command to the bot's consumer at ``channel_name`` and wait for its answer.

    The answer comes back on a fresh channel-layer channel, so this works when the
    bot's socket lives in another process (channels-redis). Raises
    :class:`BotTimeout` when the bot does not answer within ``timeout`` seconds.
    """
    layer = get_channel_layer()
    reply_channel = await layer.new_channel("botreply")
    await layer.send(
        channel_name,
        {
            "type": "cog.command",
            "id": uuid.uuid4().hex,
            "action": action,
            "cog": cog_name,
            "reply_channel": reply_channel,
        },
    )
    try:
        return await asyncio.wait_for(layer.receive(reply_channel), timeout)
    except TimeoutError as exc:
        raise BotTimeout from exc


# --- Rocket League ------------------------------------------------------------------


def _rank_key(rank: dict) -> tuple:
    return (rank.get("tier"), rank.get("division"))


def rank_changes(*, old: dict, new: dict) -> list[dict]:
    """Playlists whose tier or division changed (MMR alone moving is not a rank change)."""
    changes = []
    for playlist, rank in new.items():
        before = old.get(playlist)
        if before is None or _rank_key(before) != _rank_key(rank):
            changes.append({"playlist": playlist, "old": before, "new": rank})
    return changes


def tracked_players_check(*, only_due: bool = False, client=None) -> dict:
    """Refresh tracked players' ranks from the Tracker Network; send each change to
    the bot as a ``rank.changed`` event. ``only_due`` skips players checked within
    the configured ``rank_check_interval_hours`` (for an hourly cron). Returns a summary."""
    players = TrackedPlayer.objects.order_by("pk")
    if only_due:
        hours = config_get("rocket_league")["rank_check_interval_hours"]
        cutoff = timezone.now() - timedelta(hours=hours)
        players = players.filter(Q(last_checked_at__isnull=True) | Q(last_checked_at__lte=cutoff))
    summary = {"checked": 0, "changed": 0, "errors": 0, "changes": []}
    for player in players:
        try:
            profile = trn.profile_get(platform=player.platform, username=player.username, client=client)
        except trn.TrnError as exc:
            summary["errors"] += 1
            TrackedPlayer.objects.filter(pk=player.pk).update(last_error=str(exc)[:200], last_checked_at=timezone.now())
            continue
        summary["checked"] += 1
        changes = rank_changes(old=player.ranks or {}, new=profile.ranks)
        with transaction.atomic():
            TrackedPlayer.objects.filter(pk=player.pk).update(
                ranks=profile.ranks, last_checked_at=timezone.now(), last_error=""
            )
            for change in changes:
                event = {
                    "type": "rank.changed",
                    "platform": player.platform,
                    "username": player.username,
                    "discord_user_id": player.discord_user_id or None,
                    **change,
                }
                bot_event_send(payload=event)
                summary["changes"].append(event)
        summary["changed"] += bool(changes)
    return summary


# --- broadcast ----------------------------------------------------------------------


def broadcast_send(*, title: str, message: str, priority: str, user) -> Broadcast:
    """Record a broadcast, then (after commit) send it to every connected client and push it to every device."""
    from accounts.push import push_to_users
    from accounts.services import notification_send

    with transaction.atomic():
        broadcast = Broadcast.objects.create(title=title, message=message, priority=priority, sent_by=user)
        payload = {
            "type": "broadcast",
            "id": broadcast.pk,
            "title": title,
            "message": message,
            "priority": priority,
            "created_at": broadcast.created_at.isoformat(),
        }
        notification_send(payload=payload, user_ids=None)
        data = {"type": "broadcast", "broadcast_id": str(broadcast.pk), "priority": priority}
        # Every active device, after commit and off the request path (a no-op while push is off).
        push_to_users(None, title=title, body=message, data=data)
    return broadcast


# --- cached lookups of outside services ----------------------------------------------


class StatsUnavailable(Exception):
    pass


def _rl_cache_key(platform: str, username: str) -> str:
    digest = hashlib.sha256(username.casefold().encode()).hexdigest()[:32]
    return f"rl:stats:{platform}:{digest}"


def rl_stats_get(*, platform: str, username: str, client=None) -> dict:
    """The seed's stats shape for a player, cached for ``rank_cache_ttl_seconds``.

    Served from cache with ``cached: true`` while fresh. When the upstream is down
    a stale cached answer (up to ``ROCKET_LEAGUE_STALE_SECONDS`` old) is served with
    ``stale: true``; with none, :class:`StatsUnavailable`. Raises
    ``trn.TrnNotFound`` for an unknown player.
    """
    ttl = config_get("rocket_league")["rank_cache_ttl_seconds"]
    key = _rl_cache_key(platform, username)
    entry = cache.get(key)
    now = time.time()
    if entry and ttl and now - entry["at"] < ttl:
        return {**entry["body"], "cached": True}
    try:
        profile = trn.profile_get(platform=platform, username=username, client=client)
    except trn.TrnNotFound:
        cache.delete(key)
        raise
    except trn.TrnError as exc:
        if entry:
            return {**entry["body"], "cached": True, "stale": True, "cached_at": int(entry["at"])}
        raise StatsUnavailable(str(exc)) from exc
    body = {"username": profile.username, "platform": platform, "ranks": profile.ranks}
    cache.set(key, {"at": now, "body": body}, timeout=max(ttl, settings.ROCKET_LEAGUE_STALE_SECONDS))
    return {**body, "cached": False}


class MemesUnavailable(Exception):
    pass


def _memes_of(*, source: str, community: str, ttl: int, clients: dict) -> list[dict]:
    key = f"memes:{source}:{hashlib.sha256(community.encode()).hexdigest()[:24]}"
    cached = cache.get(key) if ttl else None
    if cached is not None:
        return cached
    if source == "reddit":
        memes = reddit.hot_memes(subreddit=community, client=clients.get("reddit"))
    else:
        memes = lemmy.hot_memes(community=community, client=clients.get("lemmy"))
    result = [m.as_dict() | ({"community": m.community} if source == "lemmy" else {}) for m in memes]
    if ttl:
        cache.set(key, result, timeout=ttl)
    return result


def meme_random(*, source: str | None, clients: dict | None = None, rng=None) -> dict:
    """A random image post from the configured subreddits / Lemmy communities.

    Each community's list is cached for ``templates_cache_duration`` seconds.
    Raises ``ValueError`` for a source that is not enabled,
    :class:`MemesUnavailable` when every configured community failed, and
    ``LookupError`` when they answered but held no usable image.
    """
    cfg = config_get("meme")
    enabled = [s for s in cfg["meme_sources"] if s in ("reddit", "lemmy")]
    if source is not None and source not in enabled:
        raise ValueError(f"source {source!r} is not enabled (enabled: {', '.join(enabled) or 'none'})")
    sources = [source] if source else enabled
    wanted = [
        (src, community)
        for src in sources
        for community in (cfg["default_subreddits"] if src == "reddit" else cfg["default_lemmy"])
    ]
    pool: list[dict] = []
    failures = 0
    for src, community in wanted:
        try:
            pool.extend(
                _memes_of(source=src, community=community, ttl=cfg["templates_cache_duration"], clients=clients or {})
            )
        except (reddit.RedditError, lemmy.LemmyError) as exc:
            failures += 1
            log.warning("memes from %s %s failed: %s", src, community, exc)
    if not pool:
        if failures and failures == len(wanted):
            raise MemesUnavailable("meme sources are unreachable")
        raise LookupError("no memes found")
    return (rng or random.SystemRandom()).choice(pool)
