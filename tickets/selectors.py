"""Ticket reads: who may see what, lists with unread counts, history pages, payload shapes."""

from __future__ import annotations

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from accounts.models import Role
from tickets.models import Ticket, TicketMessage, TicketReadState, TicketStatus, Transcript

HISTORY_PAGE = 50
HISTORY_PAGE_MAX = 200
LIST_MAX = 500


def user_public_id(user) -> str:
    """The seed's ``user_id``: the Discord id where there is one (as ``/api/users/me`` says)."""
    return user.discord_id or str(user.pk)


def user_is_staff(user) -> bool:
    return getattr(user, "role", None) in (Role.ADMIN, Role.MODERATOR)


def user_reads_all_tickets(user) -> bool:
    """Moderators, admins and the Discord bot's service account see every ticket."""
    return getattr(user, "role", None) in (Role.ADMIN, Role.MODERATOR, Role.BOT)


def ticket_can_access(*, ticket: Ticket, user) -> bool:
    """Read and post: the owner, staff and the bot."""
    return user_reads_all_tickets(user) or ticket.owner_id == user.pk


def ticket_get_for_user(*, ticket_id, user) -> Ticket | None:
    """The ticket if it exists and ``user`` may see it; ``None`` otherwise (never says which)."""
    try:
        pk = int(ticket_id)
    except (TypeError, ValueError):
        return None
    ticket = Ticket.objects.select_related("owner").filter(pk=pk).first()
    if ticket is None or not ticket_can_access(ticket=ticket, user=user):
        return None
    return ticket


def ticket_list(*, user, status: str = "all") -> QuerySet[Ticket]:
    """Tickets visible to ``user`` (newest activity first) with ``last_message_text`` and ``unread``."""
    tickets = Ticket.objects.select_related("owner")
    if not user_reads_all_tickets(user):
        tickets = tickets.filter(owner=user)
    if status in (TicketStatus.OPEN, TicketStatus.CLOSED):
        tickets = tickets.filter(status=status)
    last_read = TicketReadState.objects.filter(ticket=OuterRef("pk"), user=user).values("last_read_message_id")[:1]
    unread = (
        TicketMessage.objects.filter(ticket=OuterRef("pk"), id__gt=OuterRef("my_last_read"))
        .exclude(author=user)
        .order_by()
        .values("ticket")
        .annotate(n=Count("id"))
        .values("n")
    )
    last_text = TicketMessage.objects.filter(ticket=OuterRef("pk")).order_by("-id").values("content")[:1]
    return tickets.annotate(
        my_last_read=Coalesce(Subquery(last_read), Value(0), output_field=IntegerField()),
        unread=Coalesce(Subquery(unread), Value(0), output_field=IntegerField()),
        last_message_text=Subquery(last_text),
    ).order_by("-updated_at", "-id")[:LIST_MAX]


def ticket_unread_count(*, ticket: Ticket, user) -> int:
    state = TicketReadState.objects.filter(ticket=ticket, user=user).values_list("last_read_message_id", flat=True)
    last_read = state.first() or 0
    return TicketMessage.objects.filter(ticket=ticket, id__gt=last_read).exclude(author=user).count()


def message_page(*, ticket: Ticket, before: int | None = None, limit: int = HISTORY_PAGE) -> tuple[list, bool]:
    """The newest ``limit`` messages (before message id ``before``), oldest first, and whether older ones exist.

    Uses the (ticket, id) index, so a page costs the same with 10 or 10,000 messages.
    """
    limit = max(1, min(limit, HISTORY_PAGE_MAX))
    messages = TicketMessage.objects.filter(ticket=ticket).select_related("author")
    if before is not None:
        messages = messages.filter(id__lt=before)
    page = list(messages.order_by("-id")[: limit + 1])
    has_more = len(page) > limit
    return list(reversed(page[:limit])), has_more


def ticket_participant_ids(*, ticket: Ticket) -> list[int]:
    """The owner and every person who wrote in the ticket (not the bot, not the system)."""
    authors = (
        TicketMessage.objects.filter(ticket=ticket, author__isnull=False)
        .exclude(author__role=Role.BOT)
        .values_list("author_id", flat=True)
        .distinct()
    )
    return sorted({ticket.owner_id, *authors})


def transcript_latest(*, ticket: Ticket) -> Transcript | None:
    return ticket.transcripts.first()


def ticket_open_count(*, user) -> int:
    return Ticket.objects.filter(owner=user, status=TicketStatus.OPEN).count()


# --- payload shapes (the HazeBot seed's field names) ---------------------------------


def _iso(dt) -> str | None:
    return dt.isoformat().replace("+00:00", "Z") if dt else None


def message_payload(message: TicketMessage) -> dict:
    author = message.author
    if message.source == "system" or author is None:
        author_id, name, avatar, is_admin = "system", "System", "", True
    else:
        author_id, name, avatar = user_public_id(author), author.username, author.avatar_url
        is_admin = user_is_staff(author)
        if message.external_author_name:  # relayed from Discord by the bot
            author_id = message.external_author_id or author_id
            name = message.external_author_name
    return {
        "id": str(message.pk),
        "ticket_id": str(message.ticket_id),
        "author_id": author_id,
        "author_name": name,
        "author_avatar": avatar,
        "content": message.content,
        "timestamp": _iso(message.created_at),
        "is_admin": is_admin,
        "source": message.source,
    }


def ticket_payload(ticket: Ticket) -> dict:
    return {
        "ticket_id": str(ticket.pk),
        "user_id": user_public_id(ticket.owner),
        "user_name": ticket.owner.username,
        "subject": ticket.subject,
        "category": ticket.category,
        "status": ticket.status,
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
        "closed_at": _iso(ticket.closed_at),
    }


def ticket_list_payload(ticket: Ticket) -> dict:
    return {
        **ticket_payload(ticket),
        "last_message": ticket.last_message_text or "",
        "unread_count": ticket.unread,
    }


def ticket_detail_payload(*, ticket: Ticket, user, before: int | None = None, limit: int = HISTORY_PAGE) -> dict:
    messages, has_more = message_page(ticket=ticket, before=before, limit=limit)
    return {
        **ticket_payload(ticket),
        "user_avatar": ticket.owner.avatar_url,
        "unread_count": ticket_unread_count(ticket=ticket, user=user),
        "messages": [message_payload(m) for m in messages],
        "has_more": has_more,
    }


def transcript_payload(transcript: Transcript) -> dict:
    return {
        "ticket_id": str(transcript.ticket_id),
        "created_at": _iso(transcript.created_at),
        "message_count": transcript.message_count,
        "text": transcript.text,
        "html": transcript.html,
    }


def staff_or_owner(*, ticket: Ticket, user) -> bool:
    return user_is_staff(user) or ticket.owner_id == user.pk
