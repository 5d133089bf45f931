import json
from unittest import mock

import pytest
from django.db import OperationalError

from billing import payments
from billing.btcpay import signature_for
from billing.models import Invoice, InvoiceStatus, LedgerEntry, WebhookDelivery
from billing.tests.payments_support import WEBHOOK_SECRET

pytestmark = pytest.mark.django_db


def invoice_of(created) -> Invoice:
    return Invoice.objects.get(btcpay_id=created["invoiceId"])


def test_a_settled_webhook_confirmed_by_the_api_makes_the_invoice_paid(pro_invoice, fake_btcpay, deliver):
    fake_btcpay.settle(pro_invoice["invoiceId"])
    response = deliver(fake_btcpay.delivery(pro_invoice["invoiceId"], "InvoiceSettled"))
    assert response.status_code == 200 and response.json() == {"ok": True, "outcome": "applied"}
    invoice = invoice_of(pro_invoice)
    assert invoice.status == InvoiceStatus.SETTLED and invoice.paid_at is not None and invoice.is_paid
    assert fake_btcpay.gets_of(pro_invoice["invoiceId"]) == 1


def test_a_webhook_claiming_settled_while_the_api_says_new_pays_nothing(pro_invoice, fake_btcpay, deliver):
    response = deliver(fake_btcpay.delivery(pro_invoice["invoiceId"], "InvoiceSettled"))
    assert response.status_code == 200
    invoice = invoice_of(pro_invoice)
    assert invoice.status == InvoiceStatus.NEW and invoice.paid_at is None


def test_processing_is_not_yet_paid_and_settled_later_is(pro_invoice, fake_btcpay, deliver):
    invoice_id = pro_invoice["invoiceId"]
    fake_btcpay.set_status(invoice_id, "Processing")
    deliver(fake_btcpay.delivery(invoice_id, "InvoiceProcessing"))
    assert invoice_of(pro_invoice).status == InvoiceStatus.PROCESSING
    assert invoice_of(pro_invoice).paid_at is None
    fake_btcpay.settle(invoice_id)
    deliver(fake_btcpay.delivery(invoice_id, "InvoicePaymentSettled"))
    assert invoice_of(pro_invoice).is_paid


@pytest.mark.parametrize(
    ("event", "status", "additional"),
    [
        ("InvoiceExpired", "Expired", "None"),
        ("InvoiceExpiredPaidPartial", "Expired", "PaidPartial"),
        ("InvoiceInvalid", "Invalid", "Invalid"),
        ("InvoicePaidAfterExpiration", "Expired", "PaidLate"),
    ],
)
def test_expired_invalid_partial_and_late_invoices_are_recorded_and_not_paid(
    pro_invoice, fake_btcpay, deliver, event, status, additional
):
    fake_btcpay.set_status(pro_invoice["invoiceId"], status, additional)
    assert deliver(fake_btcpay.delivery(pro_invoice["invoiceId"], event)).status_code == 200
    invoice = invoice_of(pro_invoice)
    assert (invoice.status, invoice.additional_status) == (status, additional)
    assert invoice.paid_at is None


def test_overpaid_and_merchant_marked_settlements_are_paid(pro_invoice, fake_btcpay, deliver):
    fake_btcpay.set_status(pro_invoice["invoiceId"], "Expired", "PaidLate")
    deliver(fake_btcpay.delivery(pro_invoice["invoiceId"], "InvoicePaidAfterExpiration"))
    assert not invoice_of(pro_invoice).is_paid
    fake_btcpay.settle(pro_invoice["invoiceId"], "Marked")
    deliver(fake_btcpay.delivery(pro_invoice["invoiceId"], "InvoiceSettled", manuallyMarked=True))
    invoice = invoice_of(pro_invoice)
    assert invoice.is_paid and invoice.additional_status == "Marked"


def test_a_stale_answer_never_moves_a_settled_invoice_back(pro_invoice, fake_btcpay):
    invoice = invoice_of(pro_invoice)
    fake_btcpay.settle(pro_invoice["invoiceId"])
    payments.invoice_check(invoice=invoice)
    fake_btcpay.set_status(pro_invoice["invoiceId"], "Processing")
    invoice, became_paid = payments.invoice_check(invoice=invoice)
    assert invoice.status == InvoiceStatus.SETTLED and invoice.is_paid and not became_paid


def test_a_settled_invoice_for_another_amount_is_not_paid(pro_invoice, fake_btcpay, deliver):
    fake_btcpay.invoices[pro_invoice["invoiceId"]]["amount"] = "0.01"
    fake_btcpay.settle(pro_invoice["invoiceId"])
    deliver(fake_btcpay.delivery(pro_invoice["invoiceId"], "InvoiceSettled"))
    invoice = invoice_of(pro_invoice)
    assert invoice.status == InvoiceStatus.SETTLED and invoice.paid_at is None and not invoice.is_paid


@pytest.mark.parametrize("tamper", ["forged", "missing", "body changed", "other scheme"])
def test_a_bad_signature_is_a_401_and_changes_nothing(pro_invoice, fake_btcpay, client, tamper):
    fake_btcpay.settle(pro_invoice["invoiceId"])
    delivery = fake_btcpay.delivery(pro_invoice["invoiceId"], "InvoiceSettled")
    body, headers = delivery.body, dict(delivery.headers)
    if tamper == "forged":
        headers["BTCPay-Sig"] = fake_btcpay.delivery(
            pro_invoice["invoiceId"], "InvoiceSettled", secret="guess"
        ).headers["BTCPay-Sig"]
    elif tamper == "missing":
        del headers["BTCPay-Sig"]
    elif tamper == "body changed":
        event = json.loads(body)
        event["invoiceId"] = pro_invoice["invoiceId"] + "x"
        body = json.dumps(event, indent=2).encode()
    else:
        headers["BTCPay-Sig"] = headers["BTCPay-Sig"].replace("sha256=", "sha512=")
    response = client.post("/btcpay/webhook", data=body, content_type="application/json", headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid or missing BTCPay-Sig signature."
    assert not WebhookDelivery.objects.exists()
    assert invoice_of(pro_invoice).paid_at is None
    assert fake_btcpay.gets_of(pro_invoice["invoiceId"]) == 0


def test_the_same_delivery_three_times_credits_a_top_up_once(fake_btcpay, client_for, user, deliver, settings):
    settings.DEFAULT_USER_TOKENS = 0
    created = client_for(user).post("/api/billing/topup", {"tokens": 50_000}, format="json").json()
    fake_btcpay.settle(created["invoiceId"])
    first = fake_btcpay.delivery(created["invoiceId"], "InvoiceSettled")
    answers = [deliver(first), deliver(fake_btcpay.redelivery(first)), deliver(first)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["outcome"] for a in answers] == ["applied", "duplicate", "duplicate"]
    grants = LedgerEntry.objects.filter(source="btcpay", external_ref=created["invoiceId"])
    assert grants.count() == 1 and grants.get().tokens == 50_000
    user.token_balance.refresh_from_db()
    assert user.token_balance.total_tokens == 50_000
    # Later events (another original delivery) re-read the invoice and still grant nothing more.
    assert deliver(fake_btcpay.delivery(created["invoiceId"], "InvoicePaymentSettled")).json()["outcome"] == "applied"
    user.token_balance.refresh_from_db()
    assert user.token_balance.total_tokens == 50_000 and grants.count() == 1


def test_btcpay_down_answers_503_and_the_redelivery_applies_it(pro_invoice, fake_btcpay, deliver):
    fake_btcpay.settle(pro_invoice["invoiceId"])
    first = fake_btcpay.delivery(pro_invoice["invoiceId"], "InvoiceSettled")
    fake_btcpay.down = True
    response = deliver(first)
    assert response.status_code == 503 and "retry" in response.json()["detail"]
    assert not WebhookDelivery.objects.exists() and invoice_of(pro_invoice).paid_at is None
    fake_btcpay.down = False
    retry = fake_btcpay.redelivery(first)
    assert deliver(retry).json()["outcome"] == "applied"
    assert invoice_of(pro_invoice).is_paid
    recorded = WebhookDelivery.objects.get()
    assert recorded.delivery_id == retry.delivery_id and recorded.original_delivery_id == first.delivery_id
    assert recorded.is_redelivery


def test_a_database_failure_answers_503_so_btcpay_redelivers(pro_invoice, fake_btcpay, deliver):
    fake_btcpay.settle(pro_invoice["invoiceId"])
    delivery = fake_btcpay.delivery(pro_invoice["invoiceId"], "InvoiceSettled")
    with mock.patch.object(payments, "invoice_apply", side_effect=OperationalError("server closed the connection")):
        response = deliver(delivery)
    assert response.status_code == 503 and response.json()["detail"] == "Database unavailable; retry later."
    assert not WebhookDelivery.objects.exists()
    assert deliver(fake_btcpay.redelivery(delivery)).status_code == 200
    assert invoice_of(pro_invoice).is_paid


def test_an_unknown_invoice_is_acknowledged_and_logged(fake_btcpay, deliver, caplog):
    fake_btcpay.invoices["NotOurs123"] = {"id": "NotOurs123", "status": "Settled"}
    response = deliver(fake_btcpay.delivery("NotOurs123", "InvoiceSettled"))
    assert response.status_code == 200 and response.json()["outcome"] == "unknown_invoice"
    assert "unknown invoice" in caplog.text
    assert fake_btcpay.gets_of("NotOurs123") == 0


def test_btcpays_test_webhook_is_acknowledged(fake_btcpay, deliver):
    response = deliver(fake_btcpay.test_delivery())
    assert response.status_code == 200 and response.json()["outcome"] == "unknown_invoice"


def test_event_types_are_matched_exactly(pro_invoice, fake_btcpay, deliver):
    fake_btcpay.settle(pro_invoice["invoiceId"])
    # The seed acted on any type containing "paid"/"confirmed"; these are not BTCPay types.
    for made_up in ("invoice_paid", "InvoiceConfirmed", "invoicesettled"):
        assert deliver(fake_btcpay.delivery(pro_invoice["invoiceId"], made_up)).json()["outcome"] == "ignored"
    assert deliver(fake_btcpay.delivery(pro_invoice["invoiceId"], "InvoiceCreated")).json()["outcome"] == "ignored"
    assert invoice_of(pro_invoice).paid_at is None and fake_btcpay.gets_of(pro_invoice["invoiceId"]) == 0


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"type": "InvoiceSettled"}'])
def test_a_signed_but_unreadable_body_is_a_400(fake_btcpay, client, body):
    headers = {"BTCPay-Sig": signature_for(body, WEBHOOK_SECRET)}
    response = client.post("/btcpay/webhook", data=body, content_type="application/json", headers=headers)
    assert response.status_code == 400 and response.json()["detail"]


def test_without_a_webhook_secret_the_webhook_is_a_503(fake_btcpay, deliver, settings, pro_invoice):
    delivery = fake_btcpay.delivery(pro_invoice["invoiceId"], "InvoiceSettled")
    settings.BTCPAY_WEBHOOK_SECRET = ""
    response = deliver(delivery)
    assert response.status_code == 503 and "BTCPAY_WEBHOOK_SECRET" in response.json()["detail"]


def test_the_webhook_accepts_only_post(client):
    response = client.get("/btcpay/webhook")
    assert response.status_code == 405 and response.json()["detail"] == "Method not allowed."
