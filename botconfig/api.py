"""HazeBot's bot-side endpoints: configuration, cogs, Rocket League, memes, admin stats and broadcast."""

from __future__ import annotations

import re

from asgiref.sync import async_to_sync
from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role
from accounts.permissions import IsAdminRole
from botconfig import selectors, services, trn
from botconfig.defaults import DEFAULTS
from botconfig.models import Priority
from voidsite.errors import json_error


def _has_role(request, *roles) -> bool:
    user = request.user
    return bool(user and user.is_authenticated and getattr(user, "role", None) in roles)


class IsAdminOrBot(BasePermission):
    message = "Admin role required."

    def has_permission(self, request, view):
        return _has_role(request, Role.ADMIN, Role.BOT)


class ConfigSectionPermission(BasePermission):
    """Reads: staff (admin, moderator) and the bot; the ``tickets`` section only admins
    and the bot (the seed marks it admin only). Writes: admins."""

    message = "You do not have permission to access this configuration section."

    def has_permission(self, request, view):
        if request.method in ("GET", "HEAD", "OPTIONS"):
            if view.kwargs.get("section") == "tickets":
                return _has_role(request, Role.ADMIN, Role.BOT)
            return _has_role(request, Role.ADMIN, Role.MODERATOR, Role.BOT)
        return _has_role(request, Role.ADMIN)


_ETAG = re.compile(r'^\s*(?:W/)?"?(\d+)"?\s*$')


def _etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(header: str | None) -> int | None:
    """The version an ``If-Match`` header names; ``None`` when absent or ``*``."""
    if header is None or header.strip() == "*":
        return None
    match = _ETAG.match(header)
    if not match:
        raise ValidationError({"If-Match": ['Must be the section\'s ETag, e.g. "3".']})
    return int(match.group(1))


@extend_schema_view(get=extend_schema(responses=OpenApiTypes.OBJECT, operation_id="api_config_all"))
class ConfigAllView(APIView):
    permission_classes = [IsAdminOrBot]

    def get(self, request):
        return Response(selectors.config_get_all())


@extend_schema_view(
    get=extend_schema(responses=OpenApiTypes.OBJECT),
    put=extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT),
)
class ConfigSectionView(APIView):
    """``GET``/``PUT /api/config/<section>``. ``PUT`` takes any subset of the section's
    fields; with ``If-Match: "<version>"`` it is refused with 409 when the section has
    changed since. Without ``If-Match`` it applies unconditionally (the seed's clients
    send none)."""

    permission_classes = [ConfigSectionPermission]

    def _section(self, section: str) -> str:
        if section not in DEFAULTS:
            raise NotFound(f"Unknown configuration section {section!r}.")
        return section

    def get(self, request, section):
        values, version = selectors.config_get_versioned(self._section(section))
        return Response(values, headers={"ETag": _etag(version)})

    def put(self, request, section):
        name = self._section(section)
        expected = parse_if_match(request.headers.get("If-Match"))
        try:
            values, version = services.config_update(
                name=name, values=request.data, user=request.user, expected_version=expected, reason="API PUT"
            )
        except services.ConfigConflict as exc:
            return json_error(
                "The section was changed by someone else; reload it and retry.",
                409,
                headers={"ETag": _etag(exc.current_version)},
                current_version=exc.current_version,
            )
        return Response(values, headers={"ETag": _etag(version)})


# --- cogs ---------------------------------------------------------------------------


@extend_schema_view(get=extend_schema(responses=OpenApiTypes.OBJECT))
class CogListView(APIView):
    permission_classes = [IsAdminRole]

    def get(self, request):
        state = selectors.bot_state_get()
        return Response({"cogs": state.cogs or [], "bot_online": selectors.bot_is_online(state)})


class CogCommandInput(serializers.Serializer):
    cog_name = serializers.CharField(max_length=100)


@extend_schema_view(post=extend_schema(request=CogCommandInput, responses=OpenApiTypes.OBJECT))
class CogCommandView(APIView):
    permission_classes = [IsAdminRole]
    action: str = ""

    def post(self, request):
        data = CogCommandInput(data=request.data)
        data.is_valid(raise_exception=True)
        cog = data.validated_data["cog_name"]
        state = selectors.bot_state_get()
        if not selectors.bot_is_online(state):
            return json_error("bot offline", 503)
        if cog not in selectors.bot_available_cogs(state):
            return json_error(f"Unknown cog {cog!r}: not among the cogs the bot reported.", 400)
        try:
            answer = async_to_sync(services.cog_command_send)(
                channel_name=state.channel_name, action=self.action, cog_name=cog, timeout=settings.BOT_COMMAND_TIMEOUT
            )
        except services.BotTimeout:
            return json_error("The bot did not answer in time.", 504)
        if answer.get("offline"):
            return json_error("bot offline", 503)
        if not answer.get("ok"):
            return json_error(answer.get("detail") or f"The bot could not {self.action} {cog}.", 409, success=False)
        cogs = answer.get("cogs") or selectors.bot_state_get().cogs
        return Response(
            {
                "success": True,
                "message": answer.get("detail") or f"{self.action} {cog}: done",
                "cog_name": cog,
                "cogs": cogs,
            }
        )


# --- Rocket League --------------------------------------------------------------------


@extend_schema_view(get=extend_schema(responses=OpenApiTypes.OBJECT))
class RocketLeagueStatsView(APIView):
    def get(self, request, platform, username):
        if platform not in trn.PLATFORMS:
            return json_error(f"Unknown platform {platform!r}; use one of: {', '.join(trn.PLATFORMS)}.", 400)
        if not 0 < len(username) <= 64:
            return json_error("username must be 1 to 64 characters.", 400)
        try:
            body = services.rl_stats_get(platform=platform, username=username)
        except trn.TrnNotFound:
            return json_error("Player not found.", 404)
        except services.StatsUnavailable:
            return json_error("The Rocket League stats service is unavailable.", 502)
        return Response(body)


@extend_schema_view(post=extend_schema(request=None, responses=OpenApiTypes.OBJECT))
class CheckRanksView(APIView):
    permission_classes = [IsAdminRole]

    def post(self, request):
        return Response({"success": True, **services.tracked_players_check()})


# --- memes ------------------------------------------------------------------------------


@extend_schema_view(get=extend_schema(responses=OpenApiTypes.OBJECT))
class RandomMemeView(APIView):
    def get(self, request):
        source = request.query_params.get("source") or None
        if source is not None and source not in ("reddit", "lemmy"):
            return json_error("source must be reddit or lemmy.", 400)
        try:
            return Response(services.meme_random(source=source))
        except ValueError as exc:
            return json_error(str(exc), 400)
        except services.MemesUnavailable:
            return json_error("The meme sources are unavailable.", 502)
        except LookupError:
            return json_error("No memes found.", 404)


# --- admin ---------------------------------------------------------------------------------


@extend_schema_view(get=extend_schema(responses=OpenApiTypes.OBJECT))
class AdminStatsView(APIView):
    permission_classes = [IsAdminRole]

    def get(self, request):
        return Response(selectors.admin_stats())


class BroadcastInput(serializers.Serializer):
    title = serializers.CharField(max_length=120)
    message = serializers.CharField(max_length=2000)
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.NORMAL)


@extend_schema_view(post=extend_schema(request=BroadcastInput, responses=OpenApiTypes.OBJECT))
class BroadcastView(APIView):
    permission_classes = [IsAdminRole]

    def post(self, request):
        data = BroadcastInput(data=request.data)
        data.is_valid(raise_exception=True)
        broadcast = services.broadcast_send(**data.validated_data, user=request.user)
        return Response(
            {"success": True, "message": "Broadcast sent", "broadcast_id": broadcast.pk}, status=status.HTTP_200_OK
        )
