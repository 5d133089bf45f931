"""Billing writes. Every balance change is one conditional UPDATE plus a ledger
row in the same transaction; nothing reads a balance and writes it back."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from billing.models import EntryKind, LedgerEntry, Outcome, PrincipalKind, ProToken, TokenBalance

PRO_TOKEN_PREFIX = "void_"  # noqa: S105 (a public prefix, not a secret)


def pro_token_hash(raw: str) -> str:
    """SHA-256 of a raw pro token, as the VOID seed stores it."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class DuplicateGrant(Exception):
    """A grant with this ``(source, external_ref)`` was already recorded."""


def _grant_entry(**fields) -> LedgerEntry:
    try:
        with transaction.atomic():
            return LedgerEntry.objects.create(kind=EntryKind.GRANT, outcome=Outcome.GRANTED, **fields)
    except IntegrityError as exc:
        raise DuplicateGrant(f"{fields.get('source')}:{fields.get('external_ref')}") from exc


@transaction.atomic
def pro_token_issue(
    *, credits: int, source: str = "", external_ref: str = "", raw: str | None = None
) -> tuple[str, ProToken]:
    """Create a pro token with ``credits``. Returns the raw token (show it once) and the row.

    ``raw`` lets a caller that derives the token itself (a claim retried with its
    claim secret) choose it; by default it is random. Raises DuplicateGrant when
    ``(source, external_ref)`` was already granted.
    """
    if credits <= 0:
        raise ValueError("credits must be positive")
    if raw is None:
        raw = PRO_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ProToken.objects.create(token_hash=pro_token_hash(raw), credits_total=credits, credits_left=credits)
    _grant_entry(
        principal_kind=PrincipalKind.PRO_TOKEN,
        principal_ref=token.token_hash,
        pro_token=token,
        credits=credits,
        source=source,
        external_ref=external_ref,
    )
    return raw, token


@transaction.atomic
def pro_credits_grant(
    *, token: ProToken, credits: int, source: str = "", external_ref: str = "", note: str = ""
) -> None:
    """Add ``credits`` to an existing pro token (admin grant, top-up)."""
    if credits <= 0:
        raise ValueError("credits must be positive")
    _grant_entry(
        principal_kind=PrincipalKind.PRO_TOKEN,
        principal_ref=token.token_hash,
        pro_token=token,
        credits=credits,
        source=source,
        external_ref=external_ref,
        note=note,
    )
    ProToken.objects.filter(pk=token.pk).update(
        credits_left=F("credits_left") + credits, credits_total=F("credits_total") + credits
    )


def token_balance_for(*, user) -> TokenBalance:
    """The user's balance row, created with ``DEFAULT_USER_TOKENS`` on first use (race-safe)."""
    balance, _ = TokenBalance.objects.get_or_create(user=user, defaults={"total_tokens": settings.DEFAULT_USER_TOKENS})
    return balance


@transaction.atomic
def user_tokens_grant(*, user, tokens: int, source: str = "", external_ref: str = "", note: str = "") -> None:
    """Add ``tokens`` to a user's total (top-up, admin grant)."""
    if tokens <= 0:
        raise ValueError("tokens must be positive")
    balance = token_balance_for(user=user)
    _grant_entry(
        principal_kind=PrincipalKind.USER,
        principal_ref=str(user.pk),
        user=user,
        tokens=tokens,
        source=source,
        external_ref=external_ref,
        note=note,
    )
    TokenBalance.objects.filter(pk=balance.pk).update(total_tokens=F("total_tokens") + tokens)
