"""Ticket writes: open, post, read, close, reopen, delete, auto-close, transcripts.

Every write that others should hear of sends its room event and push after the
transaction commits (``transaction.on_commit``).
"""

from __future__ import annotations

import html
import logging
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from accounts import push
from accounts.models import Role
from botconfig.selectors import config_get
from tickets import events, presence, selectors
from tickets.models import MessageSource, Ticket, TicketMessage, TicketReadState, TicketStatus, Transcript

log = logging.getLogger("voidsite.tickets")

MAX_CONTENT = 4000
MAX_SUBJECT = 200
PUSH_BODY_CHARS = 120


class TicketError(Exception):
    """A refused ticket operation; ``status`` is the HTTP status that says why."""

    status = 400

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class TicketNotFound(TicketError):
    status = 404

    def __init__(self, detail: str = "Ticket not found."):
        super().__init__(detail)


class TicketForbidden(TicketError):
    status = 403


class TicketConflict(TicketError):
    status = 409


def _clean_content(content) -> str:
    if not isinstance(content, str) or not content.strip():
        raise TicketError("Message text is required.")
    content = content.strip()
    if len(content) > MAX_CONTENT:
        raise TicketError(f"Message text is limited to {MAX_CONTENT} characters.")
    return content


def _mark_read_upto(*, ticket_id: int, user_id: int, message_id: int) -> None:
    """Move a reader's position forward to ``message_id`` (never back; safe under concurrency)."""
    updated = TicketReadState.objects.filter(ticket_id=ticket_id, user_id=user_id).update(
        last_read_message_id=Greatest(F("last_read_message_id"), Value(message_id)), updated_at=timezone.now()
    )
    if updated:
        return
    try:
        with transaction.atomic():
            TicketReadState.objects.create(ticket_id=ticket_id, user_id=user_id, last_read_message_id=message_id)
    except IntegrityError:  # another request created it first: move that one forward instead
        TicketReadState.objects.filter(ticket_id=ticket_id, user_id=user_id).update(
            last_read_message_id=Greatest(F("last_read_message_id"), Value(message_id))
        )


def _announce_message(message: TicketMessage) -> None:
    payload = selectors.message_payload(message)
    events.room_send(
        message.ticket_id,
        {"type": "new_message", "ticket_id": payload["ticket_id"], "message": payload, "messageData": payload},
    )
    if push.push_enabled():
        transaction.on_commit(lambda: push.run_in_background(ticket_message_push, message_id=message.pk))


def _add_message(
    *, ticket: Ticket, author, content: str, source: str, external_name: str = "", external_id: str = ""
) -> TicketMessage:
    """Insert a message into a ticket the caller holds locked, and bump its activity time."""
    now = timezone.now()
    message = TicketMessage.objects.create(
        ticket=ticket,
        author=author,
        content=content,
        source=source,
        created_at=now,
        external_author_name=external_name[:100],
        external_author_id=external_id[:32],
    )
    Ticket.objects.filter(pk=ticket.pk).update(updated_at=now)
    ticket.updated_at = now
    if author is not None:
        _mark_read_upto(ticket_id=ticket.pk, user_id=author.pk, message_id=message.pk)
    _announce_message(message)
    return message


def ticket_open(
    *, owner, subject: str, content: str, category: str = "general", source: str = MessageSource.WEB
) -> Ticket:
    """Open a ticket with its first message, within the ``tickets`` config's ``max_open_per_user``.

    Locks the owner's user row, so two simultaneous opens cannot both pass the limit.
    """
    config = config_get("tickets")
    if not config.get("enabled", True):
        raise TicketForbidden("Tickets are disabled.")
    if not isinstance(subject, str) or not subject.strip():
        raise TicketError("A subject is required.")
    subject = subject.strip()
    if len(subject) > MAX_SUBJECT:
        raise TicketError(f"The subject is limited to {MAX_SUBJECT} characters.")
    content = _clean_content(content)
    category = (category or "general").strip()[:50] or "general"
    limit = int(config.get("max_open_per_user") or 0)
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
        if (
            limit > 0
            and owner.role not in (Role.ADMIN, Role.MODERATOR)
            and selectors.ticket_open_count(user=owner) >= limit
        ):
            raise TicketConflict(f"You already have {limit} open tickets; close one before opening another.")
        ticket = Ticket.objects.create(owner=owner, subject=subject, category=category)
        _add_message(ticket=ticket, author=owner, content=content, source=source)
    return ticket


def ticket_message_send(
    *, ticket_id: int, author, content, source: str, external_name: str = "", external_id: str = ""
) -> TicketMessage:
    """Post in a ticket the author may access. Locks the ticket row, so a message never lands after a close."""
    content = _clean_content(content)
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().filter(pk=ticket_id).first()
        if ticket is None or not selectors.ticket_can_access(ticket=ticket, user=author):
            raise TicketNotFound()
        if ticket.status != TicketStatus.OPEN:
            raise TicketConflict("The ticket is closed; reopen it to write.")
        return _add_message(
            ticket=ticket,
            author=author,
            content=content,
            source=source,
            external_name=external_name,
            external_id=external_id,
        )


def ticket_mark_read(*, ticket: Ticket, user) -> int:
    """Mark everything in the ticket as read by ``user``; returns the last message id read.

    The room hears a ``read_receipt`` after commit.
    """
    last = TicketMessage.objects.filter(ticket=ticket).order_by("-id").values_list("id", flat=True).first() or 0
    with transaction.atomic():
        _mark_read_upto(ticket_id=ticket.pk, user_id=user.pk, message_id=last)
        events.room_send(
            ticket.pk,
            {
                "type": "read_receipt",
                "ticket_id": str(ticket.pk),
                "user_id": selectors.user_public_id(user),
                "user_name": user.username,
                "last_read_message_id": str(last),
            },
        )
    return last


def _status_event(ticket: Ticket) -> None:
    events.room_send(ticket.pk, {"type": "ticket_status", "ticket_id": str(ticket.pk), "status": ticket.status})


def ticket_close(*, ticket_id: int, by, note: str = "") -> Ticket:
    """Close an open ticket (staff, or the system when ``by`` is None) with a system message, and store a
    transcript when the ``tickets`` config has ``transcript_enabled``. Locks the ticket row."""
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().select_related("owner").filter(pk=ticket_id).first()
        if ticket is None:
            raise TicketNotFound()
        if ticket.status == TicketStatus.CLOSED:
            raise TicketConflict("The ticket is already closed.")
        who = by.username if by is not None else "the system"
        _add_message(
            ticket=ticket, author=None, content=note or f"Ticket closed by {who}.", source=MessageSource.SYSTEM
        )
        now = timezone.now()
        ticket.status, ticket.closed_at, ticket.closed_by, ticket.updated_at = TicketStatus.CLOSED, now, by, now
        ticket.save(update_fields=["status", "closed_at", "closed_by", "updated_at"])
        if config_get("tickets").get("transcript_enabled", True):
            transcript_create(ticket=ticket)
        _status_event(ticket)
    return ticket


def ticket_reopen(*, ticket_id: int, by) -> Ticket:
    """Reopen a closed ticket (its owner or staff). The owner stays within ``max_open_per_user``.

    Locks the owner's row, then the ticket row.
    """
    with transaction.atomic():
        ticket = Ticket.objects.select_related("owner").filter(pk=ticket_id).first()
        if ticket is None or not selectors.ticket_can_access(ticket=ticket, user=by):
            raise TicketNotFound()
        if not selectors.staff_or_owner(ticket=ticket, user=by):
            raise TicketForbidden("Only the ticket's owner or staff can reopen it.")
        get_user_model().objects.select_for_update().filter(pk=ticket.owner_id).first()
        ticket = Ticket.objects.select_for_update().select_related("owner").get(pk=ticket.pk)
        if ticket.status == TicketStatus.OPEN:
            raise TicketConflict("The ticket is already open.")
        limit = int(config_get("tickets").get("max_open_per_user") or 0)
        if not selectors.user_is_staff(by) and limit > 0 and selectors.ticket_open_count(user=ticket.owner) >= limit:
            raise TicketConflict(f"You already have {limit} open tickets; close one before reopening another.")
        ticket.status, ticket.closed_at, ticket.closed_by = TicketStatus.OPEN, None, None
        ticket.save(update_fields=["status", "closed_at", "closed_by"])
        _add_message(
            ticket=ticket, author=None, content=f"Ticket reopened by {by.username}.", source=MessageSource.SYSTEM
        )
        _status_event(ticket)
    return ticket


def ticket_delete(*, ticket_id: int) -> None:
    """Delete a ticket with its messages and transcripts (admin)."""
    with transaction.atomic():
        deleted, _ = Ticket.objects.filter(pk=ticket_id).delete()
        if not deleted:
            raise TicketNotFound()
        events.room_send(ticket_id, {"type": "ticket_deleted", "ticket_id": str(ticket_id)})


def tickets_close_stale(*, now=None) -> list[int]:
    """Close open tickets idle for the ``tickets`` config's ``auto_close_hours`` (0 = never).

    Safe to run from cron, even twice at once: each ticket is re-checked under its
    row lock (``skip_locked``: a ticket another run is closing is left to it).
    """
    hours = int(config_get("tickets").get("auto_close_hours") or 0)
    if hours <= 0:
        return []
    cutoff = (now or timezone.now()) - timedelta(hours=hours)
    candidates = list(
        Ticket.objects.filter(status=TicketStatus.OPEN, updated_at__lt=cutoff)
        .order_by("id")
        .values_list("id", flat=True)
    )
    closed = []
    note = f"Ticket closed automatically after {hours} hours without activity."
    for ticket_id in candidates:
        with transaction.atomic():
            locked = (
                Ticket.objects.select_for_update(skip_locked=True)
                .filter(pk=ticket_id, status=TicketStatus.OPEN, updated_at__lt=cutoff)
                .first()
            )
            if locked is None:
                continue
            ticket_close(ticket_id=ticket_id, by=None, note=note)
            closed.append(ticket_id)
    return closed


# --- transcripts ------------------------------------------------------------------------


def _transcript_line(message: TicketMessage) -> tuple[str, str, str]:
    payload = selectors.message_payload(message)
    return payload["timestamp"], payload["author_name"], message.content


def transcript_create(*, ticket: Ticket) -> Transcript:
    """Render the whole conversation as plain text and as a standalone HTML page."""
    lines = [
        _transcript_line(m)
        for m in TicketMessage.objects.filter(ticket=ticket).select_related("author").order_by("id").iterator()
    ]
    header = f"Ticket #{ticket.pk}: {ticket.subject} ({ticket.category}) opened by {ticket.owner.username} at {ticket.created_at:%Y-%m-%d %H:%M} UTC"
    text = "\n".join([header, "", *(f"[{ts}] {name}: {content}" for ts, name, content in lines)]) + "\n"
    rows = "\n".join(
        f'<div class="m"><span class="t">{html.escape(ts)}</span> <b>{html.escape(name)}</b>'
        f"<p>{html.escape(content).replace(chr(10), '<br>')}</p></div>"
        for ts, name, content in lines
    )
    page = (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>Ticket #{ticket.pk} transcript</title>"
        "<style>body{font-family:sans-serif;max-width:50em;margin:auto}.t{color:#777;font-size:.8em}"
        ".m{border-bottom:1px solid #eee;padding:.4em 0}p{margin:.2em 0}</style></head><body>"
        f"<h1>{html.escape(header)}</h1>\n{rows}\n</body></html>\n"
    )
    return Transcript.objects.create(ticket=ticket, message_count=len(lines), text=text, html=page)


# --- push --------------------------------------------------------------------------------


def ticket_message_push(*, message_id: int) -> None:
    """Push a new message to the ticket's participants who are not in its room right now
    (runs in the background after commit; a failing FCM is logged by ``accounts.push``)."""
    message = TicketMessage.objects.select_related("ticket", "author").filter(pk=message_id).first()
    if message is None:
        return
    ticket = message.ticket
    recipients = [uid for uid in selectors.ticket_participant_ids(ticket=ticket) if uid != message.author_id]
    present = presence.users_present(ticket_id=ticket.pk, user_ids=recipients)
    recipients = [uid for uid in recipients if uid not in present]
    if not recipients:
        return
    payload = selectors.message_payload(message)
    body = message.content if len(message.content) <= PUSH_BODY_CHARS else message.content[: PUSH_BODY_CHARS - 1] + "…"
    push.push_send(
        user_ids=recipients,
        title=f"{payload['author_name']} · Ticket #{ticket.pk}",
        body=body,
        data={"type": "ticket_message", "ticket_id": str(ticket.pk), "message_id": str(message.pk)},
    )
