"""JWT authentication for DRF, plain views and WebSockets.

The user, its role and its active flag are read from the database on every
request (a demoted moderator loses power at once); the same single query also
checks that the token was not revoked by a logout.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import RevokedToken


def user_for_access_token(validated_token) -> object:
    """The active user a validated access token belongs to; raises AuthenticationFailed."""
    User = get_user_model()
    try:
        user_id = validated_token["user_id"]
        jti = validated_token["jti"]
    except KeyError as exc:
        raise InvalidToken("Token contained no recognizable user identification") from exc
    user = (
        User.objects.annotate(token_revoked=Exists(RevokedToken.objects.filter(jti=jti, user_id=OuterRef("pk"))))
        .filter(pk=user_id)
        .first()
    )
    if user is None:
        raise AuthenticationFailed("User not found", code="user_not_found")
    if not user.is_active:
        raise AuthenticationFailed("User is inactive", code="user_inactive")
    if user.token_revoked:
        raise AuthenticationFailed("Token has been revoked", code="token_revoked")
    return user


def user_for_raw_token(raw: str | bytes):
    """Validate a raw access token string and return ``(user, token)``; raises AuthenticationFailed."""
    try:
        token = AccessToken(raw)
    except TokenError as exc:
        raise AuthenticationFailed("Invalid or expired token", code="token_not_valid") from exc
    return user_for_access_token(token), token


class JWTAuthentication(authentication.JWTAuthentication):
    def get_user(self, validated_token):
        return user_for_access_token(validated_token)

    def get_validated_token(self, raw_token):
        try:
            return AccessToken(raw_token)
        except TokenError as exc:
            raise InvalidToken("Invalid or expired token") from exc
