from unittest import mock

import pytest
from django.db import OperationalError

from billing import services
from billing.models import Invoice, LedgerEntry, ProToken
from billing.services import pro_token_hash

pytestmark = pytest.mark.django_db


def claim(client, invoice_id, secret=None):
    body = {"invoiceId": invoice_id}
    if secret is not None:
        body["claimSecret"] = secret
    return client.post("/pro/claim", body, format="json")


def test_a_paid_invoice_is_claimed_once_for_a_token_stored_only_as_its_hash(anon, paid_pro_invoice):
    response = claim(anon, paid_pro_invoice["invoiceId"])
    assert response.status_code == 200
    body = response.json()
    assert body["credits"] == 1000 and body["token"].startswith("void_")
    assert response["Cache-Control"] == "no-store"
    token = ProToken.objects.get()
    assert token.token_hash == pro_token_hash(body["token"]) and token.credits_left == 1000
    assert not ProToken.objects.filter(token_hash=body["token"]).exists()
    grant = LedgerEntry.objects.get(pro_token=token)
    assert grant.source == "btcpay" and grant.external_ref == paid_pro_invoice["invoiceId"] and grant.credits == 1000
    second = claim(anon, paid_pro_invoice["invoiceId"])
    assert second.status_code == 409 and second.json()["detail"] == "Token already claimed"
    assert ProToken.objects.count() == 1
    assert Invoice.objects.get().claimed_at is not None


def test_an_unknown_invoice_is_a_404(anon, fake_btcpay):
    response = claim(anon, "NoSuchInvoice")
    assert response.status_code == 404 and response.json()["detail"] == "Invoice not found"


def test_an_unpaid_invoice_is_a_402(anon, pro_invoice, fake_btcpay, deliver):
    assert claim(anon, pro_invoice["invoiceId"]).status_code == 402
    fake_btcpay.set_status(pro_invoice["invoiceId"], "Processing")
    deliver(fake_btcpay.delivery(pro_invoice["invoiceId"], "InvoiceProcessing"))
    response = claim(anon, pro_invoice["invoiceId"])
    assert response.status_code == 402 and response.json()["detail"] == "Invoice not paid yet"
    assert not ProToken.objects.exists()


def test_a_settled_invoice_the_merchant_later_invalidated_cannot_be_claimed(
    anon, paid_pro_invoice, fake_btcpay, deliver
):
    fake_btcpay.set_status(paid_pro_invoice["invoiceId"], "Invalid", "Marked")
    deliver(fake_btcpay.delivery(paid_pro_invoice["invoiceId"], "InvoiceInvalid", manuallyMarked=True))
    assert claim(anon, paid_pro_invoice["invoiceId"]).status_code == 402


def test_a_claim_with_the_claim_secret_can_be_retried_for_the_same_token(anon, paid_pro_invoice):
    secret = paid_pro_invoice["claimSecret"]
    first = claim(anon, paid_pro_invoice["invoiceId"], secret)
    again = claim(anon, paid_pro_invoice["invoiceId"], secret)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert ProToken.objects.count() == 1 and LedgerEntry.objects.filter(source="btcpay").count() == 1
    # Without the secret, the claimed invoice is simply taken.
    assert claim(anon, paid_pro_invoice["invoiceId"]).status_code == 409


def test_a_wrong_claim_secret_is_refused_before_anything_else(anon, paid_pro_invoice):
    response = claim(anon, paid_pro_invoice["invoiceId"], "not-the-secret")
    assert response.status_code == 403
    assert not ProToken.objects.exists() and Invoice.objects.get().claimed_at is None


def test_after_a_claim_without_the_secret_the_creator_gets_409_not_a_second_token(anon, paid_pro_invoice):
    assert claim(anon, paid_pro_invoice["invoiceId"]).status_code == 200
    assert claim(anon, paid_pro_invoice["invoiceId"], paid_pro_invoice["claimSecret"]).status_code == 409
    assert ProToken.objects.count() == 1


def test_the_server_can_require_the_claim_secret(anon, paid_pro_invoice, settings):
    settings.PRO_CLAIM_WITHOUT_SECRET = False
    refused = claim(anon, paid_pro_invoice["invoiceId"])
    assert refused.status_code == 403 and "claimSecret" in refused.json()["detail"]
    assert claim(anon, paid_pro_invoice["invoiceId"], paid_pro_invoice["claimSecret"]).status_code == 200


def test_a_top_up_invoice_cannot_be_claimed_as_a_pro_token(anon, fake_btcpay, client_for, user, deliver):
    created = client_for(user).post("/api/billing/topup", {"tokens": 50_000}, format="json").json()
    fake_btcpay.settle(created["invoiceId"])
    deliver(fake_btcpay.delivery(created["invoiceId"], "InvoiceSettled"))
    assert claim(anon, created["invoiceId"]).status_code == 404


def test_a_claim_without_an_invoice_id_is_a_400(anon, fake_btcpay):
    response = anon.post("/pro/claim", {}, format="json")
    assert response.status_code == 400 and response.json()["detail"].startswith("invoiceId")


def test_pro_status_reports_off_active_exhausted_and_unknown(anon, paid_pro_invoice):
    assert anon.get("/pro/status").json() == {"status": "off", "credits_left": 0}
    raw = claim(anon, paid_pro_invoice["invoiceId"]).json()["token"]
    assert anon.get("/pro/status", HTTP_X_VOID_PRO_TOKEN=raw).json() == {"status": "active", "credits_left": 1000}
    ProToken.objects.update(credits_left=0)
    assert anon.get("/pro/status", HTTP_X_VOID_PRO_TOKEN=raw).json() == {"status": "exhausted", "credits_left": 0}
    unknown = anon.get("/pro/status", HTTP_X_VOID_PRO_TOKEN="void_not-a-token")
    assert unknown.status_code == 401 and unknown.json()["detail"] == "Invalid token"


def test_a_database_failure_during_a_claim_is_a_503_and_the_invoice_stays_claimable(anon, paid_pro_invoice):
    with mock.patch.object(services, "pro_token_issue", side_effect=OperationalError("connection lost")):
        failed = claim(anon, paid_pro_invoice["invoiceId"])
    assert failed.status_code == 503 and failed.json()["detail"] == "Database unavailable, try again later."
    assert Invoice.objects.get().claimed_at is None and not ProToken.objects.exists()
    assert claim(anon, paid_pro_invoice["invoiceId"]).status_code == 200
