"""``/ws/tickets/``: live ticket rooms carrying HazeBot's Socket.IO events as JSON.

Client → server: ``join_ticket``, ``leave_ticket``, ``send_message``, ``typing``,
``mark_read``, ``load_history`` (older pages), ``ping``. Server → client:
``message_history``, ``new_message`` ``{ticket_id, message, messageData}``,
``typing``, ``read_receipt``, ``ticket_status``, ``ticket_deleted``,
``message_sent``, ``left_ticket``, ``error``. A refused join is an ``error``
event and the socket stays open.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.conf import settings

from accounts.models import Role
from accounts.ws import AuthenticatedJsonConsumer
from tickets import events, presence, selectors, services
from tickets.models import MessageSource


@database_sync_to_async
def _ticket_for(ticket_id, user):
    return selectors.ticket_get_for_user(ticket_id=ticket_id, user=user)


@database_sync_to_async
def _history(ticket, before, limit):
    messages, has_more = selectors.message_page(ticket=ticket, before=before, limit=limit)
    return [selectors.message_payload(m) for m in messages], has_more


@database_sync_to_async
def _send(ticket_id, user, content, source):
    return selectors.message_payload(
        services.ticket_message_send(ticket_id=ticket_id, author=user, content=content, source=source)
    )


@database_sync_to_async
def _mark_read(ticket, user):
    return services.ticket_mark_read(ticket=ticket, user=user)


def _as_id(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


class TicketConsumer(AuthenticatedJsonConsumer):
    rooms: set[int]

    async def connect(self):
        self.rate_per_second = settings.TICKETS_WS_RATE
        self.rate_burst = settings.TICKETS_WS_BURST
        self.rooms = set()
        self._renewal = None
        await super().connect()

    async def on_authenticated(self):
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        platform = (query.get("platform") or [""])[0].lower()
        if self.user.role == Role.BOT:
            self.source = MessageSource.DISCORD
        else:
            self.source = MessageSource.APP if platform in ("android", "ios", "app") else MessageSource.WEB
        self._renewal = asyncio.create_task(self._renew_presence())
        return True

    async def on_message(self, content):
        handler = {
            "join_ticket": self.join_ticket,
            "leave_ticket": self.leave_ticket,
            "send_message": self.send_message,
            "typing": self.typing,
            "mark_read": self.mark_read,
            "load_history": self.load_history,
        }.get(content["type"])
        if content["type"] == "ping":
            await self.send_json({"type": "pong"})
        elif handler is None:
            await super().on_message(content)
        else:
            await handler(content)

    async def _refuse(self, event: str, ticket_id, detail: str = "Ticket not found."):
        await self.send_error(detail, event=event, ticket_id=str(ticket_id) if ticket_id is not None else None)

    # --- client events ---------------------------------------------------------------
    async def join_ticket(self, content):
        ticket_id = _as_id(content.get("ticket_id"))
        ticket = await _ticket_for(ticket_id, self.user) if ticket_id else None
        if ticket is None:
            await self._refuse("join_ticket", content.get("ticket_id"))
            return
        # Join first, then read the history: a message posted in between arrives twice
        # at worst (clients de-duplicate by id), never not at all.
        await self.channel_layer.group_add(events.room_group(ticket.pk), self.channel_name)
        self.rooms.add(ticket.pk)
        await presence.join(ticket_id=ticket.pk, user_id=self.user.pk, channel_name=self.channel_name)
        messages, has_more = await _history(ticket, None, selectors.HISTORY_PAGE)
        await self.send_json(
            {"type": "message_history", "ticket_id": str(ticket.pk), "messages": messages, "has_more": has_more}
        )

    async def load_history(self, content):
        ticket_id = _as_id(content.get("ticket_id"))
        ticket = await _ticket_for(ticket_id, self.user) if ticket_id else None
        if ticket is None:
            await self._refuse("load_history", content.get("ticket_id"))
            return
        before = _as_id(content.get("before"))
        messages, has_more = await _history(ticket, before, selectors.HISTORY_PAGE)
        await self.send_json(
            {
                "type": "message_history",
                "ticket_id": str(ticket.pk),
                "messages": messages,
                "has_more": has_more,
                "before": str(before) if before else None,
            }
        )

    async def leave_ticket(self, content):
        ticket_id = _as_id(content.get("ticket_id"))
        if ticket_id in self.rooms:
            await self._leave(ticket_id)
        await self.send_json({"type": "left_ticket", "ticket_id": str(content.get("ticket_id"))})

    async def send_message(self, content):
        ticket_id = _as_id(content.get("ticket_id"))
        if ticket_id is None:
            await self._refuse("send_message", content.get("ticket_id"))
            return
        try:
            payload = await _send(ticket_id, self.user, content.get("message"), self.source)
        except services.TicketError as exc:
            await self.send_error(exc.detail, event="send_message", ticket_id=str(ticket_id))
            return
        await self.send_json(
            {
                "type": "message_sent",
                "ticket_id": str(ticket_id),
                "message": payload,
                "client_id": content.get("client_id"),
            }
        )

    async def typing(self, content):
        ticket_id = _as_id(content.get("ticket_id"))
        if ticket_id not in self.rooms:
            await self._refuse("typing", content.get("ticket_id"), "Join the ticket first.")
            return
        await self.channel_layer.group_send(
            events.room_group(ticket_id),
            events.room_event(
                {
                    "type": "typing",
                    "ticket_id": str(ticket_id),
                    "user_id": selectors.user_public_id(self.user),
                    "user_name": self.user.username,
                    "is_typing": content.get("is_typing", True) is not False,
                },
                exclude_channel=self.channel_name,
            ),
        )

    async def mark_read(self, content):
        ticket_id = _as_id(content.get("ticket_id"))
        ticket = await _ticket_for(ticket_id, self.user) if ticket_id else None
        if ticket is None:
            await self._refuse("mark_read", content.get("ticket_id"))
            return
        await _mark_read(ticket, self.user)

    # --- room events -------------------------------------------------------------------
    async def ticket_event(self, event):
        """A room event (``events.room_event``): its JSON text was encoded once by the sender."""
        if event.get("exclude") == self.channel_name:
            return
        if event.get("event") == "ticket_deleted":
            ticket_id = _as_id(event.get("ticket_id"))
            if ticket_id in self.rooms:
                await self._leave(ticket_id)
        await self.send(text_data=event["text"])

    # --- bookkeeping -------------------------------------------------------------------
    async def _leave(self, ticket_id: int):
        self.rooms.discard(ticket_id)
        await self.channel_layer.group_discard(events.room_group(ticket_id), self.channel_name)
        await presence.leave(ticket_id=ticket_id, user_id=self.user.pk, channel_name=self.channel_name)

    async def _renew_presence(self):
        interval = max(settings.TICKETS_PRESENCE_TTL / 3, 1)
        while True:
            await asyncio.sleep(interval)
            for ticket_id in list(self.rooms):
                await presence.renew(ticket_id=ticket_id, user_id=self.user.pk)

    async def on_disconnect(self, code):
        if self._renewal is not None:
            self._renewal.cancel()
        for ticket_id in list(self.rooms):
            await self._leave(ticket_id)
