"""The provider's home. Calendar, cards and bulk actions arrive with the dashboard issue."""

from __future__ import annotations

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from appointly.core import who
from notifications.services import inbox, message_history
from providers.decorators import provider_required
from providers.models import SlotStatus
from providers.services import ProviderHours


@require_GET
@provider_required()
def dashboard(request: HttpRequest) -> HttpResponse:
    provider = who(request).provider
    now = timezone.now()
    services = provider.services.select_related("category").annotate(
        free_slots=Count("slots", filter=Q(slots__status=SlotStatus.FREE, slots__start__gte=now)),
    )
    hours = ProviderHours.load(provider)
    week = [
        {"label": label, "intervals": hours.weekly.get(d, [])}
        for d, label in enumerate(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"])
    ]
    return render(
        request,
        "dashboard/home.html",
        {
            "provider": provider,
            "services": services,
            "week": week,
            "exceptions": sorted(hours.exceptions.items()),
            "inbox": inbox(user=provider.user, limit=10),
            # Everything sent about this provider's appointments, to them or to their customers.
            "history": message_history(recipient=provider.user, scope=str(provider.pk)),
        },
    )
