"""Who is in a ticket's room right now, shared by every server process through the cache.

Each (ticket, user) key holds ``{channel_name: expires_at}`` for that user's sockets
in the room. A socket renews its entries every ``TICKETS_PRESENCE_TTL / 3`` seconds
and removes them when it leaves, so a crashed process's sockets fade out within
the TTL. Two sockets of one user joining in the same instant may overwrite each
other's entry (read-modify-write): the cost is at worst one push too many, until
the next renewal.

Renewals are per (ticket, user) and process: the first socket due renews the entries of
all of that user's sockets in the room in this process, and its siblings skip theirs for
a while, so a user with many sockets in a room costs one read and one write per interval
instead of one per socket (each over a value that grows with the number of sockets).
"""

from __future__ import annotations

import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

# This process's sockets per (ticket, user), and when their entries were last renewed together.
# Only touched from event-loop code (the async functions below), never from worker threads.
_local: dict[tuple[int, int], set[str]] = {}
_renewed: dict[tuple[int, int], float] = {}


def _key(ticket_id, user_id) -> str:
    return f"tickets:presence:{int(ticket_id)}:{int(user_id)}"


def _ttl() -> int:
    return int(getattr(settings, "TICKETS_PRESENCE_TTL", 90))


def _live(entries: dict | None, now: float) -> dict:
    return {name: exp for name, exp in (entries or {}).items() if exp > now}


def _join(ticket_id, user_id, channel_names: list[str]) -> None:
    now, ttl = time.time(), _ttl()
    key = _key(ticket_id, user_id)
    entries = _live(cache.get(key), now)
    for name in channel_names:
        entries[name] = now + ttl
    cache.set(key, entries, ttl)


def _leave(ticket_id, user_id, channel_name: str) -> None:
    now = time.time()
    key = _key(ticket_id, user_id)
    entries = _live(cache.get(key), now)
    entries.pop(channel_name, None)
    if entries:
        cache.set(key, entries, _ttl())
    else:
        cache.delete(key)


# One trip to a worker thread per call, and not to the single thread-sensitive one that runs every
# ``database_sync_to_async`` call (where ``cache.aget``/``aset`` would go): a room's renewals must
# not queue ahead of the database write of a message being posted.
async def join(*, ticket_id, user_id, channel_name: str) -> None:
    _local.setdefault((int(ticket_id), int(user_id)), set()).add(channel_name)
    await sync_to_async(_join, thread_sensitive=False)(ticket_id, user_id, [channel_name])


async def renew(*, ticket_id, user_id) -> None:
    """Renew this process's sockets of ``user_id`` in the room, unless a sibling socket just did."""
    pair = (int(ticket_id), int(user_id))
    now = time.monotonic()
    if not _local.get(pair) or now - _renewed.get(pair, float("-inf")) < _ttl() / 6:
        return
    _renewed[pair] = now
    await sync_to_async(_join, thread_sensitive=False)(ticket_id, user_id, list(_local[pair]))


async def leave(*, ticket_id, user_id, channel_name: str) -> None:
    pair = (int(ticket_id), int(user_id))
    mine = _local.get(pair, set())
    mine.discard(channel_name)
    if not mine:
        _local.pop(pair, None)
        _renewed.pop(pair, None)
    await sync_to_async(_leave, thread_sensitive=False)(ticket_id, user_id, channel_name)


def users_present(*, ticket_id, user_ids: list[int]) -> set[int]:
    """Those of ``user_ids`` with at least one live socket in the ticket's room."""
    if not user_ids:
        return set()
    now = time.time()
    found = cache.get_many([_key(ticket_id, uid) for uid in user_ids])
    return {uid for uid in user_ids if _live(found.get(_key(ticket_id, uid)), now)}
