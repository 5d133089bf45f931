from decimal import Decimal

import pytest

from billing.models import Invoice, InvoicePurpose

pytestmark = pytest.mark.django_db


def test_the_seed_clients_default_request_buys_1000_credits_for_1_usd(anon, fake_btcpay):
    response = anon.post("/pro/create-invoice", {}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["checkoutLink"] == f"{fake_btcpay.base_url}/i/{body['invoiceId']}"
    assert body["credits"] == 1000 and body["amount"] == "1" and body["currency"] == "USD"
    assert len(body["claimSecret"]) >= 40
    invoice = Invoice.objects.get(btcpay_id=body["invoiceId"])
    assert invoice.purpose == InvoicePurpose.PRO_TOKEN and invoice.credits == 1000
    assert invoice.amount == Decimal("1") and invoice.status == "New"
    assert invoice.claim_secret_hash and body["claimSecret"] not in invoice.claim_secret_hash
    sent = fake_btcpay.invoices[body["invoiceId"]]
    assert sent["amount"] == "1" and sent["currency"] == "USD"
    assert sent["metadata"]["credits"] == 1000 and sent["metadata"]["orderId"] == invoice.order_id


def test_a_client_cannot_set_its_own_price(anon, fake_btcpay):
    response = anon.post("/pro/create-invoice", {"amount": "1", "currency": "USD", "credits": 1_000_000}, format="json")
    assert response.status_code == 400
    assert "1000000 credits are not for sale" in response.json()["detail"]
    assert "1000 credits for 1 USD" in response.json()["detail"]
    assert not Invoice.objects.exists() and not fake_btcpay.invoices


def test_an_amount_that_does_not_match_the_price_is_told_the_price(anon, fake_btcpay):
    response = anon.post("/pro/create-invoice", {"amount": "0.50", "currency": "USD", "credits": 1000}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == "1000 credits cost 1 USD, not 0.50 USD."
    assert not fake_btcpay.invoices


def test_another_currency_is_refused_with_the_price_in_ours(anon, fake_btcpay):
    response = anon.post("/pro/create-invoice", {"amount": "1", "currency": "EUR", "credits": 1000}, format="json")
    assert response.status_code == 400
    assert "Prices are in USD" in response.json()["detail"]


def test_an_equal_amount_written_differently_is_accepted(anon, fake_btcpay):
    response = anon.post("/pro/create-invoice", {"amount": 1.0, "currency": "usd", "credits": 1000}, format="json")
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("amount", ["abc", "-1", "0", "NaN", "Infinity"])
def test_a_nonsense_amount_is_a_400(anon, fake_btcpay, amount):
    response = anon.post("/pro/create-invoice", {"amount": amount, "credits": 1000}, format="json")
    assert response.status_code == 400 and "amount" in response.json()["detail"]


def test_a_price_per_credit_prices_any_count_in_range_rounded_up_to_the_cent(anon, fake_btcpay, settings):
    settings.PRO_PRICE_PER_CREDIT = Decimal("0.0015")
    settings.PRO_MIN_CREDITS, settings.PRO_MAX_CREDITS = 100, 10_000
    ok = anon.post("/pro/create-invoice", {"amount": "0.01", "credits": 3}, format="json")
    assert ok.status_code == 400  # below the minimum, and not a pack
    refused = anon.post("/pro/create-invoice", {"amount": "1", "credits": 333}, format="json")
    assert refused.json()["detail"] == "333 credits cost 0.50 USD, not 1 USD."
    accepted = anon.post("/pro/create-invoice", {"amount": "0.50", "credits": 333}, format="json")
    assert accepted.status_code == 200 and accepted.json()["amount"] == "0.50"


def test_without_configuration_create_invoice_is_a_503(anon, settings):
    settings.BTCPAY_URL = ""
    response = anon.post("/pro/create-invoice", {}, format="json")
    assert response.status_code == 503
    assert "not configured" in response.json()["detail"]


@pytest.mark.parametrize("failure", ["down", "500", "bad key"])
def test_btcpay_down_or_erroring_is_a_502_and_nothing_is_recorded(anon, fake_btcpay, settings, failure):
    if failure == "down":
        fake_btcpay.down = True
    elif failure == "500":
        fake_btcpay.fail_status = 500
    else:
        settings.BTCPAY_API_KEY = "wrong"
    response = anon.post("/pro/create-invoice", {}, format="json")
    assert response.status_code == 502
    assert response.json()["detail"].startswith("Payment provider")
    assert not Invoice.objects.exists()


def test_invoice_creation_is_rate_limited_per_address(anon, fake_btcpay, settings):
    settings.PAYMENTS_CREATE_RATE = "2/m"
    codes = [anon.post("/pro/create-invoice", {}, format="json").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert Invoice.objects.count() == 2


def test_the_price_list_is_public(anon, fake_btcpay):
    body = anon.get("/api/billing/prices").json()
    assert body["currency"] == "USD"
    assert {"units": 1000, "amount": "1"} in body["pro"]["packs"]
    assert body["topup"]["packs"] == [{"units": 50000, "amount": "2.50"}]
