"""Room presence: a user's sockets in one process are renewed together, once per interval."""

import time

from asgiref.sync import sync_to_async
from django.core.cache import cache

from tickets import presence


async def test_one_renewal_covers_all_of_a_users_sockets_in_the_room():
    await presence.join(ticket_id=7001, user_id=42, channel_name="a")
    await presence.join(ticket_id=7001, user_id=42, channel_name="b")
    key = presence._key(7001, 42)
    soon = time.time() + 1
    await cache.aset(key, {"a": soon, "b": soon}, 60)
    presence._renewed.pop((7001, 42), None)

    await presence.renew(ticket_id=7001, user_id=42)
    renewed = await cache.aget(key)
    assert set(renewed) == {"a", "b"}
    assert min(renewed.values()) > soon + 10

    await cache.aset(key, {"a": soon, "b": soon}, 60)
    await presence.renew(ticket_id=7001, user_id=42)  # a sibling socket, right after: nothing to do
    assert await cache.aget(key) == {"a": soon, "b": soon}

    await presence.leave(ticket_id=7001, user_id=42, channel_name="a")
    await presence.leave(ticket_id=7001, user_id=42, channel_name="b")
    assert await cache.aget(key) is None
    assert (7001, 42) not in presence._local


async def test_a_user_whose_sockets_left_is_not_present():
    await presence.join(ticket_id=7002, user_id=43, channel_name="c")
    assert await sync_to_async(presence.users_present)(ticket_id=7002, user_ids=[43, 44]) == {43}
    await presence.leave(ticket_id=7002, user_id=43, channel_name="c")
    await presence.renew(ticket_id=7002, user_id=43)  # no local sockets left: writes nothing back
    assert await sync_to_async(presence.users_present)(ticket_id=7002, user_ids=[43]) == set()
