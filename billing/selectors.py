"""Billing reads."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from billing.models import EntryKind, LedgerEntry, Outcome


def usage_per_day(*, days: int = 30) -> list[dict]:
    """Per day and principal kind: requests by outcome, tokens and credits (usage rows only)."""
    since = timezone.now() - timedelta(days=days)
    return list(
        LedgerEntry.objects.filter(kind=EntryKind.USAGE, created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day", "principal_kind")
        .annotate(
            requests=Count("pk"),
            completed=Count("pk", filter=Q(outcome=Outcome.COMPLETED)),
            refused=Count("pk", filter=Q(outcome=Outcome.REFUSED)),
            upstream_errors=Count("pk", filter=Q(outcome=Outcome.UPSTREAM_ERROR)),
            disconnected=Count("pk", filter=Q(outcome=Outcome.CLIENT_DISCONNECTED)),
            prompt_tokens=Sum("prompt_tokens", default=0),
            completion_tokens=Sum("completion_tokens", default=0),
            tokens_charged=-Sum("tokens", default=0),
            credits_spent=-Sum("credits", default=0),
        )
        .order_by("-day", "principal_kind")
    )
