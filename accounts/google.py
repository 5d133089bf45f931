"""Google sign-in (ByteChat): the HTTP client and token verification.

ByteChat's clients send a Google OAuth *access token*. allauth's Google
provider only verifies ID tokens, so an access token is checked here against
Google's token-info endpoint (its ``aud``/``azp`` must be one of our client
ids, so a token issued to another app cannot sign in) and the profile is read
from the userinfo endpoint. An ``id_token`` goes through allauth's own
verification (signature, issuer, audience, expiry). Either way the user and
its ``SocialAccount`` are written by :mod:`accounts.social` through allauth's
models.

:func:`user_for_access_token` is the cached form used by ``POST /api/chat/stream``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.core.cache import cache

from accounts import social_http

log = logging.getLogger("voidsite.accounts.google")

PROVIDER = "google"


class GoogleError(Exception):
    """Base of the Google sign-in errors."""


class GoogleAuthError(GoogleError):
    """The token is invalid, expired or issued to another app (→ 401)."""


class GoogleUnavailable(GoogleError):
    """Google could not be reached or answered with an error of its own (→ 502)."""


class GoogleNotConfigured(GoogleUnavailable):
    """``GOOGLE_CLIENT_ID`` is not set (→ 503; a subclass of GoogleUnavailable for callers that only know that)."""


@dataclass(frozen=True)
class GoogleProfile:
    """What the userinfo endpoint (or a verified ID token) says about the person."""

    sub: str
    email: str
    email_verified: bool
    name: str
    picture: str
    data: dict  # the provider's JSON, kept as the SocialAccount's extra_data


def is_configured() -> bool:
    return bool(settings.GOOGLE_CLIENT_ID)


def _require_configured() -> None:
    if not is_configured():
        raise GoogleNotConfigured("Google sign-in is not configured on this server.")


def allowed_client_ids() -> set[str]:
    return {settings.GOOGLE_CLIENT_ID, *settings.GOOGLE_EXTRA_CLIENT_IDS} - {""}


def _client_id_allowed(value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    return any(hmac.compare_digest(value, allowed) for allowed in allowed_client_ids())


def _get(url: str, **kwargs) -> httpx.Response:
    try:
        response = social_http.client().get(url, **kwargs)
    except httpx.HTTPError as exc:
        log.warning("Google unreachable: %s", type(exc).__name__)
        raise GoogleUnavailable("Google could not be reached. Try again later.") from exc
    if response.status_code >= 500 or response.status_code == 429:
        log.warning("Google answered %s", response.status_code)
        raise GoogleUnavailable("Google could not verify the token right now. Try again later.")
    return response


def token_info(access_token: str) -> dict:
    """Google's token info for an access token, checked: ours, not expired. Raises GoogleAuthError."""
    _require_configured()
    response = _get(settings.GOOGLE_TOKENINFO_URL, params={"access_token": access_token})
    if response.status_code != 200:
        raise GoogleAuthError("Invalid access token")
    info = social_http.json_object(response, GoogleUnavailable, "Google")
    if not (_client_id_allowed(info.get("aud")) and _client_id_allowed(info.get("azp", info.get("aud")))):
        raise GoogleAuthError("Invalid access token")  # issued to another app
    try:
        expires_in = int(info.get("expires_in", 0))
        exp = int(info.get("exp", 0))
    except (TypeError, ValueError):
        raise GoogleAuthError("Invalid access token") from None
    if expires_in <= 0 or (exp and exp <= time.time()):
        raise GoogleAuthError("Access token expired")
    if not info.get("sub"):
        raise GoogleAuthError("Invalid access token")
    return info


def user_info(access_token: str) -> dict:
    """The OpenID userinfo of the token's owner. Raises GoogleAuthError / GoogleUnavailable."""
    _require_configured()
    response = _get(settings.GOOGLE_USERINFO_URL, headers={"Authorization": f"Bearer {access_token}"})
    if response.status_code != 200:
        raise GoogleAuthError("Invalid access token")
    data = social_http.json_object(response, GoogleUnavailable, "Google")
    if not data.get("sub"):
        raise GoogleAuthError("Invalid access token")
    return data


def _profile(data: dict) -> GoogleProfile:
    return GoogleProfile(
        sub=str(data["sub"]),
        email=str(data.get("email") or ""),
        email_verified=bool(data.get("email_verified") or data.get("verified_email")),
        name=str(data.get("name") or ""),
        picture=str(data.get("picture") or ""),
        data=data,
    )


def verify_access_token(access_token: str) -> tuple[GoogleProfile, int]:
    """Verify an access token (token info) and read the profile (userinfo); the two must agree.

    Returns the profile and the seconds the token has left.
    """
    info = token_info(access_token)
    data = user_info(access_token)
    if str(data["sub"]) != str(info["sub"]):
        raise GoogleAuthError("Invalid access token")
    if not data.get("email") and info.get("email"):
        data = {**data, "email": info["email"], "email_verified": info.get("email_verified") in (True, "true")}
    return _profile(data), int(info.get("expires_in", 0))


def sociallogin_for_id_token(*, request, id_token: str):
    """An unsaved allauth ``SocialLogin`` for a Google ID token, verified by allauth's Google provider."""
    import requests
    from allauth.socialaccount.adapter import get_adapter
    from django.core.exceptions import ValidationError

    _require_configured()
    provider = get_adapter().get_provider(request, PROVIDER)
    try:
        return provider.verify_token(request, {"id_token": id_token})
    except ValidationError as exc:
        if isinstance(exc.__cause__, requests.ConnectionError | requests.Timeout):
            raise GoogleUnavailable("Google could not be reached. Try again later.") from exc
        cause = exc.__cause__
        if isinstance(cause, requests.HTTPError) and cause.response is not None and cause.response.status_code >= 500:
            raise GoogleUnavailable("Google could not be reached. Try again later.") from exc
        raise GoogleAuthError("Invalid ID token") from exc


def _cache_key(raw: str) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), raw.encode(), hashlib.sha256).hexdigest()
    return f"google:at:{digest}"


def user_for_access_token(raw: str):
    """The active user a Google access token belongs to, signing them up on first use.

    The verification is remembered for ``GOOGLE_TOKEN_CACHE_TTL`` seconds (never
    past the token's own expiry) under an HMAC of the token, so a chat does not
    cost a Google round trip per message. Raises :class:`GoogleAuthError` (401),
    :class:`GoogleUnavailable` (502) or :class:`GoogleNotConfigured` (503).
    """
    from django.contrib.auth import get_user_model

    from accounts import social

    _require_configured()
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 4096:
        raise GoogleAuthError("Invalid access token")
    raw = raw.strip()
    key = _cache_key(raw)
    try:
        user_id = cache.get(key)
    except Exception:  # cache backend down (Redis): verify with Google instead of failing
        log.warning("Google token cache unavailable", exc_info=True)
        user_id = None
    if user_id is not None:
        user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
        if user is not None:
            return user
    profile, expires_in = verify_access_token(raw)
    user = social.google_user_upsert(request=None, profile=profile)
    if not user.is_active:
        raise GoogleAuthError("This account is disabled.")
    ttl = min(settings.GOOGLE_TOKEN_CACHE_TTL, expires_in)
    if ttl > 0:
        try:
            cache.set(key, user.pk, ttl)
        except Exception:  # cache backend down (Redis): the next call simply verifies again
            log.warning("Google token cache unavailable", exc_info=True)
    return user
