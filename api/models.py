"""Personal access tokens: how scripts and AI agents act for a person on /api/v1/ and /mcp.

A token is shown once, when it is made; only its SHA-256 digest is stored (like the sign-in
codes), with a short public prefix to name it in lists. Each carries scopes, an expiry, and the
time it was last used."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Scope(models.TextChoices):
    READ = "read", "Read: services, free times, my appointments"
    BOOK = "book", "Book: propose and confirm bookings, ask to reschedule"
    CANCEL = "cancel", "Cancel my appointments"
    PROVIDER = "provider", "Provider: my business's appointments, bulk cancel, attendance"


class AccessToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens")
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=12, unique=True)
    digest = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
