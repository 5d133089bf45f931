"""What meters and charges. Credits and tokens are integers; every change to a
balance is a conditional ``UPDATE`` and leaves a :class:`LedgerEntry`."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class PrincipalKind(models.TextChoices):
    DEVICE = "device", "Anonymous device"
    PRO_TOKEN = "pro", "Pro token"
    USER = "user", "User"
    API_KEY = "api_key", "User API key"


class EntryKind(models.TextChoices):
    USAGE = "usage", "Usage"
    GRANT = "grant", "Grant"
    ADJUSTMENT = "adjustment", "Adjustment"


class Outcome(models.TextChoices):
    RESERVED = "reserved", "Reserved (in flight)"
    COMPLETED = "completed", "Completed"
    CLIENT_DISCONNECTED = "client_disconnected", "Client disconnected"
    UPSTREAM_ERROR = "upstream_error", "Upstream error"
    REFUSED = "refused", "Refused"
    ORPHANED = "orphaned", "Orphaned (settled by sweep)"
    GRANTED = "granted", "Granted"


class ProToken(models.Model):
    """A VOID pro token. Only the SHA-256 of the raw token is stored."""

    token_hash = models.CharField(max_length=64, unique=True)
    credits_total = models.PositiveIntegerField(default=0)
    credits_left = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(credits_left__gte=0), name="pro_credits_never_negative")]

    def __str__(self) -> str:
        return f"pro {self.token_hash[:12]}… ({self.credits_left} left)"


class TokenBalance(models.Model):
    """A user's token balance (ByteChat): ``left = total - used - reserved``."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="token_balance")
    total_tokens = models.BigIntegerField(default=0)
    tokens_used = models.BigIntegerField(default=0)
    tokens_reserved = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(tokens_used__gte=0) & Q(tokens_reserved__gte=0) & Q(total_tokens__gte=0),
                name="token_balance_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(total_tokens__gte=F("tokens_used") + F("tokens_reserved")),
                name="token_balance_never_overdrawn",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.tokens_left}/{self.total_tokens}"

    @property
    def tokens_left(self) -> int:
        return self.total_tokens - self.tokens_used - self.tokens_reserved


class LedgerEntry(models.Model):
    """One row per metered request and per grant. Never message contents.

    ``principal_ref`` is a hash (device HMAC, pro token hash, user id) so rows
    can be grouped without storing identities. ``(source, external_ref)`` is
    unique when set, so a replayed grant (webhook redelivery) is harmless.
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    kind = models.CharField(max_length=16, choices=EntryKind.choices, default=EntryKind.USAGE)
    principal_kind = models.CharField(max_length=16, choices=PrincipalKind.choices)
    principal_ref = models.CharField(max_length=64, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    pro_token = models.ForeignKey(ProToken, null=True, blank=True, on_delete=models.SET_NULL)
    model = models.CharField(max_length=128, blank=True)
    endpoint = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=24, choices=Outcome.choices, db_index=True)
    # Signed amounts: negative is spent, positive is granted or refunded.
    credits = models.IntegerField(default=0)
    tokens = models.BigIntegerField(default=0)
    tokens_reserved = models.BigIntegerField(default=0)
    prompt_tokens = models.IntegerField(default=0)
    completion_tokens = models.IntegerField(default=0)
    ttfb_ms = models.IntegerField(null=True, blank=True)
    duration_ms = models.IntegerField(null=True, blank=True)
    source = models.CharField(max_length=32, blank=True)
    external_ref = models.CharField(max_length=128, blank=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["outcome", "created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_ref"], condition=~Q(external_ref=""), name="ledger_unique_external_ref"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.principal_kind} {self.outcome} {self.created_at:%Y-%m-%d %H:%M}"
