from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords


class ConfigSection(models.Model):
    """One bot configuration section. ``data`` holds only what differs from
    :data:`botconfig.defaults.DEFAULTS`-merged values as last saved; ``version``
    grows by one on every write (the ETag). Every write leaves a historical
    revision (who, when, what) that staff can revert in admin."""

    name = models.CharField(max_length=32, unique=True)
    data = models.JSONField(default=dict)
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class BotState(models.Model):
    """What the connected Discord bot last reported (one row, ``pk=1``).

    Kept in the database, not process memory, so every worker sees the same bot:
    ``channel_name`` is the channel-layer address of the socket it is connected
    on (empty when disconnected)."""

    channel_name = models.CharField(max_length=200, blank=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    guild_count = models.PositiveIntegerField(default=0)
    member_count = models.PositiveIntegerField(default=0)
    cogs = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = "bot state"

    def __str__(self) -> str:
        return "bot (connected)" if self.channel_name else "bot (disconnected)"


class Platform(models.TextChoices):
    STEAM = "steam", "Steam"
    EPIC = "epic", "Epic Games"
    PSN = "psn", "PlayStation"
    XBL = "xbl", "Xbox"


class TrackedPlayer(models.Model):
    """A Rocket League player whose ranks are checked periodically; changes go to the bot."""

    platform = models.CharField(max_length=8, choices=Platform.choices)
    username = models.CharField(max_length=64)
    discord_user_id = models.CharField(
        max_length=20,
        blank=True,
        validators=[RegexValidator(r"^[0-9]{17,20}$", "A Discord id is a string of 17 to 20 digits.")],
    )
    ranks = models.JSONField(default=dict, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["platform", "username"], name="tracked_player_unique")]

    def __str__(self) -> str:
        return f"{self.username} ({self.platform})"


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"


class Broadcast(models.Model):
    """A staff announcement sent to every connected client and every push device."""

    title = models.CharField(max_length=120)
    message = models.TextField(max_length=2000)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.title} ({self.created_at:%Y-%m-%d %H:%M})"
