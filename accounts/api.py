"""HazeBot-compatible auth and user endpoints. Thin: the work is in services."""

from __future__ import annotations

from django.db.models import Q
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed, NotFound, Throttled
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer

from accounts import push, services
from accounts.models import User
from accounts.permissions import IsModeratorOrAdmin
from accounts.serializers import LoginInput, LoginOutput, LogoutInput, RefreshInput, UserOutput, login_payload

_Success = inline_serializer("Success", {"success": serializers.BooleanField()})


class _Unauthenticated401:
    """Views without authenticators still answer 401 (not 403) to bad credentials."""

    def get_authenticate_header(self, request):
        return 'Bearer realm="api"'


class LoginView(_Unauthenticated401, APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=LoginInput, responses={200: LoginOutput}, tags=["auth"])
    def post(self, request):
        data = LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            user = services.user_login(request=request, **data.validated_data)
        except services.LoginThrottled as exc:
            raise Throttled(wait=exc.retry_after, detail="Too many login attempts. Try again later.") from None
        if user is None:
            raise AuthenticationFailed("Invalid username or password.")
        return Response(login_payload(user, services.tokens_for_user(user=user)))


class VerifyTokenView(APIView):
    """200 when the Bearer token is valid (NGINX ``auth_request``), 401 otherwise."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "Verified",
                {"valid": serializers.BooleanField(), "user": serializers.CharField(), "role": serializers.CharField()},
            )
        },
        tags=["auth"],
    )
    def post(self, request):
        return Response({"valid": True, "user": request.user.username, "role": request.user.role})

    get = post


class RefreshView(_Unauthenticated401, APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=RefreshInput,
        responses={
            200: inline_serializer(
                "Refreshed",
                {
                    "token": serializers.CharField(),
                    "access": serializers.CharField(),
                    "refresh": serializers.CharField(),
                },
            )
        },
        tags=["auth"],
    )
    def post(self, request):
        serializer = TokenRefreshSerializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except TokenError as exc:
            raise AuthenticationFailed("Invalid or expired refresh token.") from exc
        data = serializer.validated_data
        return Response(
            {
                "token": data["access"],
                "access": data["access"],
                "refresh": data.get("refresh", request.data.get("refresh")),
            }
        )


class LogoutView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=LogoutInput, responses={200: _Success}, tags=["auth"])
    def post(self, request):
        data = LogoutInput(data=request.data)
        data.is_valid(raise_exception=True)
        if request.auth is not None:  # a JWT, not a session
            services.token_revoke(
                user=request.user, access_token=request.auth, refresh=data.validated_data.get("refresh")
            )
        # A signed-out device gets no more pushes (the app registers its token again after login).
        push.device_deactivate(user=request.user, token=data.validated_data.get("fcm_token") or None)
        return Response({"success": True})


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: UserOutput}, tags=["users"])
    def get(self, request):
        return Response(UserOutput(request.user).data)


class UserDetailView(APIView):
    """A user by Discord id or by numeric id (staff only)."""

    permission_classes = [IsModeratorOrAdmin]

    @extend_schema(responses={200: UserOutput}, tags=["users"])
    def get(self, request, user_id: str):
        lookup = Q(discord_id=user_id)
        if user_id.isdigit() and len(user_id) < 16:
            lookup |= Q(pk=int(user_id))
        user = User.objects.filter(lookup).order_by("-discord_id").first()
        if user is None:
            raise NotFound("User not found.")
        return Response(UserOutput(user).data, status=status.HTTP_200_OK)
