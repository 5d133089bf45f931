"""Support tickets (HazeBot): a ticket, its messages, each reader's read position, transcripts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class TicketStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class MessageSource(models.TextChoices):
    """Where a message was written: the web app, the mobile app, Discord (through the bot) or the system."""

    WEB = "web", "Web"
    APP = "app", "App"
    DISCORD = "discord", "Discord"
    SYSTEM = "system", "System"


class Ticket(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tickets")
    subject = models.CharField(max_length=200)
    category = models.CharField(max_length=50, blank=True, default="general")
    status = models.CharField(max_length=16, choices=TicketStatus.choices, default=TicketStatus.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    # Last activity (a message or a status change); auto-close measures idleness from here.
    updated_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(fields=["owner", "status"]),
            models.Index(fields=["status", "updated_at"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"


class TicketMessage(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    # Null for system messages. For messages the bot relays from Discord, the bot account
    # is the author and the Discord user's name and id are kept beside it.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="ticket_messages"
    )
    external_author_name = models.CharField(max_length=100, blank=True)
    external_author_id = models.CharField(max_length=32, blank=True)
    content = models.TextField()
    source = models.CharField(max_length=16, choices=MessageSource.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # History pages are "the newest N before id X" of one ticket.
        indexes = [models.Index(fields=["ticket", "id"])]

    def __str__(self) -> str:
        return f"message {self.pk} in ticket {self.ticket_id}"


class TicketReadState(models.Model):
    """How far one user has read one ticket: messages after ``last_read_message_id`` are unread."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="read_states")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    last_read_message_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["ticket", "user"], name="ticket_read_state_unique")]

    def __str__(self) -> str:
        return f"user {self.user_id} read ticket {self.ticket_id} up to {self.last_read_message_id}"


class Transcript(models.Model):
    """A ticket's conversation saved when it was closed (one per close)."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="transcripts")
    created_at = models.DateTimeField(default=timezone.now)
    message_count = models.PositiveIntegerField()
    text = models.TextField()
    html = models.TextField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"transcript of ticket {self.ticket_id} at {self.created_at:%Y-%m-%d %H:%M}"
