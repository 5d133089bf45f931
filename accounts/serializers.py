from rest_framework import serializers

from accounts.models import User


class LoginInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False)


class LoginOutput(serializers.Serializer):
    token = serializers.CharField(help_text="Access JWT (Bearer).")
    refresh = serializers.CharField(help_text="Refresh JWT for /api/auth/refresh.")
    user = serializers.CharField(help_text="Username.")
    user_id = serializers.CharField()
    role = serializers.ChoiceField(choices=["admin", "moderator", "user"])
    discord_id = serializers.CharField()
    permissions = serializers.ListField(child=serializers.CharField())


class RefreshInput(serializers.Serializer):
    refresh = serializers.CharField()


class LogoutInput(serializers.Serializer):
    refresh = serializers.CharField(required=False, allow_blank=True)
    fcm_token = serializers.CharField(
        required=False, allow_blank=True, help_text="This device's push token; without it every device is deactivated."
    )


class UserOutput(serializers.ModelSerializer):
    """HazeBot's user shape: ``user_id`` is the Discord id where there is one."""

    user_id = serializers.SerializerMethodField()
    discriminator = serializers.SerializerMethodField()
    avatar = serializers.CharField(source="avatar_url")
    permissions = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = User
        fields = ["id", "user_id", "username", "discriminator", "avatar", "email", "role", "discord_id", "permissions"]

    def get_user_id(self, obj) -> str:
        return obj.discord_id or str(obj.pk)

    def get_discriminator(self, obj) -> str:
        return "0"  # Discord retired discriminators; kept for the seed's clients


def login_payload(user, tokens: dict[str, str]) -> dict:
    return {
        "token": tokens["access"],
        "refresh": tokens["refresh"],
        "user": user.username,
        "user_id": user.discord_id or str(user.pk),
        "role": user.role,
        "discord_id": user.discord_id or "legacy_user",
        "permissions": user.permissions,
    }
