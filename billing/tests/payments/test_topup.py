import pytest

from billing.models import Invoice, InvoicePurpose, LedgerEntry

pytestmark = pytest.mark.django_db


def test_a_top_up_needs_a_signed_in_user(anon, fake_btcpay):
    assert anon.post("/api/billing/topup", {"tokens": 50_000}, format="json").status_code == 401
    assert not fake_btcpay.invoices


def test_a_settled_top_up_credits_its_user_once(fake_btcpay, client_for, user, deliver, settings):
    settings.DEFAULT_USER_TOKENS = 1000
    api = client_for(user)
    response = api.post("/api/billing/topup", {"tokens": 50_000}, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["amount"] == "2.50" and created["currency"] == "USD" and created["tokens"] == 50_000
    invoice = Invoice.objects.get(btcpay_id=created["invoiceId"])
    assert invoice.purpose == InvoicePurpose.TOPUP and invoice.user == user and not invoice.claim_secret_hash
    # BTCPay learns the order and the count, not who the user is.
    assert set(fake_btcpay.invoices[created["invoiceId"]]["metadata"]) == {"orderId", "purpose", "tokens"}

    view = api.get(f"/api/billing/invoices/{created['invoiceId']}").json()
    assert view["status"] == "New" and view["paid"] is False and view["credited"] is False

    fake_btcpay.settle(created["invoiceId"])
    deliver(fake_btcpay.delivery(created["invoiceId"], "InvoiceSettled"))
    view = api.get(f"/api/billing/invoices/{created['invoiceId']}").json()
    assert view["status"] == "Settled" and view["paid"] is True and view["credited"] is True
    user.token_balance.refresh_from_db()
    assert user.token_balance.total_tokens == 51_000
    assert LedgerEntry.objects.filter(user=user, source="btcpay", tokens=50_000).count() == 1


def test_a_top_up_size_not_on_sale_is_a_400_with_the_list(fake_btcpay, client_for, user):
    response = client_for(user).post("/api/billing/topup", {"tokens": 7}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == "7 tokens are not for sale; available: 50000 tokens for 2.50 USD."


def test_another_users_invoice_is_not_found(fake_btcpay, client_for, make_user):
    owner, other = make_user(), make_user()
    created = client_for(owner).post("/api/billing/topup", {"tokens": 50_000}, format="json").json()
    assert client_for(other).get(f"/api/billing/invoices/{created['invoiceId']}").status_code == 404
    assert client_for(owner).get(f"/api/billing/invoices/{created['invoiceId']}").status_code == 200


def test_a_pro_invoice_is_not_shown_as_a_top_up(fake_btcpay, client_for, user, pro_invoice):
    assert client_for(user).get(f"/api/billing/invoices/{pro_invoice['invoiceId']}").status_code == 404
