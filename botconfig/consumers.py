"""``/ws/bot/``: the Discord bot's channel.

Only the bot's service account (role ``bot``) may connect. Messages from the bot:

- ``{"type": "hello"|"heartbeat", "guilds"?, "members"?, "uptime"?, "cogs"?}``
  → stored (admin stats), answered by ``hello.ok`` (with the whole config) or
  ``heartbeat.ack``;
- ``{"type": "cogs", "cogs": [{"name", "loaded"}]}`` → the available cogs;
- ``{"type": "cog.result", "id", "ok", "detail"?, "cogs"?}`` → answer to a command.

To the bot: ``cog.command`` ``{id, action, cog}``, ``config.updated``
``{section, version, config}``, ``rank.changed``.
"""

from __future__ import annotations

from channels.db import database_sync_to_async

from accounts.models import Role
from accounts.ws import AuthenticatedJsonConsumer
from botconfig import selectors, services

BOT_GROUP = services.BOT_GROUP
MAX_COGS = 500
MAX_COUNT = 10**9


def _count(value, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise ValueError(f'"{name}" must be a non-negative integer.')
    return value


def _cogs(value) -> list[dict] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_COGS:
        raise ValueError(f'"cogs" must be a list of at most {MAX_COGS} objects.')
    cogs = []
    for item in value:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not 0 < len(name) <= 100 or not isinstance(item.get("loaded"), bool):
            raise ValueError('Each cog must be {"name": string (1-100 chars), "loaded": boolean}.')
        cogs.append({"name": name, "loaded": item["loaded"]})
    return cogs


class BotConsumer(AuthenticatedJsonConsumer):
    _pending: dict[str, str]
    _is_bot = False

    async def on_authenticated(self):
        if self.user.role != Role.BOT:
            return False
        self._is_bot, self._pending = True, {}
        await self.channel_layer.group_add(BOT_GROUP, self.channel_name)
        await database_sync_to_async(services.bot_connected)(channel_name=self.channel_name)
        return True

    async def on_message(self, content):
        kind = content["type"]
        try:
            if kind in ("hello", "heartbeat"):
                await self._report(content)
                if kind == "hello":
                    config = await database_sync_to_async(selectors.config_get_all)()
                    await self.send_json({"type": "hello.ok", "config": config})
                else:
                    await self.send_json({"type": "heartbeat.ack"})
            elif kind == "cogs":
                if content.get("cogs") is None:
                    raise ValueError('"cogs" is required.')
                await self._report(content)
            elif kind == "cog.result":
                await self._cog_result(content)
            else:
                await super().on_message(content)
        except ValueError as exc:
            await self.send_error(str(exc))

    async def _report(self, content):
        await database_sync_to_async(services.bot_report)(
            channel_name=self.channel_name,
            guilds=_count(content.get("guilds"), "guilds"),
            members=_count(content.get("members"), "members"),
            uptime=_count(content.get("uptime"), "uptime"),
            cogs=_cogs(content.get("cogs")),
        )

    async def _cog_result(self, content):
        reply_channel = self._pending.pop(content.get("id"), None) if isinstance(content.get("id"), str) else None
        if reply_channel is None:
            raise ValueError("No pending command with that id.")
        cogs = _cogs(content.get("cogs"))
        if cogs is not None:
            await database_sync_to_async(services.bot_report)(channel_name=self.channel_name, cogs=cogs)
        detail = content.get("detail")
        await self.channel_layer.send(
            reply_channel,
            {
                "type": "cog.result",
                "ok": content.get("ok") is True,
                "detail": detail[:500] if isinstance(detail, str) else "",
                "cogs": cogs,
            },
        )

    async def on_disconnect(self, code):
        if not self._is_bot:
            return
        await self.channel_layer.group_discard(BOT_GROUP, self.channel_name)
        await database_sync_to_async(services.bot_disconnected)(channel_name=self.channel_name)
        for reply_channel in self._pending.values():
            await self.channel_layer.send(
                reply_channel, {"type": "cog.result", "ok": False, "offline": True, "detail": "bot disconnected"}
            )
        self._pending.clear()

    # --- channel-layer handlers ---------------------------------------------------
    async def cog_command(self, event):
        self._pending[event["id"]] = event["reply_channel"]
        await self.send_json({"type": "cog.command", "id": event["id"], "action": event["action"], "cog": event["cog"]})

    async def bot_event(self, event):
        await self.send_json(event["payload"])
