"""Staff tools in the admin: reset free quota, grant credits and tokens, API keys, usage per day."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client

from billing import metering
from billing.models import AnonymousDevice, ApiKey, LedgerEntry, ProToken, TokenBalance
from billing.services import pro_token_issue, token_balance_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_reset_free_quota_gives_a_spent_device_a_fresh_window(staff, settings):
    settings.FREE_LIMIT = 1
    metering.device_quota_reserve(
        client_id="c" * 12, fingerprint="f" * 12, ip="10.0.0.2", model="demo", endpoint="void"
    )
    dev = AnonymousDevice.objects.get()
    response = staff.post(
        "/admin/billing/anonymousdevice/", {"action": "reset_free_quota", ACTION_CHECKBOX_NAME: [dev.pk]}
    )
    assert response.status_code == 302
    assert AnonymousDevice.objects.get().window_used == 0
    assert LedgerEntry.objects.filter(kind="adjustment", device=dev, credits=1).exists()


def test_grant_credits_asks_for_an_amount_then_grants_it(staff):
    _, token = pro_token_issue(credits=1)
    url = "/admin/billing/protoken/"
    page = staff.post(url, {"action": "grant_credits", ACTION_CHECKBOX_NAME: [token.pk]})
    assert page.status_code == 200 and b'name="amount"' in page.content
    done = staff.post(url, {"action": "grant_credits", ACTION_CHECKBOX_NAME: [token.pk], "apply": "1", "amount": "25"})
    assert done.status_code == 302
    assert ProToken.objects.get().credits_left == 26


def test_grant_tokens_adds_to_a_balance(staff, user):
    balance = token_balance_for(user=user)
    staff.post(
        "/admin/billing/tokenbalance/",
        {"action": "grant_tokens", ACTION_CHECKBOX_NAME: [balance.pk], "apply": "1", "amount": "500"},
    )
    assert TokenBalance.objects.get().total_tokens == 1_000_500


def test_an_api_key_created_in_admin_is_shown_once_and_stored_hashed(staff, user):
    response = staff.post("/admin/billing/apikey/add/", {"user": user.pk, "name": "server"}, follow=True)
    key = ApiKey.objects.get()
    shown = [str(m) for m in response.context["messages"]]
    raw = shown[0].rsplit(" ", 1)[1]
    assert raw.startswith("vsk_") and metering.api_key_user(raw=raw) == (user, key)
    assert raw.encode() not in staff.get(f"/admin/billing/apikey/{key.pk}/change/").content


def test_the_ledger_is_read_only_and_has_usage_per_day(staff):
    raw, _ = pro_token_issue(credits=2)
    reservation = metering.pro_credit_reserve(raw_token=raw, model="demo", endpoint="void")
    metering.reservation_settle(reservation=reservation, outcome="completed", prompt_tokens=3, completion_tokens=4)
    assert staff.get("/admin/billing/ledgerentry/add/").status_code == 403
    page = staff.get("/admin/billing/ledgerentry/usage-per-day/")
    assert page.status_code == 200
    [row] = page.context["rows"]
    assert (row["principal_kind"], row["requests"], row["completed"], row["credits_spent"]) == ("pro", 1, 1, 1)
