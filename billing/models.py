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
    device = models.ForeignKey("AnonymousDevice", null=True, blank=True, on_delete=models.SET_NULL)
    api_key = models.ForeignKey("ApiKey", null=True, blank=True, on_delete=models.SET_NULL)
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
        indexes = [
            models.Index(fields=["outcome", "created_at"]),
            # In-flight streams of one principal (the concurrent-stream cap counts these).
            models.Index(
                fields=["principal_ref"], condition=Q(outcome="reserved"), name="ledger_inflight_by_principal"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_ref"], condition=~Q(external_ref=""), name="ledger_unique_external_ref"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.principal_kind} {self.outcome} {self.created_at:%Y-%m-%d %H:%M}"


# --- payments (BTCPay) ----------------------------------------------------------------


class InvoiceStatus(models.TextChoices):
    """BTCPay's invoice ``status``, as the Greenfield API spells it."""

    NEW = "New", "New"
    PROCESSING = "Processing", "Processing (paid, not yet confirmed)"
    EXPIRED = "Expired", "Expired"
    INVALID = "Invalid", "Invalid"
    SETTLED = "Settled", "Settled"


class InvoiceAdditionalStatus(models.TextChoices):
    """BTCPay's ``additionalStatus``: why an invoice is in its status."""

    NONE = "None", "None"
    PAID_LATE = "PaidLate", "Paid late"
    PAID_PARTIAL = "PaidPartial", "Paid partially"
    MARKED = "Marked", "Marked by the merchant"
    INVALID = "Invalid", "Invalid"
    PAID_OVER = "PaidOver", "Paid over"


class InvoicePurpose(models.TextChoices):
    PRO_TOKEN = "pro", "Pro token (VOID)"
    TOPUP = "topup", "User token top-up"


class Invoice(models.Model):
    """A BTCPay invoice this server created. Its status mirrors what BTCPay's API said
    last; ``paid_at`` is set once, under a row lock, when BTCPay confirmed ``Settled``.

    Pro invoices are claimed once (``claimed_at``); top-ups credit ``user`` once.
    Nothing about the payer is kept: no address, no IP, no email.
    """

    btcpay_id = models.CharField("BTCPay invoice id", max_length=64, unique=True)
    store_id = models.CharField(max_length=64)
    order_id = models.CharField(max_length=64, unique=True)
    purpose = models.CharField(max_length=8, choices=InvoicePurpose.choices)
    credits = models.PositiveIntegerField(default=0, help_text="Pro credits bought (pro invoices).")
    tokens = models.PositiveBigIntegerField(default=0, help_text="Tokens bought (top-ups).")
    amount = models.DecimalField(max_digits=18, decimal_places=8)
    currency = models.CharField(max_length=12)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="invoices"
    )
    status = models.CharField(max_length=12, choices=InvoiceStatus.choices, default=InvoiceStatus.NEW)
    additional_status = models.CharField(
        max_length=12, choices=InvoiceAdditionalStatus.choices, default=InvoiceAdditionalStatus.NONE
    )
    # SHA-256 of the claim secret create-invoice returned; empty for top-ups.
    claim_secret_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True, help_text="Last time BTCPay's API was asked.")
    paid_at = models.DateTimeField(null=True, blank=True, help_text="When BTCPay confirmed it settled.")
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=(Q(purpose="pro") & Q(credits__gt=0)) | (Q(purpose="topup") & Q(tokens__gt=0)),
                name="invoice_buys_something",
            ),
            models.CheckConstraint(
                condition=Q(claimed_at__isnull=True) | Q(paid_at__isnull=False), name="invoice_claimed_only_if_paid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.btcpay_id} {self.purpose} {self.status}"

    @property
    def is_paid(self) -> bool:
        return self.paid_at is not None and self.status == InvoiceStatus.SETTLED


class WebhookDeliveryOutcome(models.TextChoices):
    APPLIED = "applied", "Applied (invoice re-read from BTCPay)"
    DUPLICATE = "duplicate", "Duplicate of a delivery already processed"
    UNKNOWN_INVOICE = "unknown_invoice", "Unknown invoice (acknowledged)"
    IGNORED = "ignored", "Event type not acted on"


class WebhookDelivery(models.Model):
    """One BTCPay webhook delivery that was committed (a failed one leaves no row, so
    BTCPay redelivers it). Redeliveries share ``original_delivery_id``."""

    delivery_id = models.CharField(max_length=100, unique=True)
    original_delivery_id = models.CharField(max_length=100, db_index=True)
    webhook_id = models.CharField(max_length=100, blank=True)
    is_redelivery = models.BooleanField(default=False)
    event_type = models.CharField(max_length=64)
    btcpay_invoice_id = models.CharField(max_length=64, blank=True)
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries")
    outcome = models.CharField(max_length=16, choices=WebhookDeliveryOutcome.choices)
    status_after = models.CharField(max_length=12, blank=True, help_text="Invoice status after this delivery.")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ["received_at", "id"]

    def __str__(self) -> str:
        return f"{self.event_type} {self.delivery_id} ({self.outcome})"


class AnonymousDevice(models.Model):
    """A VOID anonymous device and its free quota. Only HMACs (``SERVER_SALT``) of the
    client id, browser fingerprint and client IP are stored, never the values.

    ``window_used`` requests were spent in the window that began at
    ``window_started_at``; a window older than ``FREE_TTL_SECONDS`` counts as empty.
    """

    client_hash = models.CharField(max_length=64, unique=True)
    fp_hash = models.CharField(max_length=64, unique=True)
    ip_hash = models.CharField(max_length=64, db_index=True)
    window_started_at = models.DateTimeField()
    window_used = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(window_used__gte=0), name="device_window_used_non_negative")]

    def __str__(self) -> str:
        return f"device {self.pk} ({self.fp_hash[:10]}…)"


class ApiKey(models.Model):
    """A user's API key for ``/v1/*``. The raw key is shown once; only its SHA-256 is kept."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, help_text="First characters of the key, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
