import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import override_settings

from accounts.models import Role, User
from accounts.services import parse_user_list

pytestmark = pytest.mark.django_db


def test_parse_user_list_skips_malformed_entries():
    assert parse_user_list("a:1, b:two:parts ,broken,:x,c:") == [("a", "1"), ("b", "two:parts")]


@override_settings(API_ADMIN_USER="root", API_ADMIN_PASS="s3cret-pass", API_EXTRA_USERS="ann:pw1,bob:pw2")
def test_bootstrap_creates_the_admin_and_extra_users_once():
    call_command("bootstrap_users")
    call_command("bootstrap_users")
    assert User.objects.count() == 3
    root = User.objects.get(username="root")
    assert root.role == Role.ADMIN and root.is_superuser and root.is_staff
    assert User.objects.get(username="ann").role == Role.USER
    assert authenticate(username="bob", password="pw2") is not None


@override_settings(API_ADMIN_USER="root", API_ADMIN_PASS="new-pass", API_EXTRA_USERS="")
def test_bootstrap_leaves_an_existing_password_alone(make_user):
    make_user(username="root", password="changed-in-admin")
    call_command("bootstrap_users")
    assert authenticate(username="root", password="changed-in-admin") is not None


def test_the_bot_token_authenticates_as_the_bot_service_account(api_client):
    from io import StringIO

    out = StringIO()
    call_command("issue_bot_token", "--days", "30", stdout=out)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}")
    me = api_client.get("/api/users/me").json()
    assert me["username"] == "bot" and me["role"] == "bot"
    assert not User.objects.get(username="bot").has_usable_password()


def test_a_bot_token_is_refused_for_a_human_account(make_user):
    from django.core.management.base import CommandError

    make_user(username="alice")
    with pytest.raises(CommandError):
        call_command("issue_bot_token", "--username", "alice")
