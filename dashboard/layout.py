"""What every dashboard page's layout needs (`dashboard/_layout.html`): the provider, which page
is current, the unread badge and the live poll's cursor. One query for the badge, one for the
cursor."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from bookings import selectors as booking_selectors
from notifications.services import unread_count
from providers.models import Provider


def layout_context(provider: Provider, active: str, *, last_event: int | None = None) -> dict[str, Any]:
    return {
        "provider": provider,
        "nav_active": active,
        "unread": unread_count(user=provider.user),
        "last_event": booking_selectors.provider_last_event_id(provider=provider) if last_event is None else last_event,
        "poll_seconds": settings.DASHBOARD_POLL_SECONDS,
    }
