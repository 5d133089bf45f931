"""Reads of the bot configuration, the bot's reported state and the admin stats."""

from __future__ import annotations

import copy
import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from botconfig.defaults import DEFAULTS
from botconfig.models import BotState, ConfigSection

log = logging.getLogger("voidsite.botconfig")


def config_get(name: str) -> dict:
    """A section's values: its defaults overlaid with what was saved. Raises KeyError for an unknown section."""
    if name not in DEFAULTS:
        raise KeyError(name)
    values = copy.deepcopy(DEFAULTS[name])
    saved = ConfigSection.objects.filter(name=name).values_list("data", flat=True).first()
    if saved:
        values.update(saved)
    return values


def config_get_versioned(name: str) -> tuple[dict, int]:
    """``(values, version)`` of a section; an unsaved section is version 1 (its defaults)."""
    if name not in DEFAULTS:
        raise KeyError(name)
    values = copy.deepcopy(DEFAULTS[name])
    row = ConfigSection.objects.filter(name=name).values("data", "version").first()
    if row is None:
        return values, 1
    values.update(row["data"] or {})
    return values, row["version"]


def config_get_all() -> dict[str, dict]:
    saved = dict(ConfigSection.objects.values_list("name", "data"))
    result = {}
    for name, defaults in DEFAULTS.items():
        values = copy.deepcopy(defaults)
        values.update(saved.get(name) or {})
        result[name] = values
    return result


def bot_state_get() -> BotState:
    return BotState.objects.filter(pk=1).first() or BotState(pk=1)


def bot_is_online(state: BotState) -> bool:
    """Connected and heard from within ``BOT_HEARTBEAT_TIMEOUT`` (a crashed worker leaves a stale row)."""
    if not state.channel_name or state.last_heartbeat_at is None:
        return False
    return timezone.now() - state.last_heartbeat_at <= timedelta(seconds=settings.BOT_HEARTBEAT_TIMEOUT)


def bot_available_cogs(state: BotState) -> set[str]:
    return {cog["name"] for cog in state.cogs or [] if isinstance(cog, dict) and isinstance(cog.get("name"), str)}


def ticket_counts() -> tuple[int, int]:
    """``(total_tickets, open_tickets)`` for the admin stats, in one query."""
    from django.db.models import Count, Q

    from tickets.models import Ticket, TicketStatus

    counts = Ticket.objects.aggregate(total=Count("pk"), open=Count("pk", filter=Q(status=TicketStatus.OPEN)))
    return counts["total"], counts["open"]


def admin_stats() -> dict:
    state = bot_state_get()
    online = bot_is_online(state)
    started = state.started_at or state.connected_at
    uptime = int((timezone.now() - started).total_seconds()) if online and started else 0
    total_tickets, open_tickets = ticket_counts()
    return {
        "bot_uptime": max(uptime, 0),
        "total_guilds": state.guild_count,
        "total_members": state.member_count,
        "total_tickets": total_tickets,
        "open_tickets": open_tickets,
        "bot_online": online,
    }


def usage_daily(*, days: int = 30) -> list[tuple]:
    """``(day, chats, tokens)`` for the last ``days`` days from the usage ledger, zero-filled.

    A chat is a usage row that was not refused; tokens are prompt + completion tokens.
    """
    from datetime import datetime, time

    from django.db.models import Count, F, Sum
    from django.db.models.functions import TruncDate

    from billing.models import EntryKind, LedgerEntry, Outcome

    today = timezone.now().date()
    start = today - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(start, time.min))
    rows = (
        LedgerEntry.objects.filter(kind=EntryKind.USAGE, created_at__gte=since)
        .exclude(outcome=Outcome.REFUSED)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(chats=Count("id"), tokens=Sum(F("prompt_tokens") + F("completion_tokens")))
        .order_by()
    )
    by_day = {row["day"]: (row["chats"], row["tokens"] or 0) for row in rows}
    series = []
    for i in range(days):
        day = start + timedelta(days=i)
        chats, tokens = by_day.get(day, (0, 0))
        series.append((day, chats, tokens))
    return series
