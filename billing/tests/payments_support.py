"""Helpers shared by the payment tests: a fake BTCPay wired into the settings."""

from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal

from billing import btcpay
from fakes.btcpay import FakeBTCPay

STORE_ID = "TestStore7x"
API_KEY = "test-greenfield-key"
WEBHOOK_SECRET = "test-webhook-secret-0123456789"


@contextmanager
def fake_btcpay_installed(settings, **price_settings):
    """Point the payment settings at a fresh :class:`FakeBTCPay` for the duration."""
    fake = FakeBTCPay(store_id=STORE_ID, api_key=API_KEY, webhook_secret=WEBHOOK_SECRET)
    settings.BTCPAY_URL = fake.base_url
    settings.BTCPAY_STORE_ID = STORE_ID
    settings.BTCPAY_API_KEY = API_KEY
    settings.BTCPAY_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.PAYMENTS_CURRENCY = "USD"
    settings.PRO_PACKS = {1000: Decimal("1"), 5: Decimal("0.10")}
    settings.PRO_PRICE_PER_CREDIT = None
    settings.TOPUP_PACKS = {50_000: Decimal("2.50")}
    settings.PRO_CLAIM_WITHOUT_SECRET = True
    for name, value in price_settings.items():
        setattr(settings, name, value)
    btcpay.use_transport(fake)
    try:
        yield fake
    finally:
        btcpay.use_transport(None)


def post_delivery(client, delivery):
    """POST a webhook delivery exactly as BTCPay would (raw signed bytes)."""
    return client.post(
        "/btcpay/webhook", data=delivery.body, content_type="application/json", **delivery.django_headers
    )
