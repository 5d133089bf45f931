from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from billing.models import Invoice, LedgerEntry

pytestmark = pytest.mark.django_db


def test_a_missed_webhook_is_applied_by_btcpay_sync(anon, pro_invoice, fake_btcpay, capsys):
    fake_btcpay.settle(pro_invoice["invoiceId"])  # paid, but the webhook never arrived
    assert anon.post("/pro/claim", {"invoiceId": pro_invoice["invoiceId"]}, format="json").status_code == 402
    call_command("btcpay_sync")
    assert "checked 1, newly paid 1, failed 0" in capsys.readouterr().out
    assert Invoice.objects.get().is_paid
    assert anon.post("/pro/claim", {"invoiceId": pro_invoice["invoiceId"]}, format="json").status_code == 200


def test_btcpay_sync_is_idempotent_and_skips_paid_and_old_invoices(fake_btcpay, client_for, user, capsys, settings):
    settings.DEFAULT_USER_TOKENS = 0
    api = client_for(user)
    paid = api.post("/api/billing/topup", {"tokens": 50_000}, format="json").json()["invoiceId"]
    old = api.post("/api/billing/topup", {"tokens": 50_000}, format="json").json()["invoiceId"]
    Invoice.objects.filter(btcpay_id=old).update(
        created_at=Invoice.objects.get(btcpay_id=old).created_at - timedelta(days=30)
    )
    fake_btcpay.settle(paid)
    fake_btcpay.settle(old)
    call_command("btcpay_sync")
    call_command("btcpay_sync")
    out = capsys.readouterr().out.splitlines()
    assert out == ["btcpay_sync: checked 1, newly paid 1, failed 0", "btcpay_sync: checked 0, newly paid 0, failed 0"]
    assert LedgerEntry.objects.filter(source="btcpay").count() == 1
    user.token_balance.refresh_from_db()
    assert user.token_balance.total_tokens == 50_000
    call_command("btcpay_sync", "--max-age-days", "60")
    assert Invoice.objects.get(btcpay_id=old).paid_at is not None


def test_btcpay_sync_reports_invoices_it_could_not_check_and_fails(pro_invoice, fake_btcpay):
    fake_btcpay.down = True
    with pytest.raises(CommandError, match="1 invoice"):
        call_command("btcpay_sync")
    assert Invoice.objects.get().paid_at is None


def test_btcpay_sync_without_configuration_says_so(settings):
    settings.BTCPAY_URL = ""
    with pytest.raises(CommandError, match="not configured"):
        call_command("btcpay_sync")


def test_staff_can_check_an_invoice_with_btcpay_from_the_admin(pro_invoice, fake_btcpay, admin_user, client):
    client.force_login(admin_user)
    invoice = Invoice.objects.get()
    changelist = reverse("admin:billing_invoice_changelist")
    assert client.get(changelist).status_code == 200
    assert client.get(reverse("admin:billing_invoice_change", args=[invoice.pk])).status_code == 200
    fake_btcpay.settle(invoice.btcpay_id)
    response = client.post(changelist, {"action": "check_with_btcpay", "_selected_action": [invoice.pk]}, follow=True)
    assert response.status_code == 200
    assert "Checked 1 invoice(s) with BTCPay; 1 newly paid." in response.content.decode()
    assert Invoice.objects.get().is_paid


def test_an_ordinary_user_cannot_reach_the_invoice_admin(user, client):
    client.force_login(user)
    response = client.get(reverse("admin:billing_invoice_changelist"))
    assert response.status_code == 302
