"""/ws/chat/: chat.start → chat.delta… → chat.done; chat.cancel; errors as events."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from billing.models import LedgerEntry, Outcome, TokenBalance
from voidsite.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


async def connect(token):
    comm = WebsocketCommunicator(application, f"/ws/chat/?token={token}")
    connected, _ = await comm.connect()
    assert connected
    return comm


async def test_a_chat_streams_deltas_and_ends_with_usage_and_balance(chat_settings, user, user_token):
    comm = await connect(user_token)
    await comm.send_json_to(
        {"type": "chat.start", "id": 7, "model": "llama", "messages": [{"role": "user", "content": "hi"}]}
    )
    text = ""
    while True:
        event = await comm.receive_json_from(timeout=5)
        if event["type"] != "chat.delta":
            break
        assert event["id"] == 7
        text += event["content"]
    assert text == "tok0 tok1 tok2 tok3 tok4 tok5 "
    assert event["type"] == "chat.done" and event["usage"]["completion_tokens"] == 6
    assert event["tokens_left"] == 1_000_000 - event["usage"]["total_tokens"]
    await comm.disconnect()


async def test_errors_are_events_and_the_socket_stays_usable(chat_settings, user, user_token):
    comm = await connect(user_token)
    await comm.send_json_to({"type": "chat.start", "messages": []})
    assert (await comm.receive_json_from())["type"] == "error"
    await comm.send_json_to(
        {"type": "chat.start", "model": "llama-500", "messages": [{"role": "user", "content": "x"}]}
    )
    event = await comm.receive_json_from(timeout=5)
    assert event["type"] == "error" and event["status"] == 502
    await comm.send_json_to({"type": "chat.start", "model": "demo", "messages": [{"role": "user", "content": "x"}]})
    types = []
    while not types or types[-1] == "chat.delta":
        types.append((await comm.receive_json_from(timeout=5))["type"])
    assert types[-1] == "chat.done"
    await comm.disconnect()


async def test_chat_cancel_stops_the_upstream_and_settles_what_was_generated(
    chat_settings, fake_upstream, user, user_token
):
    comm = await connect(user_token)
    await comm.send_json_to(
        {"type": "chat.start", "model": "llama-slow", "messages": [{"role": "user", "content": "x"}]}
    )
    assert (await comm.receive_json_from(timeout=5))["type"] == "chat.delta"
    await comm.send_json_to({"type": "chat.cancel"})
    while (event := await comm.receive_json_from(timeout=5))["type"] == "chat.delta":
        pass
    assert event == {"type": "chat.cancelled"}
    entry = await sync_to_async(LedgerEntry.objects.get)()
    assert entry.outcome == Outcome.CLIENT_DISCONNECTED and 0 < entry.completion_tokens < 200
    b = await sync_to_async(TokenBalance.objects.get)(user=user)
    assert b.tokens_reserved == 0 and b.tokens_used == -entry.tokens > 0
    await comm.disconnect()


async def test_closing_the_socket_mid_stream_settles_the_reservation(chat_settings, user, user_token):
    comm = await connect(user_token)
    await comm.send_json_to({"type": "chat.start", "model": "gpt-slow", "messages": [{"role": "user", "content": "x"}]})
    assert (await comm.receive_json_from(timeout=5))["type"] == "chat.delta"
    await comm.disconnect()
    entry = await sync_to_async(LedgerEntry.objects.get)()
    assert entry.outcome == Outcome.CLIENT_DISCONNECTED
