"""HazeBot's ``/api/notifications/*``: FCM device registration and an admin test push."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import push
from accounts.permissions import IsAdminRole

_Result = inline_serializer(
    "NotificationResult", {"success": serializers.BooleanField(), "message": serializers.CharField()}
)


class PushOff(APIException):
    status_code = 503
    default_detail = "Push is off: no Firebase credentials configured."


class RegisterTokenInput(serializers.Serializer):
    fcm_token = serializers.CharField(max_length=push.MAX_TOKEN_CHARS)
    platform = serializers.ChoiceField(choices=push.PLATFORMS, default="android")


class RegisterTokenView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=RegisterTokenInput, responses={200: _Result}, tags=["notifications"])
    def post(self, request):
        data = RegisterTokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            push.device_register(
                user=request.user, token=data.validated_data["fcm_token"], platform=data.validated_data["platform"]
            )
        except push.DeviceError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        return Response({"success": True, "message": "Token registered"})


class TestInput(serializers.Serializer):
    fcm_token = serializers.CharField(max_length=push.MAX_TOKEN_CHARS, required=False)
    title = serializers.CharField(max_length=200, default="Test")
    body = serializers.CharField(max_length=1000, default="Test notification")


class TestNotificationView(APIView):
    """Send a test push now: to ``fcm_token`` if given, else to the admin's own devices."""

    permission_classes = [IsAdminRole]

    @extend_schema(
        request=TestInput,
        responses={
            200: inline_serializer(
                "TestPushResult",
                {
                    "success": serializers.BooleanField(),
                    "message": serializers.CharField(),
                    "sent": serializers.IntegerField(),
                    "failed": serializers.IntegerField(),
                },
            )
        },
        tags=["notifications"],
    )
    def post(self, request):
        data = TestInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if not push.push_enabled():
            raise PushOff()
        if values.get("fcm_token"):
            result = push.push_to_token(
                token=values["fcm_token"], title=values["title"], body=values["body"], data={"type": "test"}
            )
        else:
            result = push.push_send(
                user_ids=[request.user.pk], title=values["title"], body=values["body"], data={"type": "test"}
            )
        ok = result.sent > 0
        message = f"Sent to {result.sent} device(s)" if ok else "No device accepted the notification"
        return Response({"success": ok, "message": message, "sent": result.sent, "failed": result.failed})
