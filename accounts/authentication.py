"""JWT authentication for DRF, plain views and WebSockets.

The user, its role and its active flag are read from the database on every
request (a demoted moderator loses power at once); the same single query also
checks that the token was not revoked by a logout.
"""

from __future__ import annotations

from functools import lru_cache

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import RevokedToken


@lru_cache(maxsize=4)
def _user_query(vendor: str):
    """The user's row and "is this token revoked?" in one pre-written query.

    This runs on every authenticated request and every chat request; the ORM
    would compile the same annotated query each time. Values pass through the
    same converters the ORM applies.
    """
    User = get_user_model()
    meta = User._meta
    qn = connection.ops.quote_name
    fields = list(meta.concrete_fields)
    table, pk = qn(meta.db_table), qn(meta.pk.column)
    sql = (
        "SELECT {}, EXISTS(SELECT 1 FROM {} r WHERE r.jti = %s AND r.user_id = u.{}) FROM {} u WHERE u.{} = %s".format(
            ", ".join(f"u.{qn(f.column)}" for f in fields), qn(RevokedToken._meta.db_table), pk, table, pk
        )
    )
    converters = []
    for index, f in enumerate(fields):
        column = f.get_col(meta.db_table)
        found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if found:
            converters.append((index, found, column))
    return sql, [f.attname for f in fields], converters


def user_for_access_token(validated_token) -> object:
    """The active user a validated access token belongs to; raises AuthenticationFailed."""
    User = get_user_model()
    try:
        user_id = User._meta.pk.to_python(validated_token["user_id"])
        jti = str(validated_token["jti"])
    except KeyError as exc:
        raise InvalidToken("Token contained no recognizable user identification") from exc
    except ValidationError as exc:
        raise InvalidToken("Token contained no recognizable user identification") from exc
    sql, names, converters = _user_query(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [jti, user_id])
        row = cursor.fetchone()
    if row is None:
        raise AuthenticationFailed("User not found", code="user_not_found")
    values = list(row[:-1])
    for index, functions, column in converters:
        for convert in functions:
            values[index] = convert(values[index], column, connection)
    user = User.from_db(connection.alias, names, values)
    if not user.is_active:
        raise AuthenticationFailed("User is inactive", code="user_inactive")
    if row[-1]:
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
