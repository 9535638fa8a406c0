"""What every dashboard page's layout needs (`dashboard/_layout.html`): the provider, which page
is current, the unread badge and the live poll's cursor, the last two in one query."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Count, IntegerField, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from appointly.compiled import Compiled
from bookings import selectors as booking_selectors
from notifications.services import unread_messages
from providers.models import Provider


def _badge_and_cursor(provider_id: Any, user_id: int) -> QuerySet[Any]:
    unread = unread_messages(user_id=user_id).order_by().values("recipient_id").annotate(n=Count("pk")).values("n")
    latest = booking_selectors.provider_events(provider=provider_id).order_by("-pk").values("pk")[:1]
    zero = Value(0, output_field=IntegerField())
    return Provider.objects.filter(pk=provider_id).values_list(
        Coalesce(Subquery(unread, output_field=IntegerField()), zero),
        Coalesce(Subquery(latest, output_field=IntegerField()), zero),
    )


_BADGE_AND_CURSOR: Compiled[Any] = Compiled(_badge_and_cursor)


def badge_and_cursor(provider: Provider) -> tuple[int, int]:
    """The unread badge and the live poll's cursor (the provider's latest appointment event id,
    0 for none), in one statement: two index probes, compiled once (ADR 0029)."""
    unread_n, last = _BADGE_AND_CURSOR.one(provider_id=provider.pk, user_id=provider.user_id)
    return unread_n, last


def layout_context(provider: Provider, active: str, *, badge: tuple[int, int] | None = None) -> dict[str, Any]:
    """`badge`: what `badge_and_cursor` answered, when the page read it first (the schedule reads
    the cursor before its rows, so no change slips between them)."""
    unread, last_event = badge or badge_and_cursor(provider)
    return {
        "provider": provider,
        "nav_active": active,
        "unread": unread,
        "last_event": last_event,
        "poll_seconds": settings.DASHBOARD_POLL_SECONDS,
    }
