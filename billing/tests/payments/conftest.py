import pytest

from billing.tests.payments_support import fake_btcpay_installed, post_delivery


@pytest.fixture
def fake_btcpay(settings):
    with fake_btcpay_installed(settings) as fake:
        yield fake


@pytest.fixture
def anon(api_client):
    return api_client


@pytest.fixture
def deliver(client):
    """``deliver(delivery)`` posts it to the webhook with Django's plain test client."""
    return lambda delivery: post_delivery(client, delivery)


@pytest.fixture
def pro_invoice(anon, fake_btcpay):
    """A fresh pro invoice for 1,000 credits: the create-invoice answer as a dict."""
    response = anon.post("/pro/create-invoice", {"amount": "1", "currency": "USD", "credits": 1000}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def paid_pro_invoice(pro_invoice, fake_btcpay, deliver):
    fake_btcpay.settle(pro_invoice["invoiceId"])
    response = deliver(fake_btcpay.delivery(pro_invoice["invoiceId"], "InvoiceSettled"))
    assert response.status_code == 200, response.content
    return pro_invoice
