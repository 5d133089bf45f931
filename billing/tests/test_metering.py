"""Metering services: reservations settle once, sweeps, refunds, API keys."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from billing import metering
from billing.metering import Refused
from billing.models import AnonymousDevice, ApiKey, LedgerEntry, Outcome, ProToken, TokenBalance
from billing.services import pro_token_issue, token_balance_for

pytestmark = pytest.mark.django_db


def device(**kwargs):
    args = {
        "client_id": "client-0123456789",
        "fingerprint": "fp-0123456789",
        "ip": "10.0.0.1",
        "model": "demo",
        "endpoint": "void",
    }
    return metering.device_quota_reserve(**{**args, **kwargs})


def test_device_rows_hold_only_hmacs_of_the_identifiers():
    device()
    row = AnonymousDevice.objects.get()
    values = {row.client_hash, row.fp_hash, row.ip_hash}
    assert not values & {"client-0123456789", "fp-0123456789", "10.0.0.1"}
    assert row.client_hash == metering.secure_hash("client", "client-0123456789")


def test_a_settle_after_the_sweep_moves_nothing_twice(settings):
    raw, token = pro_token_issue(credits=3)
    reservation = metering.pro_credit_reserve(raw_token=raw, model="demo", endpoint="void")
    assert metering.reservations_sweep(older_than_seconds=-1) == 1
    late = metering.reservation_settle(reservation=reservation, outcome=Outcome.UPSTREAM_ERROR, refund=True)
    assert not late.settled_now
    token.refresh_from_db()
    assert token.credits_left == 2  # the sweep kept the credit; the late refund did not happen
    assert LedgerEntry.objects.get(pk=reservation.entry_id).outcome == Outcome.ORPHANED


def test_the_sweep_command_releases_orphaned_user_reservations(user):
    metering.user_tokens_reserve(user=user, model="demo", endpoint="ws", prompt_estimate=10, max_tokens=100)
    assert TokenBalance.objects.get(user=user).tokens_reserved == 110
    call_command("sweep_reservations", "--older-than", "3600")
    assert TokenBalance.objects.get(user=user).tokens_reserved == 110  # too young to be an orphan
    LedgerEntry.objects.update(created_at=timezone.now() - timedelta(hours=2))
    call_command("sweep_reservations")
    balance = TokenBalance.objects.get(user=user)
    assert (balance.tokens_reserved, balance.tokens_used) == (0, 0)


def test_settling_charges_the_reported_tokens_and_returns_the_rest(user):
    reservation = metering.user_tokens_reserve(
        user=user, model="demo", endpoint="ws", prompt_estimate=10, max_tokens=100
    )
    result = metering.reservation_settle(
        reservation=reservation, outcome=Outcome.COMPLETED, prompt_tokens=12, completion_tokens=30
    )
    assert result.tokens_charged == 42 and result.tokens_left == 1_000_000 - 42
    balance = TokenBalance.objects.get(user=user)
    assert (balance.tokens_used, balance.tokens_reserved) == (42, 0)
    assert LedgerEntry.objects.get(pk=reservation.entry_id).tokens == -42


def test_a_charge_never_overdraws_the_balance(user):
    token_balance_for(user=user)
    TokenBalance.objects.filter(user=user).update(total_tokens=20)
    reservation = metering.user_tokens_reserve(
        user=user, model="demo", endpoint="ws", prompt_estimate=5, max_tokens=100
    )
    assert reservation.tokens_reserved == 20 and reservation.max_tokens == 15
    result = metering.reservation_settle(
        reservation=reservation, outcome=Outcome.COMPLETED, prompt_tokens=5, completion_tokens=500
    )
    assert result.tokens_charged == 20 and result.tokens_left == 0
    with pytest.raises(Refused) as refused:
        metering.user_tokens_reserve(user=user, model="demo", endpoint="ws", prompt_estimate=5, max_tokens=None)
    assert refused.value.status == 403


def test_a_refund_after_the_window_rolled_over_does_not_touch_the_new_window(settings):
    settings.FREE_LIMIT = 3
    reservation = device()
    AnonymousDevice.objects.update(window_started_at=timezone.now() - timedelta(days=2))
    device()  # a new window starts with this request
    metering.reservation_settle(reservation=reservation, outcome=Outcome.UPSTREAM_ERROR, refund=True)
    assert AnonymousDevice.objects.get().window_used == 1


def test_the_stream_cap_counts_open_reservations_of_one_principal(settings):
    settings.CHAT_MAX_CONCURRENT_STREAMS = 2
    raw, _ = pro_token_issue(credits=10)
    first = metering.pro_credit_reserve(raw_token=raw, model="demo", endpoint="void")
    metering.pro_credit_reserve(raw_token=raw, model="demo", endpoint="void")
    with pytest.raises(Refused) as refused:
        metering.pro_credit_reserve(raw_token=raw, model="demo", endpoint="void")
    assert refused.value.status == 429 and refused.value.headers["Retry-After"]
    assert ProToken.objects.get().credits_left == 8  # the refused request took nothing
    assert LedgerEntry.objects.filter(outcome=Outcome.REFUSED).count() == 1
    metering.reservation_settle(reservation=first, outcome=Outcome.COMPLETED)
    metering.pro_credit_reserve(raw_token=raw, model="demo", endpoint="void")


def test_api_keys_are_stored_hashed_and_resolve_to_their_user(user):
    raw, key = metering.api_key_create(user=user, name="ci")
    assert not ApiKey.objects.filter(key_hash=raw).exists() and raw.startswith(key.prefix)
    assert metering.api_key_user(raw=raw) == (user, key)
    assert metering.api_key_revoke(key=key) and not metering.api_key_revoke(key=key)
    assert metering.api_key_user(raw=raw) == (None, None)
