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
