"""Payments through BTCPay Server: prices, invoices, webhooks, claims, top-ups.

The rules, in one place:

* **The price is the server's.** Pro credits are sold in the packs of ``PRO_PACKS``
  (and, when ``PRO_PRICE_PER_CREDIT`` is set, any count in range at that price);
  token top-ups in the packs of ``TOPUP_PACKS``. A request whose amount or
  currency differs is refused with the price it would have.
* **A webhook is only a trigger.** Its signature is checked on the raw body, then
  the invoice is read back with a ``GET`` from the Greenfield API and that answer
  is applied, so a forged or leaked-secret webhook cannot mint credits.
* **Exactly once.** The invoice row is locked (``select_for_update``) while its
  state is applied; ``paid_at`` is set once; a top-up's grant is a ledger row
  unique on ``("btcpay", invoice id)``; a claim is one conditional ``UPDATE``
  of ``claimed_at``. Redeliveries (new ``deliveryId``, same
  ``originalDeliveryId``) of a processed delivery change nothing.
* **Only a committed change is acknowledged**: every failure before the commit
  raises, the webhook view answers 5xx, and BTCPay redelivers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_UP, Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from billing import btcpay, services
from billing.models import (
    Invoice,
    InvoiceAdditionalStatus,
    InvoicePurpose,
    InvoiceStatus,
    ProToken,
    WebhookDelivery,
    WebhookDeliveryOutcome,
)

log = logging.getLogger("billing.payments")

LEDGER_SOURCE = "btcpay"
CENT = Decimal("0.01")

# Invoice events after which the invoice is read back from BTCPay and applied.
INVOICE_EVENTS = frozenset(
    {
        "InvoiceReceivedPayment",
        "InvoiceProcessing",
        "InvoiceSettled",
        "InvoiceExpired",
        "InvoiceInvalid",
        "InvoicePaymentSettled",
        "InvoiceExpiredPaidPartial",
        "InvoicePaidAfterExpiration",
    }
)

# A status read later never moves an invoice back to an earlier one (a slow GET
# racing a newer one). Settled and Invalid may replace each other: the merchant
# can mark either way in BTCPay.
_STATUS_RANK = {
    InvoiceStatus.NEW: 0,
    InvoiceStatus.PROCESSING: 1,
    InvoiceStatus.EXPIRED: 2,
    InvoiceStatus.SETTLED: 3,
    InvoiceStatus.INVALID: 3,
}


# --- errors -------------------------------------------------------------------------


class PaymentError(Exception):
    """Base of the errors a payment view turns into a ``{"detail"}`` answer."""

    status_code = 400

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class PaymentsNotConfigured(PaymentError):
    status_code = 503


class PriceMismatch(PaymentError):
    status_code = 400


class InvoiceNotFound(PaymentError):
    status_code = 404


class InvoiceNotPaid(PaymentError):
    status_code = 402


class InvoiceAlreadyClaimed(PaymentError):
    status_code = 409


class ClaimSecretRefused(PaymentError):
    status_code = 403


class WebhookRejected(PaymentError):
    """A signed webhook body that cannot be read."""

    status_code = 400


class WebhookSignatureInvalid(WebhookRejected):
    status_code = 401


class ProTokenUnknown(PaymentError):
    status_code = 401


# --- prices -------------------------------------------------------------------------


def money_str(value: Decimal) -> str:
    """``1`` → ``"1"``, ``2.5`` → ``"2.50"``, ``0.0015`` → ``"0.0015"``: as prices are written."""
    if value == value.to_integral():
        return f"{value.quantize(Decimal(1)):f}"
    value = value.normalize()
    return f"{value.quantize(CENT) if value.as_tuple().exponent > -2 else value:f}"


def _pack_list(packs: dict[int, Decimal], unit: str) -> str:
    currency = settings.PAYMENTS_CURRENCY
    return ", ".join(f"{units} {unit} for {money_str(price)} {currency}" for units, price in sorted(packs.items()))


def pro_price(*, credits: int) -> Decimal:
    """The price of ``credits`` pro credits in ``PAYMENTS_CURRENCY``; raises PriceMismatch if not for sale."""
    packs: dict[int, Decimal] = settings.PRO_PACKS
    if credits in packs:
        return packs[credits]
    per_credit: Decimal | None = settings.PRO_PRICE_PER_CREDIT
    if per_credit is not None and settings.PRO_MIN_CREDITS <= credits <= settings.PRO_MAX_CREDITS:
        return (per_credit * credits).quantize(CENT, rounding=ROUND_UP)
    offers = []
    if packs:
        offers.append(_pack_list(packs, "credits"))
    if per_credit is not None:
        offers.append(
            f"{settings.PRO_MIN_CREDITS} to {settings.PRO_MAX_CREDITS} credits at "
            f"{money_str(per_credit)} {settings.PAYMENTS_CURRENCY} per credit"
        )
    return _not_for_sale(f"{credits} credits are not for sale", offers)


def topup_price(*, tokens: int) -> Decimal:
    packs: dict[int, Decimal] = settings.TOPUP_PACKS
    if tokens in packs:
        return packs[tokens]
    return _not_for_sale(f"{tokens} tokens are not for sale", [_pack_list(packs, "tokens")] if packs else [])


def _not_for_sale(what: str, offers: list[str]):
    raise PriceMismatch(f"{what}; available: {'; '.join(offers)}." if offers else f"{what}; nothing is on sale.")


def _parse_amount(amount) -> Decimal:
    try:
        value = Decimal(str(amount).strip())
    except (InvalidOperation, ValueError):
        raise PriceMismatch(f"amount: '{amount}' is not a number.") from None
    if not value.is_finite() or value <= 0:
        raise PriceMismatch("amount: must be a positive number.")
    return value


def pro_price_check(*, credits: int, amount, currency: str) -> Decimal:
    """The server's price for ``credits`` when the client's ``amount`` and ``currency`` agree with it."""
    price = pro_price(credits=credits)
    expected = settings.PAYMENTS_CURRENCY
    if (currency or "").strip().upper() != expected:
        raise PriceMismatch(f"Prices are in {expected}: {credits} credits cost {money_str(price)} {expected}.")
    if _parse_amount(amount) != price:
        raise PriceMismatch(f"{credits} credits cost {money_str(price)} {expected}, not {amount} {expected}.")
    return price


# --- invoices -----------------------------------------------------------------------


def _client() -> btcpay.BTCPayClient:
    try:
        return btcpay.get_client()
    except btcpay.BTCPayNotConfigured:
        raise PaymentsNotConfigured(
            "Payments are not configured on this server (BTCPAY_URL, BTCPAY_STORE_ID, BTCPAY_API_KEY)."
        ) from None


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _create(*, purpose: str, amount: Decimal, metadata: dict, **fields) -> tuple[Invoice, str]:
    """Create the invoice at BTCPay, then record it. Returns ``(invoice, checkout link)``.

    Raises BTCPayError / BTCPayUnavailable; nothing is recorded then."""
    client = _client()
    prefix = "voidpro" if purpose == InvoicePurpose.PRO_TOKEN else "topup"
    order_id = f"{prefix}-{uuid.uuid4().hex}"
    data = client.invoice_create(
        amount=amount,
        currency=settings.PAYMENTS_CURRENCY,
        metadata={"orderId": order_id, "purpose": purpose, **metadata},
        expiration_minutes=settings.BTCPAY_INVOICE_EXPIRY_MINUTES,
        redirect_url=settings.BTCPAY_REDIRECT_URL,
    )
    expires_at = None
    if data.expiration_time:
        expires_at = datetime.fromtimestamp(data.expiration_time, tz=UTC)
    status = data.status if data.status in InvoiceStatus.values else InvoiceStatus.NEW
    return Invoice.objects.create(
        btcpay_id=data.id,
        store_id=data.store_id or client.store_id,
        order_id=order_id,
        purpose=purpose,
        amount=amount,
        currency=settings.PAYMENTS_CURRENCY,
        status=status,
        expires_at=expires_at,
        checked_at=timezone.now(),
        **fields,
    ), data.checkout_link or f"{settings.BTCPAY_URL}/i/{data.id}"


def pro_invoice_create(*, credits: int, amount, currency: str) -> tuple[Invoice, str, str]:
    """A BTCPay invoice for ``credits`` pro credits at the server's price.

    Returns ``(invoice, checkout link, claim secret)``; the secret is shown once and
    stored only as its SHA-256. Raises PriceMismatch, PaymentsNotConfigured,
    btcpay.BTCPayError / BTCPayUnavailable.
    """
    price = pro_price_check(credits=credits, amount=amount, currency=currency)
    secret = secrets.token_urlsafe(32)
    invoice, link = _create(
        purpose=InvoicePurpose.PRO_TOKEN,
        amount=price,
        metadata={"credits": credits},
        credits=credits,
        claim_secret_hash=_secret_hash(secret),
    )
    return invoice, link, secret


def topup_invoice_create(*, user, tokens: int) -> tuple[Invoice, str]:
    """A BTCPay invoice crediting ``tokens`` to ``user`` once it is settled.

    BTCPay gets only the order id and the token count, not who the user is.
    """
    price = topup_price(tokens=tokens)
    return _create(purpose=InvoicePurpose.TOPUP, amount=price, metadata={"tokens": tokens}, tokens=tokens, user=user)


def topup_invoice_for(*, user, btcpay_id: str) -> Invoice:
    invoice = Invoice.objects.filter(btcpay_id=btcpay_id, purpose=InvoicePurpose.TOPUP, user=user).first()
    if invoice is None:
        raise InvoiceNotFound("Invoice not found.")
    return invoice


@transaction.atomic
def invoice_apply(*, invoice_pk: int, data: btcpay.InvoiceData) -> tuple[Invoice, bool]:
    """Apply BTCPay's answer for an invoice. Returns ``(invoice, became_paid_now)``.

    Locks the invoice row (``select_for_update``) so a webhook, ``btcpay_sync`` and
    the admin action applying the same invoice at once credit it once. An invoice
    becomes paid only when BTCPay's API says ``Settled`` for our amount and currency.
    """
    invoice = Invoice.objects.select_for_update().get(pk=invoice_pk)
    if data.id != invoice.btcpay_id or (data.store_id and data.store_id != invoice.store_id):
        raise btcpay.BTCPayError(f"BTCPay answered invoice {data.id} for {invoice.btcpay_id}")
    now = timezone.now()
    invoice.checked_at = now
    fields = ["checked_at"]
    if data.status not in InvoiceStatus.values:
        log.warning("invoice %s: unknown BTCPay status %r kept as %s", invoice.btcpay_id, data.status, invoice.status)
    elif _STATUS_RANK[InvoiceStatus(data.status)] >= _STATUS_RANK[InvoiceStatus(invoice.status)]:
        invoice.status = data.status
        additional = data.additional_status
        invoice.additional_status = (
            additional if additional in InvoiceAdditionalStatus.values else InvoiceAdditionalStatus.NONE
        )
        fields += ["status", "additional_status"]

    became_paid = False
    if invoice.status == InvoiceStatus.SETTLED and invoice.paid_at is None:
        if data.amount != invoice.amount or data.currency.upper() != invoice.currency.upper():
            log.error(
                "invoice %s settled for %s %s, expected %s %s: not credited",
                invoice.btcpay_id,
                data.amount,
                data.currency,
                invoice.amount,
                invoice.currency,
            )
        else:
            invoice.paid_at = now
            fields.append("paid_at")
            became_paid = True
            if invoice.purpose == InvoicePurpose.TOPUP:
                _topup_credit(invoice)
    invoice.save(update_fields=fields)
    return invoice, became_paid


def _topup_credit(invoice: Invoice) -> None:
    if invoice.user_id is None:
        log.error("top-up invoice %s settled but its user is gone: not credited", invoice.btcpay_id)
        return
    try:
        services.user_tokens_grant(
            user=invoice.user,
            tokens=invoice.tokens,
            source=LEDGER_SOURCE,
            external_ref=invoice.btcpay_id,
            note="BTCPay top-up",
        )
    except services.DuplicateGrant:
        # Only reachable if paid_at was cleared by hand: the ledger keeps it at one grant.
        log.warning("top-up invoice %s was already credited", invoice.btcpay_id)


def invoice_check(*, invoice: Invoice) -> tuple[Invoice, bool]:
    """Ask BTCPay for the invoice now and apply the answer (admin action, sync, webhook)."""
    data = _client().invoice_get(invoice_id=invoice.btcpay_id)
    return invoice_apply(invoice_pk=invoice.pk, data=data)


# --- webhooks -----------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookResult:
    outcome: str
    invoice_id: str = ""
    status: str = ""


def _record(event: dict, *, outcome: str, invoice: Invoice | None = None, status: str = "") -> WebhookResult:
    delivery_id = event["deliveryId"]
    WebhookDelivery.objects.create(
        delivery_id=delivery_id,
        original_delivery_id=str(event.get("originalDeliveryId") or delivery_id)[:100],
        webhook_id=str(event.get("webhookId") or "")[:100],
        is_redelivery=event.get("isRedelivery") is True,
        event_type=str(event.get("type") or "")[:64],
        btcpay_invoice_id=str(event.get("invoiceId") or "")[:64],
        invoice=invoice,
        outcome=outcome,
        status_after=status,
    )
    return WebhookResult(outcome=outcome, invoice_id=str(event.get("invoiceId") or ""), status=status)


def _parse_delivery(body: bytes) -> dict:
    try:
        event = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise WebhookRejected("Webhook body is not JSON.") from None
    if not isinstance(event, dict):
        raise WebhookRejected("Webhook body is not a JSON object.")
    delivery_id = event.get("deliveryId")
    if not isinstance(delivery_id, str) or not delivery_id or len(delivery_id) > 100:
        raise WebhookRejected("Webhook body has no deliveryId.")
    if not isinstance(event.get("type"), str):
        raise WebhookRejected("Webhook body has no type.")
    return event


def webhook_process(*, body: bytes, signature: str) -> WebhookResult:
    """Verify, deduplicate and apply one BTCPay webhook delivery.

    Returns once the delivery's effect is committed. Raises WebhookSignatureInvalid
    (401), WebhookRejected (unreadable body, 400), PaymentsNotConfigured,
    btcpay.BTCPayError / BTCPayUnavailable (BTCPay could not confirm: retry) and
    database errors (retry). A delivery leaves a row only when it was committed.
    """
    secret = settings.BTCPAY_WEBHOOK_SECRET
    if not secret:
        raise PaymentsNotConfigured("Payments are not configured on this server (BTCPAY_WEBHOOK_SECRET).")
    if not btcpay.signature_valid(body=body, header=signature, secret=secret):
        raise WebhookSignatureInvalid("Invalid or missing BTCPay-Sig signature.")
    event = _parse_delivery(body)
    delivery_id = event["deliveryId"]
    original_id = str(event.get("originalDeliveryId") or delivery_id)
    event_type = event["type"]

    # The same delivery, or a redelivery of one already committed: nothing to do.
    # (Even without this, applying an invoice twice changes nothing: see invoice_apply.)
    if WebhookDelivery.objects.filter(Q(delivery_id=delivery_id) | Q(original_delivery_id=original_id)).exists():
        return _record_duplicate(event)

    try:
        if event_type not in INVOICE_EVENTS:
            return _record(event, outcome=WebhookDeliveryOutcome.IGNORED)
        btcpay_id = event.get("invoiceId")
        invoice = None
        if isinstance(btcpay_id, str) and btcpay_id and event.get("storeId") in (None, settings.BTCPAY_STORE_ID):
            invoice = Invoice.objects.filter(btcpay_id=btcpay_id).first()
        if invoice is None:
            log.warning("webhook %s (%s) for unknown invoice %r: acknowledged", delivery_id, event_type, btcpay_id)
            return _record(event, outcome=WebhookDeliveryOutcome.UNKNOWN_INVOICE)
        # Read the invoice back from BTCPay before the transaction: no row lock is held over HTTP.
        data = _client().invoice_get(invoice_id=invoice.btcpay_id)
        with transaction.atomic():
            invoice, became_paid = invoice_apply(invoice_pk=invoice.pk, data=data)
            result = _record(event, outcome=WebhookDeliveryOutcome.APPLIED, invoice=invoice, status=invoice.status)
        if became_paid:
            log.info("invoice %s paid (%s)", invoice.btcpay_id, event_type)
        return result
    except IntegrityError:
        # The same deliveryId committed by a concurrent request: its effect is in.
        if WebhookDelivery.objects.filter(delivery_id=delivery_id).exists():
            return WebhookResult(outcome=WebhookDeliveryOutcome.DUPLICATE, invoice_id=str(event.get("invoiceId")))
        raise


def _record_duplicate(event: dict) -> WebhookResult:
    try:
        with transaction.atomic():
            return _record(event, outcome=WebhookDeliveryOutcome.DUPLICATE)
    except IntegrityError:  # this very deliveryId is already recorded
        return WebhookResult(outcome=WebhookDeliveryOutcome.DUPLICATE, invoice_id=str(event.get("invoiceId") or ""))


# --- claims -------------------------------------------------------------------------


def _claimed_token(secret: str, btcpay_id: str) -> str:
    """The pro token a claim carrying ``secret`` gets: derived, so a retried claim gets it again.

    HMAC-SHA256 keyed with the 256-bit claim secret (which the server keeps only
    hashed): without the secret nobody, the database included, can compute it.
    """
    digest = hmac.new(secret.encode("utf-8"), f"voidsite pro token\0{btcpay_id}".encode(), hashlib.sha256).digest()
    return services.PRO_TOKEN_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def pro_invoice_claim(*, btcpay_id: str, claim_secret: str = "") -> tuple[str, int]:
    """Turn a paid pro invoice into a pro token, once. Returns ``(raw token, credits)``.

    The claim is one conditional ``UPDATE … WHERE claimed_at IS NULL`` in the same
    transaction as the token and its ledger row: of any number of concurrent
    claims exactly one wins. A claim carrying the invoice's claim secret is
    bound to its creator and idempotent: retried, it returns the same token.
    Raises InvoiceNotFound (404), ClaimSecretRefused (403), InvoiceNotPaid (402),
    InvoiceAlreadyClaimed (409).
    """
    invoice = Invoice.objects.filter(btcpay_id=btcpay_id, purpose=InvoicePurpose.PRO_TOKEN).first()
    if invoice is None:
        raise InvoiceNotFound("Invoice not found")
    if claim_secret:
        if not hmac.compare_digest(_secret_hash(claim_secret), invoice.claim_secret_hash):
            raise ClaimSecretRefused("The claim secret does not match this invoice.")
    elif not settings.PRO_CLAIM_WITHOUT_SECRET:
        raise ClaimSecretRefused("This server requires the claimSecret returned by create-invoice.")
    if not invoice.is_paid:
        raise InvoiceNotPaid("Invoice not paid yet")

    raw = _claimed_token(claim_secret, invoice.btcpay_id) if claim_secret else None
    try:
        with transaction.atomic():
            won = Invoice.objects.filter(
                pk=invoice.pk, status=InvoiceStatus.SETTLED, paid_at__isnull=False, claimed_at__isnull=True
            ).update(claimed_at=timezone.now())
            if won:
                raw, _token = services.pro_token_issue(
                    credits=invoice.credits, source=LEDGER_SOURCE, external_ref=invoice.btcpay_id, raw=raw
                )
                return raw, invoice.credits
    except services.DuplicateGrant:
        pass  # a grant for this invoice exists already: it was claimed
    if raw is not None and ProToken.objects.filter(token_hash=services.pro_token_hash(raw)).exists():
        return raw, invoice.credits  # the creator retrying after a lost answer
    invoice.refresh_from_db()
    if invoice.claimed_at is None:
        raise InvoiceNotPaid("Invoice not paid yet")
    raise InvoiceAlreadyClaimed("Token already claimed")


def pro_token_status(*, raw: str) -> tuple[str, int]:
    """``("off", 0)`` without a token, else ``("active"|"exhausted", credits_left)``; ProTokenUnknown if unknown."""
    if not raw:
        return "off", 0
    left = ProToken.objects.filter(token_hash=services.pro_token_hash(raw)).values_list("credits_left", flat=True)
    left = list(left)
    if not left:
        raise ProTokenUnknown("Invalid token")
    return ("active" if left[0] > 0 else "exhausted"), left[0]


# --- reconciliation -----------------------------------------------------------------


@dataclass
class SyncReport:
    checked: int = 0
    paid: int = 0
    failed: int = 0


def invoices_sync_pending(*, max_age_days: int) -> SyncReport:
    """Ask BTCPay about every unpaid invoice younger than ``max_age_days`` and apply the answers.

    Idempotent and safe beside webhooks (see invoice_apply); one failing invoice
    is logged and counted, the others go on.
    """
    report = SyncReport()
    since = timezone.now() - timedelta(days=max_age_days)
    pending = Invoice.objects.filter(paid_at__isnull=True, created_at__gte=since).order_by("created_at")
    for invoice in pending.iterator():
        report.checked += 1
        try:
            _invoice, became_paid = invoice_check(invoice=invoice)
        except btcpay.BTCPayError as exc:
            report.failed += 1
            log.warning("btcpay_sync: invoice %s not checked: %s", invoice.btcpay_id, exc)
            continue
        report.paid += int(became_paid)
    return report
