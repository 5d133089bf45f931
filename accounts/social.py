"""Social sign-in writes: users and allauth ``SocialAccount`` rows for Google and
Discord, Discord guild roles, account linking, the signed single-use OAuth
``state`` and the one-time app codes of the Discord redirect.

Users and social accounts are written through allauth's ``SocialLogin``
(``lookup()`` / ``save()`` / ``connect()``), so admin, allauth's own views and
these APIs all see the same records.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from accounts import discord
from accounts.models import Role

log = logging.getLogger("voidsite.accounts.social")

PLATFORMS = ("web", "android", "ios")
_STATE_SALT = "accounts.social.discord-state"


class SignInRefused(Exception):
    """A social sign-in or link that must not go ahead. ``reason`` is a short code for the app."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class StateInvalid(SignInRefused):
    def __init__(self, detail: str = "The sign-in link is invalid, expired or was already used."):
        super().__init__("invalid_state", detail)


# --- Discord roles -------------------------------------------------------------------


def discord_role_for(*, roles: list[str]) -> str | None:
    """Map a member's Discord role ids to admin / moderator / user; ``None`` when none is mapped."""
    held = {str(role) for role in roles or []}
    for role_id, role in (
        (settings.ADMIN_ROLE_ID, Role.ADMIN),
        (settings.MODERATOR_ROLE_ID, Role.MODERATOR),
        (settings.LOOTLING_ROLE_ID, Role.USER),
    ):
        if role_id and str(role_id) in held:
            return role
    return None


def user_role_apply(*, user, role: str) -> None:
    """Set the role mapped from Discord, and the Django admin flags that follow from it.

    Admins are superusers, moderators are staff, users neither. One UPDATE; the
    in-memory ``user`` is refreshed to match.
    """
    fields = {"role": role, "is_staff": role in (Role.ADMIN, Role.MODERATOR), "is_superuser": role == Role.ADMIN}
    get_user_model().objects.filter(pk=user.pk).update(**fields)
    for name, value in fields.items():
        setattr(user, name, value)


# --- state and one-time codes --------------------------------------------------------


def platform_url(*, platform: str) -> str | None:
    """The configured app URL of ``platform``, or ``None`` for an unknown or unconfigured one."""
    if platform not in PLATFORMS:
        return None
    return settings.DISCORD_APP_URLS.get(platform) or None


def app_redirect_url(*, platform: str, params: dict[str, str]) -> str:
    """The platform's app URL with ``params`` in the fragment (never in the query, which ends up in logs)."""
    base = platform_url(platform=platform)
    if base is None:
        raise ValueError(f"no app URL for platform {platform!r}")
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, urlencode(params)))


def social_state_issue(*, platform: str, connect_user_id: int | None = None) -> str:
    """A signed OAuth ``state`` naming the platform to return to (and the user to link, if any)."""
    payload = {"n": secrets.token_urlsafe(16), "p": platform, "c": connect_user_id}
    return signing.dumps(payload, salt=_STATE_SALT, compress=False)


def social_state_consume(*, state: str) -> dict:
    """Check a ``state``'s signature and age and spend it; a second use raises StateInvalid.

    Spending is ``cache.add`` on the nonce (an atomic SET NX on Redis), so two
    callbacks racing with one state cannot both pass.
    """
    if not state or len(state) > 1024:
        raise StateInvalid()
    try:
        payload = signing.loads(state, salt=_STATE_SALT, max_age=settings.DISCORD_STATE_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired is a subclass
        raise StateInvalid() from None
    if not isinstance(payload, dict) or not isinstance(payload.get("n"), str):
        raise StateInvalid()
    try:
        fresh = cache.add(f"social:state:{payload['n']}", 1, timeout=settings.DISCORD_STATE_MAX_AGE + 60)
    except Exception:  # cache down: refuse rather than allow a replay
        log.warning("state cache unavailable", exc_info=True)
        raise StateInvalid("Sign-in is unavailable right now. Try again later.") from None
    if not fresh:
        raise StateInvalid()
    return {"platform": payload.get("p"), "connect_user_id": payload.get("c")}


def _code_key(code: str) -> str:
    return "social:code:" + hashlib.sha256(code.encode()).hexdigest()


def app_code_issue(*, user) -> str:
    """A one-time code the app trades for a JWT pair (``POST /api/discord/exchange``).

    Only a SHA-256 of the code is kept, for ``SOCIAL_APP_CODE_TTL`` seconds.
    """
    code = secrets.token_urlsafe(32)
    cache.set(_code_key(code), user.pk, timeout=settings.SOCIAL_APP_CODE_TTL)
    return code


def app_code_redeem(*, code: str):
    """The active user a one-time code was issued to, or ``None``. A code works once:
    of two racing redeems only the one whose ``delete`` removed the key wins."""
    if not code or len(code) > 200:
        return None
    key = _code_key(code)
    user_id = cache.get(key)
    if user_id is None or not cache.delete(key):
        return None
    return get_user_model().objects.filter(pk=user_id, is_active=True).first()


# --- social accounts -----------------------------------------------------------------


def _detached_request() -> HttpRequest:
    """allauth's save path touches ``request.session``; API sign-ins have no session to touch."""
    request = HttpRequest()
    request.session = {}  # type: ignore[assignment]
    return request


def _unique_username(*candidates: str | None) -> str:
    from allauth.account.adapter import get_adapter as get_account_adapter

    return get_account_adapter().generate_unique_username([c for c in candidates if c] + ["user"])


def _save_sociallogin(*, sociallogin, connect_user=None, prepare_new_user=None, update_user=None):
    """Find or create the user behind ``sociallogin`` (or link it to ``connect_user``) and return the user.

    ``prepare_new_user(user)`` fills a brand-new user before it is saved;
    ``update_user(user)`` runs for every sign-in. Retries once when a parallel
    first sign-in of the same account wins the unique (provider, uid) race.
    """
    request = _detached_request()
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                return _save_sociallogin_once(
                    request=request,
                    sociallogin=sociallogin,
                    connect_user=connect_user,
                    prepare_new_user=prepare_new_user,
                    update_user=update_user,
                )
        except IntegrityError:
            if attempt == 2:
                log.warning("social sign-in conflict for %s", sociallogin.account.provider)
                raise SignInRefused(
                    "conflict", "This account conflicts with another user (e-mail or Discord id)."
                ) from None
            sociallogin = _fresh(sociallogin)
    raise AssertionError("unreachable")


def _fresh(sociallogin):
    """A copy of an unsaved SocialLogin, ready for another ``lookup()``."""
    from allauth.socialaccount.models import SocialAccount, SocialLogin

    account = sociallogin.account
    fresh = SocialLogin(
        user=get_user_model()(**{f: getattr(sociallogin.user, f) for f in ("email", "first_name", "last_name")}),
        account=SocialAccount(provider=account.provider, uid=account.uid, extra_data=account.extra_data),
        email_addresses=sociallogin.email_addresses,
        provider=sociallogin.provider,
    )
    return fresh


def _save_sociallogin_once(*, request, sociallogin, connect_user, prepare_new_user, update_user):
    sociallogin.lookup()  # allauth: finds the SocialAccount, refreshes its extra_data
    if connect_user is not None:
        if sociallogin.is_existing:
            if sociallogin.user.pk != connect_user.pk:
                raise SignInRefused("already_linked", "This account is already linked to another user.")
            user = sociallogin.user
        else:
            from allauth.socialaccount.models import SocialAccount

            provider = sociallogin.account.provider
            if SocialAccount.objects.filter(user=connect_user, provider=provider).exists():
                raise SignInRefused("already_linked", f"Another {provider} account is already linked to this user.")
            if connect_user.role == Role.BOT:
                raise SignInRefused("not_allowed", "The bot's service account cannot be linked.")
            sociallogin.connect(request, connect_user)  # allauth's connect: saves the SocialAccount
            user = connect_user
    elif sociallogin.is_existing:
        user = sociallogin.user
    else:
        user = sociallogin.user
        if prepare_new_user is not None:
            prepare_new_user(user)
        user.set_unusable_password()
        sociallogin.save(request)  # allauth: saves user, SocialAccount and e-mail addresses
    if update_user is not None:
        update_user(user)
    return user


def google_user_upsert(*, request, profile, connect_user=None):
    """The user of a verified Google profile (``accounts.google.GoogleProfile``), created on first
    sign-in, or the ``connect_user`` the Google account is linked to."""
    from allauth.socialaccount.adapter import get_adapter

    from accounts import google

    provider = get_adapter().get_provider(request, google.PROVIDER)
    sociallogin = provider.sociallogin_from_response(request, profile.data)
    return google_sociallogin_save(sociallogin=sociallogin, picture=profile.picture, connect_user=connect_user)


def google_sociallogin_save(*, sociallogin, picture: str = "", connect_user=None):
    """Save a verified Google ``SocialLogin`` (access-token or ID-token path) and return the user."""
    picture = picture or str(sociallogin.account.extra_data.get("picture") or "")

    def prepare(user):
        user.username = _unique_username(
            (user.email or "").split("@")[0], user.first_name, user.last_name, sociallogin.account.uid
        )

    def update(user):
        if picture and user.avatar_url != picture and len(picture) <= 500:
            get_user_model().objects.filter(pk=user.pk).update(avatar_url=picture)
            user.avatar_url = picture

    return _save_sociallogin(
        sociallogin=sociallogin, connect_user=connect_user, prepare_new_user=prepare, update_user=update
    )


@dataclass(frozen=True)
class DiscordIdentity:
    """A Discord user whose guild membership and mapped role were checked."""

    user: dict
    role: str


def discord_identity(*, code: str) -> DiscordIdentity:
    """Exchange the code, read the user and their member roles in ``DISCORD_GUILD_ID``.

    Raises SignInRefused (``not_in_guild``, ``no_role``, ``discord_refused``) or
    ``discord.DiscordUnavailable``.
    """
    try:
        token = discord.token_exchange(code=code)
        return discord_identity_for_token(access_token=token.access_token)
    except discord.DiscordAuthError as exc:
        raise SignInRefused("discord_refused", str(exc)) from exc


def discord_identity_for_token(*, access_token: str) -> DiscordIdentity:
    user = discord.current_user(access_token=access_token)
    member = discord.guild_member(access_token=access_token)
    if member is None:
        raise SignInRefused("not_in_guild", "You are not a member of the Discord server.")
    role = discord_role_for(roles=member.get("roles") or [])
    if role is None:
        raise SignInRefused("no_role", "You have none of the Discord roles that may sign in.")
    return DiscordIdentity(user=user, role=role)


def discord_sociallogin(*, request, identity: DiscordIdentity):
    from allauth.socialaccount.adapter import get_adapter

    provider = get_adapter().get_provider(request, discord.PROVIDER)
    return provider.sociallogin_from_response(request, identity.user)


def discord_sociallogin_save(*, sociallogin, role: str, connect_user=None):
    """Save a Discord ``SocialLogin`` whose role was mapped; the role is refreshed every time."""
    data = sociallogin.account.extra_data or {}
    uid = sociallogin.account.uid
    avatar = f"https://cdn.discordapp.com/avatars/{uid}/{data['avatar']}.png" if data.get("avatar") else ""

    def prepare(user):
        user.username = _unique_username(data.get("username"), data.get("global_name"), f"discord{uid}")
        user.discord_id = uid
        user.avatar_url = avatar
        user.email = ""  # Discord's e-mail is not asked for (scopes: identify, guilds.members.read)

    def update(user):
        if user.role == Role.BOT:
            raise SignInRefused("not_allowed", "The bot's service account cannot sign in with Discord.")
        changes = {}
        if user.discord_id != uid:
            changes["discord_id"] = uid
        if avatar and user.avatar_url != avatar:
            changes["avatar_url"] = avatar
        if changes:
            get_user_model().objects.filter(pk=user.pk).update(**changes)
            for name, value in changes.items():
                setattr(user, name, value)
        user_role_apply(user=user, role=role)

    return _save_sociallogin(
        sociallogin=sociallogin, connect_user=connect_user, prepare_new_user=prepare, update_user=update
    )


def discord_sign_in(*, code: str, connect_user_id: int | None = None):
    """The whole Discord callback: code → identity → user with a refreshed role.

    With ``connect_user_id`` the Discord account is linked to that user instead
    of signing in as whoever owns it. Raises SignInRefused or DiscordUnavailable.
    """
    identity = discord_identity(code=code)
    connect_user = None
    if connect_user_id is not None:
        connect_user = get_user_model().objects.filter(pk=connect_user_id, is_active=True).first()
        if connect_user is None:
            raise SignInRefused("account_disabled", "The account to link no longer exists or is disabled.")
    sociallogin = discord_sociallogin(request=None, identity=identity)
    user = discord_sociallogin_save(sociallogin=sociallogin, role=identity.role, connect_user=connect_user)
    if not user.is_active:
        raise SignInRefused("account_disabled", "This account is disabled.")
    return user
