import pytest
from channels.testing import WebsocketCommunicator

from accounts.services import notification_send
from voidsite.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_socket_without_a_token_is_closed_after_a_non_auth_message():
    comm = WebsocketCommunicator(application, "/ws/notifications/")
    connected, _ = await comm.connect()
    assert connected
    await comm.send_json_to({"type": "ping"})
    closed = await comm.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": 4401}


async def test_an_invalid_token_in_the_query_is_refused_at_the_handshake():
    comm = WebsocketCommunicator(application, "/ws/notifications/?token=not-a-jwt")
    connected, code = await comm.connect()
    assert not connected
    assert code == 4401


async def test_a_token_in_the_header_authenticates(user, user_token):
    token = user_token
    comm = WebsocketCommunicator(
        application, "/ws/notifications/", headers=[(b"authorization", f"Bearer {token}".encode())]
    )
    connected, _ = await comm.connect()
    assert connected
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from() == {"type": "pong"}
    await comm.disconnect()


async def test_a_first_auth_message_authenticates_and_then_notifications_arrive(user, user_token):
    from asgiref.sync import sync_to_async

    comm = WebsocketCommunicator(application, "/ws/notifications/")
    await comm.connect()
    await comm.send_json_to({"type": "auth", "token": user_token})
    assert (await comm.receive_json_from())["type"] == "auth.ok"
    await sync_to_async(notification_send)(payload={"type": "hello", "n": 1}, user_ids=[user.pk])
    assert await comm.receive_json_from(timeout=2) == {"type": "hello", "n": 1}
    await comm.disconnect()


async def test_malformed_json_is_an_error_event_and_the_socket_stays_open(user, user_token):
    comm = WebsocketCommunicator(application, f"/ws/notifications/?token={user_token}")
    await comm.connect()
    await comm.send_to(text_data="{nope")
    assert (await comm.receive_json_from())["type"] == "error"
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from() == {"type": "pong"}
    await comm.disconnect()


async def test_a_browser_from_a_foreign_origin_is_refused(user, user_token):
    comm = WebsocketCommunicator(
        application, f"/ws/notifications/?token={user_token}", headers=[(b"origin", b"https://evil.example")]
    )
    connected, _ = await comm.connect()
    assert not connected


async def test_an_expiring_token_closes_the_socket(user):
    from datetime import timedelta

    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(seconds=1))
    comm = WebsocketCommunicator(application, f"/ws/notifications/?token={token}")
    connected, _ = await comm.connect()
    assert connected
    assert await comm.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}
