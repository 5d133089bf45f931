from decimal import Decimal

import httpx
import pytest

from billing import btcpay
from fakes.btcpay import FakeBTCPay


def make_client(fake, **overrides):
    options = {"base_url": fake.base_url, "store_id": fake.store_id, "api_key": fake.api_key, "transport": fake}
    options.update(overrides)
    return btcpay.BTCPayClient(**options)


def test_an_invoice_is_created_with_a_string_amount_and_read_back_as_typed_data():
    fake = FakeBTCPay()
    client = make_client(fake)
    created = client.invoice_create(
        amount=Decimal("1.50"), currency="USD", metadata={"orderId": "o-1", "credits": 5}, expiration_minutes=30
    )
    assert isinstance(created, btcpay.InvoiceData)
    assert created.amount == Decimal("1.50") and created.currency == "USD"
    assert created.status == "New" and created.additional_status == "None"
    assert created.checkout_link.endswith(f"/i/{created.id}")
    assert fake.invoices[created.id]["amount"] == "1.50"
    assert fake.invoices[created.id]["checkout"]["expirationMinutes"] == 30
    fake.settle(created.id, "PaidOver")
    read = client.invoice_get(invoice_id=created.id)
    assert (read.status, read.additional_status) == ("Settled", "PaidOver")
    assert read.metadata == {"orderId": "o-1", "credits": 5}


def test_the_api_key_is_sent_as_a_greenfield_token_header():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(404, json={"code": "invoice-not-found", "message": "The invoice was not found"})

    client = btcpay.BTCPayClient(
        base_url="http://btcpay.invalid/", store_id="S", api_key="k1", transport=httpx.MockTransport(handler)
    )
    with pytest.raises(btcpay.BTCPayError) as caught:
        client.invoice_get(invoice_id="abc")
    assert not isinstance(caught.value, btcpay.BTCPayUnavailable)
    assert caught.value.status_code == 404 and caught.value.code == "invoice-not-found"
    assert seen[0].headers["Authorization"] == "token k1"
    assert seen[0].url.path == "/api/v1/stores/S/invoices/abc"


def test_a_wrong_api_key_is_a_btcpay_error_not_an_outage():
    client = make_client(FakeBTCPay(), api_key="wrong")
    with pytest.raises(btcpay.BTCPayError) as caught:
        client.invoice_create(amount=Decimal("1"), currency="USD", metadata={})
    assert caught.value.status_code == 401 and not isinstance(caught.value, btcpay.BTCPayUnavailable)


@pytest.mark.parametrize("failure", ["down", "500", "not json", "timeout"])
def test_network_failures_server_errors_and_garbage_are_btcpay_unavailable(failure):
    fake = FakeBTCPay()
    if failure == "down":
        fake.down = True
        transport = fake
    elif failure == "500":
        fake.fail_status = 500
        transport = fake
    elif failure == "not json":
        transport = httpx.MockTransport(lambda request: httpx.Response(200, text="<html>"))
    else:

        def slow(request):
            raise httpx.ReadTimeout("timed out", request=request)

        transport = httpx.MockTransport(slow)
    client = make_client(fake, transport=transport)
    with pytest.raises(btcpay.BTCPayUnavailable):
        client.invoice_get(invoice_id="x")


def test_the_client_has_explicit_timeouts():
    client = make_client(FakeBTCPay(), timeout=7.0)
    timeout = client._http.timeout
    assert timeout.read == 7.0 and timeout.connect == 5.0


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("good", True),
        ("", False),
        ("sha256=" + "0" * 64, False),
        ("sha1=whatever", False),
        ("sha256=", False),
    ],
)
def test_the_webhook_signature_is_the_hmac_of_the_exact_body(header, ok):
    body = b'{"type": "InvoiceSettled"}'
    if header == "good":
        header = btcpay.signature_for(body, "s3cret")
    assert btcpay.signature_valid(body=body, header=header, secret="s3cret") is ok
    assert btcpay.signature_valid(body=body + b" ", header=header, secret="s3cret") is False


def test_the_shared_client_needs_configuration(settings):
    settings.BTCPAY_URL = ""
    with pytest.raises(btcpay.BTCPayNotConfigured):
        btcpay.get_client()
