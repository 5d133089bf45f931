from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    """HazeBot's RBAC: admin > moderator > user; ``bot`` is the Discord bot's service account."""

    ADMIN = "admin", "Admin"
    MODERATOR = "moderator", "Moderator"
    USER = "user", "User"
    BOT = "bot", "Bot (service account)"


ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.ADMIN: ["all"],
    Role.MODERATOR: ["tickets", "users", "analytics_read"],
    Role.USER: ["tickets_own"],
    Role.BOT: ["bot"],
}


class User(AbstractUser):
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.USER, db_index=True)
    discord_id = models.CharField(max_length=32, unique=True, null=True, blank=True)
    avatar_url = models.URLField(max_length=500, blank=True)

    @property
    def is_admin_role(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_staff_role(self) -> bool:
        """Admin or moderator: the HazeBot staff."""
        return self.role in (Role.ADMIN, Role.MODERATOR)

    @property
    def permissions(self) -> list[str]:
        return ROLE_PERMISSIONS.get(self.role, [])


class RevokedToken(models.Model):
    """An access token revoked before its expiry (logout). Rows past ``expires_at``
    are useless and removed by ``manage.py purge_revoked_tokens``."""

    jti = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="revoked_tokens")
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.jti} ({self.user_id})"


# --- app analytics (HazeBot's sessions, actions and daily aggregates) -------------------


class AppPlatform(models.TextChoices):
    ANDROID = "android", "Android"
    IOS = "ios", "iOS"
    WEB = "web", "Web"
    WINDOWS = "windows", "Windows"
    MACOS = "macos", "macOS"
    LINUX = "linux", "Linux"
    UNKNOWN = "unknown", "Unknown"


class AppSession(models.Model):
    """A run of authenticated requests of one user on one platform with no gap
    longer than ``ANALYTICS_SESSION_IDLE``. Written in batches by ``accounts.analytics``."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="app_sessions")
    platform = models.CharField(max_length=16, choices=AppPlatform.choices, default=AppPlatform.UNKNOWN)
    started_at = models.DateTimeField()
    last_activity = models.DateTimeField(db_index=True)
    action_count = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["user", "platform", "last_activity"])]

    def __str__(self) -> str:
        return f"sess_{self.pk} {self.user_id} {self.platform}"

    @property
    def duration(self) -> int:
        return int((self.last_activity - self.started_at).total_seconds())


class AppAction(models.Model):
    """One authenticated API request: the route pattern (never ids, bodies or queries) and status."""

    session = models.ForeignKey(AppSession, on_delete=models.CASCADE, related_name="actions")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=160)
    status_code = models.PositiveSmallIntegerField(default=200)
    created_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.name


class DailyUserActivity(models.Model):
    """Per user and UTC day: sessions started, actions and session seconds. All-time
    and windowed stats read only these rows."""

    date = models.DateField()
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    sessions = models.PositiveIntegerField(default=0)
    actions = models.PositiveIntegerField(default=0)
    session_seconds = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "daily user activity"
        constraints = [models.UniqueConstraint(fields=["date", "user"], name="daily_activity_unique")]
        indexes = [models.Index(fields=["date"])]

    def __str__(self) -> str:
        return f"{self.date} {self.user_id}"
