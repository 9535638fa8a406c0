"""Messages to people, one row per channel attempt, and each person's channel preferences.

notifications/ never imports bookings/: callers hand over the event name, the recipient and a
context of plain values, so these rows stand on their own.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Channel(models.TextChoices):
    WHATSAPP = "whatsapp", "WhatsApp"
    SMS = "sms", "SMS"
    EMAIL = "email", "Email"
    IN_APP = "in_app", "In the app"


class MessageStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    READ = "read", "Read"


class Message(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="messages")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    event = models.CharField(max_length=40)
    # What the message is about (an appointment id) and whose history it belongs to besides the
    # recipient's (a provider id): both as the caller names them, for the history tables.
    reference = models.CharField(max_length=64, blank=True)
    scope = models.CharField(max_length=64, blank=True, db_index=True)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    to_address = models.CharField(max_length=254, blank=True)
    status = models.CharField(max_length=10, choices=MessageStatus.choices, default=MessageStatus.QUEUED)
    provider_sid = models.CharField(max_length=64, blank=True, db_index=True)
    error = models.CharField(max_length=500, blank=True)
    idempotency_key = models.CharField(max_length=200, unique=True)
    # The message this one replaces after a permanent failure (WhatsApp -> SMS -> email).
    fallback_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=("recipient", "channel", "-created_at"), name="message_inbox_idx")]

    def __str__(self) -> str:
        return f"{self.channel} {self.event} to {self.recipient_id}: {self.status}"


class Preference(models.Model):
    """How a person wants to hear from us. Phone channels need a number; STOP opts out."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notify_pref")
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    phone = models.CharField(max_length=20, blank=True, help_text="E.164")
    phone_opted_out = models.BooleanField(default=False)
    email_enabled = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.channel}"
