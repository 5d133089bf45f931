"""Claims racing on real PostgreSQL connections (select_for_update and row locks do
nothing on SQLite, so these run only on PostgreSQL)."""

import threading
from collections import Counter

import pytest
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from billing.models import LedgerEntry, ProToken

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RACERS = 20


def race(invoice_id: str, secret: str | None = None) -> list:
    barrier = threading.Barrier(RACERS)
    results: list = [None] * RACERS

    def claim(index: int) -> None:
        client = APIClient()
        body = {"invoiceId": invoice_id, **({"claimSecret": secret} if secret else {})}
        try:
            barrier.wait(timeout=10)
            response = client.post("/pro/claim", body, format="json")
            results[index] = (response.status_code, response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(result is not None for result in results), results
    return results


def test_twenty_concurrent_claims_give_exactly_one_token_and_nineteen_409s(require_postgres, paid_pro_invoice):
    results = race(paid_pro_invoice["invoiceId"])
    assert Counter(code for code, _ in results) == {200: 1, 409: RACERS - 1}
    assert ProToken.objects.count() == 1
    assert LedgerEntry.objects.filter(source="btcpay", external_ref=paid_pro_invoice["invoiceId"]).count() == 1
    assert ProToken.objects.get().credits_left == 1000


def test_twenty_concurrent_claims_with_the_claim_secret_all_get_the_one_same_token(require_postgres, paid_pro_invoice):
    results = race(paid_pro_invoice["invoiceId"], paid_pro_invoice["claimSecret"])
    assert {code for code, _ in results} == {200}
    assert len({body["token"] for _, body in results}) == 1
    assert ProToken.objects.count() == 1
    assert LedgerEntry.objects.filter(source="btcpay").count() == 1


def test_twenty_deliveries_of_one_settlement_arriving_at_once_credit_a_top_up_once(
    require_postgres, fake_btcpay, client_for, user, settings
):
    settings.DEFAULT_USER_TOKENS = 0
    invoice_id = client_for(user).post("/api/billing/topup", {"tokens": 50_000}, format="json").json()["invoiceId"]
    fake_btcpay.settle(invoice_id)
    first = fake_btcpay.delivery(invoice_id, "InvoiceSettled")
    # The first delivery, its redeliveries, and other event types about the same settlement.
    deliveries = [first] + [fake_btcpay.redelivery(first) for _ in range(9)]
    deliveries += [fake_btcpay.delivery(invoice_id, "InvoicePaymentSettled") for _ in range(RACERS - len(deliveries))]
    barrier = threading.Barrier(RACERS)
    codes: list = [None] * RACERS

    def post(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            delivery = deliveries[index]
            codes[index] = (
                Client()
                .post("/btcpay/webhook", data=delivery.body, content_type="application/json", headers=delivery.headers)
                .status_code
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert codes == [200] * RACERS
    assert LedgerEntry.objects.filter(source="btcpay", external_ref=invoice_id).count() == 1
    user.token_balance.refresh_from_db()
    assert user.token_balance.total_tokens == 50_000
