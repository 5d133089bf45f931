import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from fcm_django.models import FCMDevice

from accounts import push
from accounts.services import tokens_for_user
from tickets import services
from tickets.models import TicketMessage
from voidsite.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def _device(user, token):
    return FCMDevice.objects.create(user=user, registration_id=token, type="android")


def test_a_new_message_pushes_to_the_other_participants_with_the_ticket_id(user, moderator, client_for, fake_fcm):
    _device(user, "owner-phone")
    _device(moderator, "mod-phone")
    ticket = services.ticket_open(owner=user, subject="s", content="first")
    assert push.push_wait(10)
    assert fake_fcm.sent_to("owner-phone") == []  # nobody else is in the ticket yet
    client_for(moderator).post(f"/api/tickets/{ticket.pk}/send", {"message": "Hello from staff"}, format="json")
    assert push.push_wait(10)
    [message] = fake_fcm.sent_to("owner-phone")
    assert message["data"]["ticket_id"] == str(ticket.pk) and message["data"]["type"] == "ticket_message"
    assert message["notification"]["body"] == "Hello from staff"
    assert fake_fcm.sent_to("mod-phone") == []  # the author is not pushed
    client_for(user).post(f"/api/tickets/{ticket.pk}/send", {"message": "Thanks"}, format="json")
    assert push.push_wait(10)
    assert [m["notification"]["body"] for m in fake_fcm.sent_to("mod-phone")] == ["Thanks"]


def test_a_failing_fcm_never_fails_the_message(user, moderator, client_for, fake_fcm):
    _device(user, "owner-phone")
    ticket = services.ticket_open(owner=user, subject="s", content="first")
    assert push.push_wait(10)  # in-memory SQLite (shared cache) locks tables across threads
    fake_fcm.fail_all = True
    response = client_for(moderator).post(f"/api/tickets/{ticket.pk}/send", {"message": "still stored"}, format="json")
    assert response.status_code == 200
    assert push.push_wait(10)
    assert TicketMessage.objects.filter(ticket=ticket, content="still stored").exists()


def test_an_unreachable_fcm_never_fails_the_message(user, moderator, client_for, fake_fcm, settings):
    _device(user, "owner-phone")
    ticket = services.ticket_open(owner=user, subject="s", content="first")
    assert push.push_wait(10)
    settings.FCM_URL = "http://127.0.0.1:9"  # discard port: connection refused
    push.firebase_app_reset()
    response = client_for(moderator).post(f"/api/tickets/{ticket.pk}/send", {"message": "still stored"}, format="json")
    assert response.status_code == 200
    assert push.push_wait(20)
    assert fake_fcm.sent == []


async def test_participants_in_the_room_are_not_pushed_until_they_leave(user, moderator, client_for, fake_fcm):
    await sync_to_async(_device)(user, "owner-phone")
    ticket = await sync_to_async(services.ticket_open)(owner=user, subject="s", content="first")
    assert await sync_to_async(push.push_wait)(10)
    token = await sync_to_async(lambda: tokens_for_user(user=user)["access"])()
    comm = WebsocketCommunicator(application, f"/ws/tickets/?token={token}")
    await comm.connect()
    await comm.send_json_to({"type": "join_ticket", "ticket_id": ticket.pk})
    await comm.receive_json_from()
    client = await sync_to_async(client_for)(moderator)
    await sync_to_async(client.post)(f"/api/tickets/{ticket.pk}/send", {"message": "while watching"}, format="json")
    assert (await comm.receive_json_from(timeout=3))["type"] == "new_message"
    assert await sync_to_async(push.push_wait)(10)
    assert fake_fcm.sent_to("owner-phone") == []
    await comm.disconnect()
    await sync_to_async(client.post)(f"/api/tickets/{ticket.pk}/send", {"message": "after leaving"}, format="json")
    assert await sync_to_async(push.push_wait)(10)
    assert [m["notification"]["body"] for m in fake_fcm.sent_to("owner-phone")] == ["after leaving"]
