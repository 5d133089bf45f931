"""Google (ByteChat) and Discord (HazeBot) sign-in endpoints. Thin: the work is in
:mod:`accounts.google`, :mod:`accounts.discord` and :mod:`accounts.social`."""

from __future__ import annotations

import hashlib
import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpResponseRedirect
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, AuthenticationFailed, NotAuthenticated, Throttled, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import discord, google, services, social
from accounts.authentication import JWTAuthentication
from accounts.serializers import LoginOutput, login_payload
from voidsite import ratelimit
from voidsite.errors import json_error
from voidsite.net import client_ip

log = logging.getLogger("voidsite.accounts.social")


class ServiceNotConfigured(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "This sign-in method is not configured on this server."


class UpstreamUnavailable(APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The sign-in provider could not be reached. Try again later."


def _throttle(request) -> None:
    """Sign-in attempts per client address share the password login's limit."""
    value = hashlib.sha256(f"{settings.SECRET_KEY}:{client_ip(request)}".encode()).hexdigest()[:32]
    usage = ratelimit.hit(request, group="social:ip", value=value, rate=settings.LOGIN_RATE_IP)
    if usage is not None and usage.limited:
        raise Throttled(wait=usage.retry_after, detail="Too many sign-in attempts. Try again later.")


class GoogleTokenInput(serializers.Serializer):
    access_token = serializers.CharField(required=False, max_length=4096)
    id_token = serializers.CharField(required=False, max_length=8192)

    def validate(self, attrs):
        if not attrs.get("access_token") and not attrs.get("id_token"):
            raise serializers.ValidationError("access_token or id_token is required.")
        return attrs


class GoogleLoginOutput(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    name = serializers.CharField()
    picture = serializers.CharField()
    total_tokens = serializers.IntegerField()
    tokens_used = serializers.IntegerField()
    tokens_left = serializers.IntegerField()
    token = serializers.CharField(help_text="Access JWT (Bearer) for the rest of the API.")
    access = serializers.CharField(help_text="Same as token.")
    refresh = serializers.CharField(help_text="Refresh JWT for /api/auth/refresh.")


def _google_user(request, data: dict, connect_user=None):
    """Verify the posted Google token (access token or ID token) and return ``(user, name, picture)``."""
    try:
        if data.get("id_token"):
            sociallogin = google.sociallogin_for_id_token(request=request, id_token=data["id_token"])
            extra = sociallogin.account.extra_data
            user = social.google_sociallogin_save(sociallogin=sociallogin, connect_user=connect_user)
        else:
            profile, _ = google.verify_access_token(data["access_token"].strip())
            extra = profile.data
            user = social.google_user_upsert(request=None, profile=profile, connect_user=connect_user)
    except google.GoogleNotConfigured as exc:
        raise ServiceNotConfigured(str(exc)) from None
    except google.GoogleUnavailable as exc:
        raise UpstreamUnavailable(str(exc)) from None
    except google.GoogleAuthError as exc:
        raise AuthenticationFailed(str(exc)) from None
    except social.SignInRefused as exc:
        raise _Conflict(exc.detail) from None
    if not user.is_active:
        raise AuthenticationFailed("This account is disabled.")
    name = str(extra.get("name") or user.get_full_name() or user.username)
    picture = str(extra.get("picture") or user.avatar_url or "")
    return user, name, picture


class _Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This account is already linked to another user."


class _NoChallenge401:
    def get_authenticate_header(self, request):
        return 'Bearer realm="api"'


class GoogleAuthView(_NoChallenge401, APIView):
    """ByteChat's Google login: a Google access token (or ID token) → the ByteChat user and a JWT pair."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=GoogleTokenInput, responses={200: GoogleLoginOutput}, tags=["auth"])
    def post(self, request):
        _throttle(request)
        data = GoogleTokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        user, name, picture = _google_user(request, data.validated_data)
        from billing.services import token_balance_for

        balance = token_balance_for(user=user)
        tokens = services.tokens_for_user(user=user)
        return Response(
            {
                "id": user.pk,
                "email": user.email,
                "name": name,
                "picture": picture,
                "total_tokens": balance.total_tokens,
                "tokens_used": balance.tokens_used,
                "tokens_left": balance.tokens_left,
                "token": tokens["access"],
                "access": tokens["access"],
                "refresh": tokens["refresh"],
            }
        )


_Linked = inline_serializer("SocialLinked", {"linked": serializers.BooleanField(), "provider": serializers.CharField()})


class GoogleConnectView(APIView):
    """Link a Google account to the signed-in user (allauth's connect flow)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=GoogleTokenInput, responses={200: _Linked}, tags=["auth"])
    def post(self, request):
        _throttle(request)
        data = GoogleTokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        _google_user(request, data.validated_data, connect_user=request.user)
        return Response({"linked": True, "provider": google.PROVIDER})


class DiscordAuthView(_NoChallenge401, APIView):
    """HazeBot: the Discord authorize URL with a signed, single-use ``state``.

    ``?platform=web|android|ios`` picks the app the callback returns to;
    ``?process=connect`` with a Bearer token links Discord to that user instead.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[
            OpenApiParameter("platform", str, enum=list(social.PLATFORMS), required=False),
            OpenApiParameter("process", str, enum=["login", "connect"], required=False),
        ],
        responses={200: inline_serializer("DiscordAuthUrl", {"auth_url": serializers.URLField()})},
        tags=["auth"],
    )
    def get(self, request):
        if not discord.is_configured():
            raise ServiceNotConfigured("Discord sign-in is not configured on this server.")
        platform = request.query_params.get("platform") or "web"
        if social.platform_url(platform=platform) is None:
            raise ValidationError({"platform": ["Unknown or unconfigured platform."]})
        connect_user_id = None
        if request.query_params.get("process") == "connect":
            auth = JWTAuthentication().authenticate(request)
            if auth is None:
                raise NotAuthenticated("Linking Discord needs a Bearer token.")
            connect_user_id = auth[0].pk
        state = social.social_state_issue(platform=platform, connect_user_id=connect_user_id)
        return Response({"auth_url": discord.authorize_url(state=state)})


class AppRedirect(HttpResponseRedirect):
    """A redirect to a configured app URL, which may use the app's own scheme (``hazebot://``)."""

    def __init__(self, url: str, *args, **kwargs):
        self.allowed_schemes = ["https", "http", urlsplit(url).scheme]
        super().__init__(url, *args, **kwargs)


def discord_callback(request):
    """Discord's redirect back: sign in (or link), then send the browser to the app.

    Only to the configured URL of ``web``, ``android`` or ``ios``; the result is
    in the URL fragment — ``#code=<one-time code>`` on success (trade it at
    ``POST /api/discord/exchange``), ``#error=<reason>`` otherwise. A platform
    that is not configured is refused with a 400, never redirected to.
    """
    if request.method != "GET":
        return json_error("Method not allowed.", 405, headers={"Allow": "GET"})
    if not discord.is_configured():
        return json_error("Discord sign-in is not configured on this server.", 503)
    query_platform = request.GET.get("platform")
    if query_platform is not None and social.platform_url(platform=query_platform) is None:
        return json_error("Unknown or unconfigured platform.", 400)
    try:
        state = social.social_state_consume(state=request.GET.get("state", ""))
    except social.StateInvalid as exc:
        platform = query_platform or "web"
        if social.platform_url(platform=platform) is None:
            return json_error(exc.detail, 400)
        return AppRedirect(social.app_redirect_url(platform=platform, params={"error": exc.reason}))
    platform = query_platform or state["platform"]
    if social.platform_url(platform=platform) is None:
        return json_error("Unknown or unconfigured platform.", 400)

    def back(**params) -> HttpResponseRedirect:
        return AppRedirect(social.app_redirect_url(platform=platform, params=params))

    if request.GET.get("error"):  # the person declined on Discord's page
        return back(error="access_denied")
    code = request.GET.get("code", "")
    if not code or len(code) > 512:
        return back(error="invalid_request")
    try:
        user = social.discord_sign_in(code=code, connect_user_id=state["connect_user_id"])
    except social.SignInRefused as exc:
        log.info("Discord sign-in refused: %s", exc.reason)
        return back(error=exc.reason)
    except discord.DiscordUnavailable:
        return back(error="discord_unavailable")
    try:
        code = social.app_code_issue(user=user)
    except Exception:  # cache down: no code can be stored
        log.exception("one-time code not stored")
        return back(error="server_error")
    params = {"code": code}
    if state["connect_user_id"] is not None:
        params["linked"] = "discord"
    return back(**params)


class ExchangeInput(serializers.Serializer):
    code = serializers.CharField(max_length=200)


class DiscordExchangeView(_NoChallenge401, APIView):
    """Trade the one-time code of the Discord redirect for the HazeBot login shape."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=ExchangeInput, responses={200: LoginOutput}, tags=["auth"])
    def post(self, request):
        _throttle(request)
        data = ExchangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = social.app_code_redeem(code=data.validated_data["code"])
        if user is None:
            raise AuthenticationFailed("Invalid, expired or already used code.")
        return Response(login_payload(user, services.tokens_for_user(user=user)))
