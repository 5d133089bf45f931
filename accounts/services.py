"""Account writes: logins, token issue and revocation, user bootstrap."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.db import transaction
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import RevokedToken, Role
from voidsite import ratelimit
from voidsite.net import client_ip

log = logging.getLogger("voidsite.accounts")


class LoginThrottled(Exception):
    def __init__(self, retry_after: int):
        super().__init__("Too many login attempts.")
        self.retry_after = retry_after


def _hashed(value: str) -> str:
    # Cache keys hold no raw usernames or addresses.
    return hashlib.sha256(f"{settings.SECRET_KEY}:{value}".encode()).hexdigest()[:32]


def login_throttle_check(*, request, username: str) -> None:
    """Count a login attempt per client IP and per username; raise LoginThrottled past either limit."""
    checks = (
        ("login:ip", _hashed(client_ip(request)), settings.LOGIN_RATE_IP),
        ("login:user", _hashed(username.lower()), settings.LOGIN_RATE_USER),
    )
    for group, value, rate in checks:
        usage = ratelimit.hit(request, group=group, value=value, rate=rate)
        if usage is not None and usage.limited:
            raise LoginThrottled(usage.retry_after)


def bot_token_issue(*, username: str = "bot", days: int = 365) -> str:
    """A long-lived access token for the bot's service account (created with role ``bot`` if missing).

    Revoke it by deactivating the account or through admin's revoked tokens.
    """
    from datetime import timedelta

    from rest_framework_simplejwt.tokens import AccessToken

    User = get_user_model()
    user, created = User.objects.get_or_create(username=username, defaults={"role": Role.BOT})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    elif user.role != Role.BOT:
        raise ValueError(f"user {username!r} exists and is not a bot account")
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(days=days))
    return str(token)


def tokens_for_user(*, user) -> dict[str, str]:
    """A fresh access/refresh pair. The refresh token is tracked so it can be blacklisted."""
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def user_login(*, request, username: str, password: str):
    """Password login. Returns the user or ``None``; raises LoginThrottled when rate limited."""
    login_throttle_check(request=request, username=username)
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        return None
    return user


def token_revoke(*, user, access_token, refresh: str | None = None) -> None:
    """Logout: the presented access token stops working now, the refresh token is blacklisted."""
    exp = datetime.fromtimestamp(access_token["exp"], tz=UTC)
    RevokedToken.objects.get_or_create(jti=access_token["jti"], defaults={"user": user, "expires_at": exp})
    if refresh:
        try:
            token = RefreshToken(refresh)
        except TokenError:
            return
        if str(token.get("user_id")) == str(user.pk):
            token.blacklist()


def user_revoke_all_tokens(*, user) -> int:
    """Blacklist every outstanding refresh token of ``user`` (deactivation does the rest)."""
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    count = 0
    for outstanding in OutstandingToken.objects.filter(user=user):
        _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
        count += int(created)
    return count


def parse_user_list(spec: str) -> list[tuple[str, str]]:
    """``"u1:p1,u2:p2"`` → ``[("u1", "p1"), ("u2", "p2")]``; malformed entries are skipped."""
    pairs = []
    for item in spec.split(","):
        name, sep, password = item.strip().partition(":")
        if sep and name and password:
            pairs.append((name.strip(), password))
    return pairs


@transaction.atomic
def users_bootstrap(*, admin_user: str, admin_pass: str, extra_users: str) -> list[str]:
    """Create the first admin and the HazeBot ``API_EXTRA_USERS`` if they do not exist yet.

    Existing users are left alone (their password may have been changed in admin).
    Returns the usernames created.
    """
    User = get_user_model()
    created = []
    if admin_user and admin_pass:
        if not User.objects.filter(username=admin_user).exists():
            User.objects.create_superuser(username=admin_user, password=admin_pass, email="", role=Role.ADMIN)
            created.append(admin_user)
    for name, password in parse_user_list(extra_users):
        if not User.objects.filter(username=name).exists():
            User.objects.create_user(username=name, password=password, role=Role.USER)
            created.append(name)
    return created


def notification_send(*, payload: dict, user_ids: list | None = None) -> None:
    """Send ``payload`` to the ``/ws/notifications/`` sockets of ``user_ids``, or to all when ``None``.

    Goes out after the surrounding transaction commits, so nobody hears of a
    rolled-back write.
    """
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from accounts.consumers import BROADCAST_GROUP, user_group

    groups = [BROADCAST_GROUP] if user_ids is None else [user_group(uid) for uid in user_ids]

    def _send():
        layer = get_channel_layer()
        for group in groups:
            async_to_sync(layer.group_send)(group, {"type": "notify", "payload": payload})

    transaction.on_commit(_send)
