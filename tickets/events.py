"""Room events: what the ``/ws/tickets/`` sockets in a ticket's room hear.

Everything is sent after the surrounding transaction commits, so no client hears
of a message that was rolled back.
"""

from __future__ import annotations

import json
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger("voidsite.tickets")

EVENT_HANDLER = "ticket.event"  # -> TicketConsumer.ticket_event


def room_group(ticket_id) -> str:
    return f"ticket.{int(ticket_id)}"


def room_event(payload: dict, *, exclude_channel: str | None = None) -> dict:
    """The channel-layer message carrying ``payload`` to a room.

    The JSON text is encoded here, once per event, and every socket in the room sends that same
    text: with ``send_json`` each of N sockets encoded it again. The handler only needs the event's
    kind and ticket besides (``ticket_deleted`` makes sockets leave the room).
    """
    return {
        "type": EVENT_HANDLER,
        "text": json.dumps(payload),
        "event": payload.get("type"),
        "ticket_id": payload.get("ticket_id"),
        "exclude": exclude_channel,
    }


def room_send_now(ticket_id, payload: dict, *, exclude_channel: str | None = None) -> None:
    """Send ``payload`` to every socket in the room (sync code; a failing layer is logged, never raised)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(room_group(ticket_id), room_event(payload, exclude_channel=exclude_channel))
    except Exception:  # a full or unreachable channel layer must not fail the write that already committed
        log.exception("tickets: room event for ticket %s was not delivered", ticket_id)


def room_send(ticket_id, payload: dict, *, exclude_channel: str | None = None) -> None:
    """Send ``payload`` to the room once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: room_send_now(ticket_id, payload, exclude_channel=exclude_channel))
