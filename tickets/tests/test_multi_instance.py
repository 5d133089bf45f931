"""Two application instances that share nothing but Redis: a message posted through one reaches a
socket connected to the other (channels-redis carries the room event between them)."""

import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.urls import path

from accounts.services import tokens_for_user
from accounts.ws import JWTAuthMiddleware
from tickets import services
from tickets.consumers import TicketConsumer
from voidsite.asgi import application as instance_a

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


class InstanceBConsumer(TicketConsumer):
    channel_layer_alias = "instance_b"


instance_b = JWTAuthMiddleware(URLRouter([path("ws/tickets/", InstanceBConsumer.as_asgi())]))


@pytest.fixture
def two_layers(settings, redis_url):
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    config = {"hosts": [redis_url], "prefix": prefix}
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": config},
        "instance_b": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": dict(config)},
    }
    a, b = channel_layers["default"], channel_layers["instance_b"]
    assert a is not b  # separate connection pools and receive loops, as in two processes
    yield a, b


async def _socket(app, user):
    token = await sync_to_async(lambda: tokens_for_user(user=user)["access"])()
    comm = WebsocketCommunicator(app, f"/ws/tickets/?token={token}")
    assert (await comm.connect())[0]
    return comm


async def test_a_message_posted_on_one_instance_reaches_a_subscriber_on_the_other(two_layers, user, moderator):
    ticket = await sync_to_async(services.ticket_open)(owner=user, subject="s", content="first")
    subscriber = await _socket(instance_b, user)
    await subscriber.send_json_to({"type": "join_ticket", "ticket_id": ticket.pk})
    assert (await subscriber.receive_json_from(timeout=3))["type"] == "message_history"

    poster = await _socket(instance_a, moderator)
    await poster.send_json_to({"type": "send_message", "ticket_id": ticket.pk, "message": "across instances"})
    assert (await poster.receive_json_from(timeout=3))["type"] == "message_sent"

    heard = await subscriber.receive_json_from(timeout=5)
    assert heard["type"] == "new_message" and heard["message"]["content"] == "across instances"
    await poster.disconnect()
    await subscriber.disconnect()


async def test_typing_crosses_instances_too(two_layers, user, moderator):
    ticket = await sync_to_async(services.ticket_open)(owner=user, subject="s", content="first")
    on_b, on_a = await _socket(instance_b, user), await _socket(instance_a, moderator)
    for comm in (on_b, on_a):
        await comm.send_json_to({"type": "join_ticket", "ticket_id": ticket.pk})
        await comm.receive_json_from(timeout=3)
    await on_a.send_json_to({"type": "typing", "ticket_id": ticket.pk})
    assert (await on_b.receive_json_from(timeout=5))["type"] == "typing"
    await on_a.disconnect()
    await on_b.disconnect()
