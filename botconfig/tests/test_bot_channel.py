"""A fake Discord bot over the real WebSocket: cog commands, reports and config events."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from botconfig.models import BotState
from voidsite.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

COGS = [{"name": "General", "loaded": True}, {"name": "Moderation", "loaded": False}]


async def connect_bot(token: str, *, hello: bool = True) -> WebsocketCommunicator:
    bot = WebsocketCommunicator(application, "/ws/bot/", headers=[(b"authorization", f"Bearer {token}".encode())])
    connected, _ = await bot.connect()
    assert connected
    if hello:
        await bot.send_json_to({"type": "hello", "guilds": 2, "members": 150, "uptime": 3600, "cogs": COGS})
        reply = await bot.receive_json_from(timeout=3)
        assert reply["type"] == "hello.ok"
    return bot


def http(client, method: str, path: str, data=None, **extra):
    # thread_sensitive=False: the view blocks its thread waiting for the bot, and the
    # consumer's database calls must not queue behind it (daphne gives each request its own).
    call = getattr(client, method)
    return sync_to_async(lambda: call(path, data, format="json", **extra), thread_sensitive=False)()


async def test_only_the_bot_account_may_connect(admin_user, access_token):
    token = await sync_to_async(access_token)(admin_user)
    comm = WebsocketCommunicator(application, "/ws/bot/", headers=[(b"authorization", f"Bearer {token}".encode())])
    connected, code = await comm.connect()
    assert not connected
    assert code == 4403


async def test_hello_answers_with_the_config_and_stores_the_counts(bot_token, admin_user, client_for):
    bot = WebsocketCommunicator(application, "/ws/bot/", headers=[(b"authorization", f"Bearer {bot_token}".encode())])
    await bot.connect()
    await bot.send_json_to({"type": "hello", "guilds": 3, "members": 99, "uptime": 120, "cogs": COGS})
    reply = await bot.receive_json_from(timeout=3)
    assert reply["config"]["general"]["bot_name"] == "HazeBot"
    await bot.send_json_to({"type": "heartbeat", "guilds": 4, "members": 100})
    assert await bot.receive_json_from(timeout=3) == {"type": "heartbeat.ack"}
    api = await sync_to_async(client_for)(admin_user)
    stats = (await http(api, "get", "/api/admin/stats")).json()
    assert stats["total_guilds"] == 4
    assert stats["total_members"] == 100
    assert stats["bot_online"] is True
    assert 119 <= stats["bot_uptime"] <= 130
    cogs = (await http(api, "get", "/api/cogs")).json()
    assert cogs["cogs"] == COGS
    await bot.disconnect()


async def test_a_malformed_report_is_an_error_event(bot_token):
    bot = await connect_bot(bot_token, hello=False)
    await bot.send_json_to({"type": "heartbeat", "guilds": -1})
    assert (await bot.receive_json_from(timeout=3))["type"] == "error"
    await bot.send_json_to({"type": "cogs", "cogs": [{"name": 5}]})
    assert (await bot.receive_json_from(timeout=3))["type"] == "error"
    await bot.disconnect()


async def test_a_cog_command_reaches_the_bot_and_returns_its_answer(bot_token, admin_user, client_for):
    bot = await connect_bot(bot_token)
    api = await sync_to_async(client_for)(admin_user)
    request = asyncio.ensure_future(http(api, "post", "/api/cogs/load", {"cog_name": "Moderation"}))
    command = await bot.receive_json_from(timeout=3)
    assert command["type"] == "cog.command"
    assert command["action"] == "load"
    assert command["cog"] == "Moderation"
    loaded = [{"name": "General", "loaded": True}, {"name": "Moderation", "loaded": True}]
    await bot.send_json_to({"type": "cog.result", "id": command["id"], "ok": True, "detail": "Loaded", "cogs": loaded})
    response = await request
    assert response.status_code == 200
    assert response.json()["success"] is True
    assert response.json()["cogs"] == loaded
    state = await sync_to_async(BotState.objects.get)(pk=1)
    assert state.cogs == loaded
    await bot.disconnect()


async def test_a_refusal_of_the_bot_is_a_409_with_its_reason(bot_token, admin_user, client_for):
    bot = await connect_bot(bot_token)
    api = await sync_to_async(client_for)(admin_user)
    request = asyncio.ensure_future(http(api, "post", "/api/cogs/unload", {"cog_name": "Moderation"}))
    command = await bot.receive_json_from(timeout=3)
    await bot.send_json_to({"type": "cog.result", "id": command["id"], "ok": False, "detail": "Not loaded"})
    response = await request
    assert response.status_code == 409
    assert response.json()["detail"] == "Not loaded"
    await bot.disconnect()


async def test_a_cog_the_bot_never_reported_is_refused_without_reaching_it(bot_token, admin_user, client_for):
    bot = await connect_bot(bot_token)
    api = await sync_to_async(client_for)(admin_user)
    response = await http(api, "post", "/api/cogs/load", {"cog_name": "os.system"})
    assert response.status_code == 400
    assert await bot.receive_nothing(timeout=0.2)
    await bot.disconnect()


async def test_cog_commands_need_the_admin_role(bot_token, moderator, client_for):
    bot = await connect_bot(bot_token)
    api = await sync_to_async(client_for)(moderator)
    assert (await http(api, "post", "/api/cogs/load", {"cog_name": "Moderation"})).status_code == 403
    assert (await http(api, "get", "/api/cogs")).status_code == 403
    await bot.disconnect()


async def test_without_a_bot_a_cog_command_is_503(admin_user, client_for):
    api = await sync_to_async(client_for)(admin_user)
    response = await http(api, "post", "/api/cogs/reload", {"cog_name": "General"})
    assert response.status_code == 503
    assert response.json()["detail"] == "bot offline"


async def test_after_the_bot_disconnects_commands_are_503(bot_token, admin_user, client_for):
    bot = await connect_bot(bot_token)
    await bot.disconnect()
    api = await sync_to_async(client_for)(admin_user)
    assert (await http(api, "post", "/api/cogs/reload", {"cog_name": "General"})).status_code == 503


async def test_a_bot_that_does_not_answer_in_time_is_504(bot_token, admin_user, client_for, settings):
    settings.BOT_COMMAND_TIMEOUT = 0.3
    bot = await connect_bot(bot_token)
    api = await sync_to_async(client_for)(admin_user)
    response = await http(api, "post", "/api/cogs/reload", {"cog_name": "General"})
    assert response.status_code == 504
    assert (await bot.receive_json_from(timeout=1))["type"] == "cog.command"
    await bot.disconnect()


async def test_a_stale_heartbeat_counts_as_offline(bot_token, admin_user, client_for, settings):
    bot = await connect_bot(bot_token)
    settings.BOT_HEARTBEAT_TIMEOUT = 0
    await asyncio.sleep(0.01)
    api = await sync_to_async(client_for)(admin_user)
    assert (await http(api, "post", "/api/cogs/reload", {"cog_name": "General"})).status_code == 503
    await bot.disconnect()


async def test_a_config_change_reaches_the_bot_after_commit(bot_token, admin_user, client_for):
    bot = await connect_bot(bot_token)
    api = await sync_to_async(client_for)(admin_user)
    response = await http(api, "put", "/api/config/general", {"command_prefix": "?"})
    assert response.status_code == 200
    event = await bot.receive_json_from(timeout=3)
    assert event["type"] == "config.updated"
    assert event["section"] == "general"
    assert event["version"] == 2
    assert event["config"]["command_prefix"] == "?"
    await bot.disconnect()


async def test_a_refused_config_change_sends_nothing_to_the_bot(bot_token, admin_user, client_for):
    bot = await connect_bot(bot_token)
    api = await sync_to_async(client_for)(admin_user)
    assert (await http(api, "put", "/api/config/general", {"command_prefix": 1})).status_code == 400
    assert await bot.receive_nothing(timeout=0.2)
    await bot.disconnect()
