"""The whole VOID purchase, end to end, as a VOID client does it:

create-invoice → BTCPay settles it and signs a webhook → claim → chat with the pro
token until its credits run out → 402. Against the fake BTCPay (``fakes/btcpay.py``)
and the built-in demo model, on whichever database the run uses.

``/chat/stream`` and its metering come from the chat issue: this test passes once
both branches are merged.
"""

import json
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.db.models import Sum
from django.test import AsyncClient
from rest_framework.test import APIClient

from billing.models import Invoice, LedgerEntry, ProToken
from billing.services import pro_token_hash
from billing.tests.payments_support import fake_btcpay_installed, post_delivery

# transaction=True: the streaming view settles from worker threads, which must see committed rows
pytestmark = pytest.mark.django_db(transaction=True)

CREDITS = 5  # a small pack keeps the test quick


async def chat_until_refused(token: str, attempts: int) -> list[tuple[int, str, str | None, bytes]]:
    """``attempts`` chats with the pro token over the ASGI app, each read to its end as a client does:
    ``(status, content type, X-Pro-Left, body)``."""
    client = AsyncClient()
    results = []
    for _ in range(attempts):
        response = await client.post(
            "/chat/stream",
            data=json.dumps({"message": "hi"}),
            content_type="application/json",
            headers={
                "x-void-client-id": "e2e-client-0000000001",
                "x-void-browser-fp": "e2e-browser-fingerprint-01",
                "x-void-pro-token": token,
            },
        )
        if response.streaming:
            body = b"".join([chunk async for chunk in response.streaming_content])
        else:
            body = response.content
        results.append((response.status_code, response.get("Content-Type", ""), response.get("X-Pro-Left"), body))
    return results


def test_a_purchase_buys_exactly_the_credits_paid_for_and_then_402(settings, client):
    with fake_btcpay_installed(settings, PRO_PACKS={CREDITS: Decimal("0.10")}) as fake:
        api = APIClient()
        created = api.post(
            "/pro/create-invoice", {"amount": "0.10", "currency": "USD", "credits": CREDITS}, format="json"
        )
        assert created.status_code == 200, created.content
        invoice_id = created.json()["invoiceId"]
        assert api.post("/pro/claim", {"invoiceId": invoice_id}, format="json").status_code == 402

        fake.settle(invoice_id)
        delivery = fake.delivery(invoice_id, "InvoiceSettled")
        assert post_delivery(client, delivery).status_code == 200
        assert post_delivery(client, fake.redelivery(delivery)).status_code == 200

        claimed = api.post(
            "/pro/claim", {"invoiceId": invoice_id, "claimSecret": created.json()["claimSecret"]}, format="json"
        )
        assert claimed.status_code == 200, claimed.content
        token = claimed.json()["token"]
        assert claimed.json()["credits"] == CREDITS
        assert api.get("/pro/status", HTTP_X_VOID_PRO_TOKEN=token).json() == {
            "status": "active",
            "credits_left": CREDITS,
        }

    results = async_to_sync(chat_until_refused)(token, CREDITS + 1)
    for left, (status, content_type, pro_left, body) in zip(range(CREDITS - 1, -1, -1), results, strict=False):
        assert status == 200, body
        assert content_type.startswith("text/plain")
        assert pro_left == str(left)
        assert body.strip(), "the demo model answered nothing"
    status, _, pro_left, _ = results[-1]
    assert status == 402
    assert pro_left == "0"
    assert APIClient().get("/pro/status", HTTP_X_VOID_PRO_TOKEN=token).json() == {
        "status": "exhausted",
        "credits_left": 0,
    }

    pro = ProToken.objects.get(token_hash=pro_token_hash(token))
    assert pro.credits_left == 0 and pro.credits_total == CREDITS
    assert Invoice.objects.get(btcpay_id=invoice_id).claimed_at is not None
    # One grant of the pack from this invoice, and a ledger that adds up to what is left.
    assert LedgerEntry.objects.filter(source="btcpay", external_ref=invoice_id).count() == 1
    assert LedgerEntry.objects.filter(pro_token=pro).aggregate(total=Sum("credits"))["total"] == 0
