import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.db import transaction

from accounts.services import tokens_for_user
from tickets import events, services
from tickets.models import TicketMessage
from voidsite.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


async def _socket(user, path="/ws/tickets/"):
    token = await sync_to_async(lambda: tokens_for_user(user=user)["access"])()
    joiner = "&" if "?" in path else "?"
    comm = WebsocketCommunicator(application, f"{path}{joiner}token={token}")
    connected, _ = await comm.connect()
    assert connected
    return comm


async def _join(comm, ticket_id):
    await comm.send_json_to({"type": "join_ticket", "ticket_id": str(ticket_id)})
    return await comm.receive_json_from(timeout=3)


async def _group_size(group: str) -> int:
    layer = get_channel_layer()
    if isinstance(layer, RedisPubSubChannelLayer):  # pub/sub keeps groups per process: this one's
        local = layer._get_layer()
        return len(local.groups.get(local._get_group_channel_name(group), ()))
    if hasattr(layer, "groups"):  # in-memory layer
        return len(layer.groups.get(group, {}))
    connection = layer.connection(layer.consistent_hash(group))
    return await connection.zcard(layer._group_key(group))


@sync_to_async
def _open(owner, message="It broke"):
    return services.ticket_open(owner=owner, subject="Help", content=message)


async def test_joining_sends_the_message_history(user, open_ticket):
    ticket = await _open(user, "first words")
    comm = await _socket(user)
    history = await _join(comm, ticket.pk)
    assert history["type"] == "message_history"
    assert history["ticket_id"] == str(ticket.pk)
    assert [m["content"] for m in history["messages"]] == ["first words"]
    assert history["has_more"] is False
    await comm.disconnect()


async def test_a_refused_join_is_an_error_event_and_the_socket_stays_open(make_user):
    alice, mallory = await sync_to_async(make_user)(), await sync_to_async(make_user)()
    ticket = await _open(alice)
    comm = await _socket(mallory)
    refused = await _join(comm, ticket.pk)
    assert refused["type"] == "error" and refused["event"] == "join_ticket"
    assert "messages" not in refused
    assert await comm.receive_nothing(timeout=0.2)
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from() == {"type": "pong"}
    assert await _group_size(events.room_group(ticket.pk)) == 0
    await comm.disconnect()


async def test_a_rest_message_reaches_everyone_in_the_room(user, moderator, client_for):
    ticket = await _open(user)
    owner, staff = await _socket(user), await _socket(moderator)
    await _join(owner, ticket.pk)
    await _join(staff, ticket.pk)
    client = await sync_to_async(client_for)(moderator)
    await sync_to_async(client.post)(f"/api/tickets/{ticket.pk}/send", {"message": "On it"}, format="json")
    for comm in (owner, staff):
        event = await comm.receive_json_from(timeout=3)
        assert event["type"] == "new_message"
        assert event["ticket_id"] == str(ticket.pk)
        assert event["message"]["content"] == "On it" and event["messageData"]["content"] == "On it"
        assert event["messageData"]["is_admin"] is True
    await owner.disconnect()
    await staff.disconnect()


async def test_a_message_sent_over_the_socket_is_stored_and_broadcast(user, moderator):
    ticket = await _open(user)
    owner, staff = await _socket(user, "/ws/tickets/?platform=android"), await _socket(moderator)
    await _join(staff, ticket.pk)
    await owner.send_json_to(
        {"type": "send_message", "ticket_id": ticket.pk, "message": "via socket", "client_id": "c1"}
    )
    ack = await owner.receive_json_from(timeout=3)
    assert ack["type"] == "message_sent" and ack["client_id"] == "c1" and ack["message"]["source"] == "app"
    heard = await staff.receive_json_from(timeout=3)
    assert heard["type"] == "new_message" and heard["message"]["content"] == "via socket"
    assert await TicketMessage.objects.filter(ticket=ticket, content="via socket").aexists()
    await owner.disconnect()
    await staff.disconnect()


async def test_a_rolled_back_message_is_never_announced(user):
    ticket = await _open(user)
    comm = await _socket(user)
    await _join(comm, ticket.pk)

    @sync_to_async
    def post_then_roll_back():
        with pytest.raises(RuntimeError), transaction.atomic():
            services.ticket_message_send(ticket_id=ticket.pk, author=user, content="never", source="web")
            raise RuntimeError("rolled back")

    await post_then_roll_back()
    assert await comm.receive_nothing(timeout=0.3)
    assert not await TicketMessage.objects.filter(content="never").aexists()
    await comm.disconnect()


async def test_typing_reaches_the_others_but_not_the_typist(user, moderator):
    ticket = await _open(user)
    owner, staff = await _socket(user), await _socket(moderator)
    await _join(owner, ticket.pk)
    await _join(staff, ticket.pk)
    await owner.send_json_to({"type": "typing", "ticket_id": ticket.pk})
    event = await staff.receive_json_from(timeout=3)
    assert event == {
        "type": "typing",
        "ticket_id": str(ticket.pk),
        "user_id": str(user.pk),
        "user_name": user.username,
        "is_typing": True,
    }
    assert await owner.receive_nothing(timeout=0.2)
    await owner.disconnect()
    await staff.disconnect()


async def test_typing_outside_a_joined_room_is_refused(user):
    ticket = await _open(user)
    comm = await _socket(user)
    await comm.send_json_to({"type": "typing", "ticket_id": ticket.pk})
    assert (await comm.receive_json_from())["type"] == "error"
    await comm.disconnect()


async def test_mark_read_sends_a_read_receipt_to_the_room(user, moderator, client_for):
    ticket = await _open(user)
    client = await sync_to_async(client_for)(moderator)
    await sync_to_async(client.post)(f"/api/tickets/{ticket.pk}/send", {"message": "hi"}, format="json")
    owner, staff = await _socket(user), await _socket(moderator)
    await _join(owner, ticket.pk)
    await _join(staff, ticket.pk)
    await owner.send_json_to({"type": "mark_read", "ticket_id": ticket.pk})
    receipt = await staff.receive_json_from(timeout=3)
    last_id = await TicketMessage.objects.filter(ticket=ticket).order_by("-id").values_list("id", flat=True).afirst()
    assert receipt == {
        "type": "read_receipt",
        "ticket_id": str(ticket.pk),
        "user_id": str(user.pk),
        "user_name": user.username,
        "last_read_message_id": str(last_id),
    }
    await owner.disconnect()
    await staff.disconnect()


async def test_leaving_and_disconnecting_empty_the_room_group(user):
    ticket = await _open(user)
    group = events.room_group(ticket.pk)
    first, second = await _socket(user), await _socket(user)
    await _join(first, ticket.pk)
    await _join(second, ticket.pk)
    assert await _group_size(group) == 2
    await first.send_json_to({"type": "leave_ticket", "ticket_id": ticket.pk})
    assert (await first.receive_json_from())["type"] == "left_ticket"
    assert await _group_size(group) == 1
    await second.disconnect()
    await asyncio.sleep(0.05)
    assert await _group_size(group) == 0
    await first.disconnect()


async def test_a_left_room_hears_nothing_more(user, moderator, client_for):
    ticket = await _open(user)
    comm = await _socket(user)
    await _join(comm, ticket.pk)
    await comm.send_json_to({"type": "leave_ticket", "ticket_id": ticket.pk})
    await comm.receive_json_from()
    client = await sync_to_async(client_for)(moderator)
    await sync_to_async(client.post)(f"/api/tickets/{ticket.pk}/send", {"message": "hello"}, format="json")
    assert await comm.receive_nothing(timeout=0.3)
    await comm.disconnect()


async def test_closing_announces_the_system_message_and_the_status(user, moderator, client_for):
    ticket = await _open(user)
    comm = await _socket(user)
    await _join(comm, ticket.pk)
    client = await sync_to_async(client_for)(moderator)
    await sync_to_async(client.post)(f"/api/tickets/{ticket.pk}/close")
    first, second = await comm.receive_json_from(timeout=3), await comm.receive_json_from(timeout=3)
    assert first["type"] == "new_message" and first["message"]["source"] == "system"
    assert second == {"type": "ticket_status", "ticket_id": str(ticket.pk), "status": "closed"}
    await comm.disconnect()


async def test_older_history_loads_over_the_socket(user):
    ticket = await _open(user, "m0")

    @sync_to_async
    def add_many():
        TicketMessage.objects.bulk_create(
            [TicketMessage(ticket=ticket, author=user, content=f"m{i}", source="web") for i in range(1, 60)]
        )

    await add_many()
    comm = await _socket(user)
    history = await _join(comm, ticket.pk)
    assert len(history["messages"]) == 50 and history["has_more"] is True
    await comm.send_json_to({"type": "load_history", "ticket_id": ticket.pk, "before": history["messages"][0]["id"]})
    older = await comm.receive_json_from()
    assert [m["content"] for m in older["messages"]] == [f"m{i}" for i in range(10)]
    assert older["has_more"] is False
    await comm.disconnect()


async def test_frames_over_one_mebibyte_are_refused(user):
    comm = await _socket(user)
    await comm.send_to(text_data='{"type": "send_message", "message": "' + "x" * (1024 * 1024) + '"}')
    assert (await comm.receive_json_from())["type"] == "error"
    assert (await comm.receive_output(timeout=2))["type"] == "websocket.close"


async def test_a_socket_without_a_token_cannot_join(user):
    ticket = await _open(user)
    comm = WebsocketCommunicator(application, "/ws/tickets/")
    await comm.connect()
    await comm.send_json_to({"type": "join_ticket", "ticket_id": ticket.pk})
    assert await comm.receive_output(timeout=2) == {"type": "websocket.close", "code": 4401}


async def test_a_browser_from_a_foreign_origin_is_refused(user):
    token = await sync_to_async(lambda: tokens_for_user(user=user)["access"])()
    comm = WebsocketCommunicator(
        application, f"/ws/tickets/?token={token}", headers=[(b"origin", b"https://evil.example")]
    )
    connected, _ = await comm.connect()
    assert not connected


async def test_a_flood_of_messages_is_rate_limited(user, settings):
    settings.TICKETS_WS_BURST = 3
    settings.TICKETS_WS_RATE = 0.1
    comm = await _socket(user)
    for _ in range(4):
        await comm.send_json_to({"type": "ping"})
    replies = [await comm.receive_json_from() for _ in range(4)]
    assert [r["type"] for r in replies] == ["pong", "pong", "pong", "error"]
    assert replies[-1]["code"] == "rate_limited"
    await comm.disconnect()
