import pytest

from billing import services
from billing.models import EntryKind, LedgerEntry, ProToken, TokenBalance

pytestmark = pytest.mark.django_db


def test_a_pro_token_is_stored_only_as_its_hash_and_its_grant_is_in_the_ledger():
    raw, token = services.pro_token_issue(credits=20, source="test", external_ref="inv-1")
    assert raw.startswith("void_")
    assert not ProToken.objects.filter(token_hash=raw).exists()
    assert token.token_hash == services.pro_token_hash(raw)
    entry = LedgerEntry.objects.get(pro_token=token)
    assert entry.kind == EntryKind.GRANT and entry.credits == 20


def test_a_repeated_external_ref_grants_once():
    services.pro_token_issue(credits=5, source="btcpay", external_ref="inv-2")
    with pytest.raises(services.DuplicateGrant):
        services.pro_token_issue(credits=5, source="btcpay", external_ref="inv-2")
    assert ProToken.objects.count() == 1


def test_user_balances_start_with_the_default_and_grow_by_grants(user, settings):
    settings.DEFAULT_USER_TOKENS = 1000
    services.user_tokens_grant(user=user, tokens=500, source="topup", external_ref="inv-3")
    balance = TokenBalance.objects.get(user=user)
    assert balance.total_tokens == 1500 and balance.tokens_left == 1500
    with pytest.raises(services.DuplicateGrant):
        services.user_tokens_grant(user=user, tokens=500, source="topup", external_ref="inv-3")
    balance.refresh_from_db()
    assert balance.total_tokens == 1500
