"""The dashboard's own pages beside Today: appointments, services, hours, earnings, messages,
settings, and the side panel. Each is small and reads only what it shows."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from api.views import tokens_context
from appointly.core import HtmxHttpRequest, who
from appointly.money import format_money
from appointly.zones import visitor_zone, zone_names
from bookings import availability
from bookings import selectors as booking_selectors
from dashboard.charts import bars
from dashboard.layout import layout_context
from notifications.forms import preference_context
from notifications.services import inbox, message_history
from payments.gateways import TransientGatewayError
from payments.payouts import payout_account_link, payout_account_refresh
from payments.services import earnings_between, payouts_for, weekly_revenue
from providers import selectors as provider_selectors
from providers.decorators import provider_required
from providers.forms import ProfileForm
from providers.hours_form import WeeklyHoursForm, hours_form_for
from providers.rules import ScheduleInvalid
from providers.services import (
    hours_from_rows,
    provider_hours_preview,
    provider_hours_set,
    provider_profile_save,
    provider_today,
)


@require_GET
@provider_required()
def appointments(request: HttpRequest) -> HttpResponse:
    provider = who(request).provider
    upcoming = booking_selectors.provider_upcoming(provider=provider, now=timezone.now())
    return render(
        request, "dashboard/appointments.html", {**layout_context(provider, "appointments"), "upcoming": upcoming}
    )


SERVICES_PER_PAGE = 25


@require_GET
@provider_required()
def services(request: HttpRequest) -> HttpResponse:
    provider = who(request).provider
    page = Paginator(provider_selectors.services_of(provider=provider), SERVICES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    availability.services_free_slots(list(page.object_list), now=timezone.now())
    return render(request, "dashboard/services.html", {**layout_context(provider, "services"), "page": page})


def _chart_context(provider: Any, week_start: datetime, tz: ZoneInfo) -> dict[str, object]:
    """Appointments and revenue per week for the last 12 provider-local weeks."""
    start = week_start - timedelta(weeks=11)
    end = week_start + timedelta(weeks=1)
    weeks = [(start + timedelta(weeks=i)).date() for i in range(12)]
    counts = booking_selectors.provider_weekly_counts(provider=provider, start=start, end=end, tz=tz)
    revenue = weekly_revenue(payee=str(provider.pk), start=start, end=end, tz=tz)
    currency = max(revenue, key=lambda c: sum(revenue[c].values()), default="")
    money = revenue.get(currency, {})
    return {
        "chart_appointments": bars([(w, counts.get(w, 0)) for w in weeks]),
        "chart_revenue": [
            (bar, format_money(money.get(w, 0), currency) if currency else "0")
            for bar, w in zip(bars([(w, money.get(w, 0)) for w in weeks]), weeks, strict=True)
        ],
        "chart_currency": currency,
    }


@require_GET
@provider_required()
def earnings(request: HttpRequest) -> HttpResponse:
    """This month's money and counts, and the last 12 weeks, in the provider's months and weeks."""
    provider = who(request).provider
    tz = ZoneInfo(provider.timezone)
    today = provider_today(provider, timezone.now())
    week_start = datetime.combine(today - timedelta(days=today.weekday()), time(0), tzinfo=tz)
    month_start = datetime.combine(today.replace(day=1), time(0), tzinfo=tz)
    next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    month_end = datetime.combine(next_month, time(0), tzinfo=tz)
    context = {
        **layout_context(provider, "earnings"),
        "month_label": today.strftime("%B %Y"),
        "counts": booking_selectors.provider_counts(
            provider=provider, week=(week_start, week_start + timedelta(days=7)), month=(month_start, month_end)
        ),
        "earnings": earnings_between(payee=str(provider.pk), start=month_start, end=month_end),
        **_chart_context(provider, week_start, tz),
    }
    return render(request, "dashboard/earnings.html", context)


@require_GET
@provider_required()
def payouts(request: HttpRequest) -> HttpResponse:
    """Money transferred to the provider's account, newest first."""
    provider = who(request).provider
    context = {
        **layout_context(provider, "payouts"),
        "payouts": payouts_for(recipient=provider.user),
        "fee_percent": f"{settings.PLATFORM_FEE_PERCENT:g}",
    }
    return render(request, "dashboard/payouts.html", context)


def _messages_context(provider: Any) -> dict[str, Any]:
    return {
        "inbox": inbox(user=provider.user, limit=20),
        "reschedules": booking_selectors.provider_pending_reschedules(provider=provider),
    }


@require_GET
@provider_required()
def messages_page(request: HttpRequest) -> HttpResponse:
    provider = who(request).provider
    context = {
        **layout_context(provider, "messages"),
        **_messages_context(provider),
        # Everything sent about this provider's appointments, to them or to their customers.
        "history": message_history(recipient=provider.user, scope=str(provider.pk)),
        "history_tz": provider.timezone,
    }
    return render(request, "dashboard/messages.html", context)


@require_GET
@provider_required()
def panel(request: HttpRequest) -> HttpResponse:
    """The side panel's content (HTMX, from any dashboard page); a plain visit gets the page."""
    if not getattr(request, "htmx", False):
        return redirect("dashboard_messages")
    provider = who(request).provider
    return render(request, "dashboard/_panel.html", {"provider": provider, **_messages_context(provider)})


@require_http_methods(["GET", "POST"])
@provider_required()
def settings_page(request: HttpRequest) -> HttpResponse:
    """The business profile (the zone through the shared picker), how we reach the provider,
    and signing in."""
    provider = who(request).provider
    form = ProfileForm(request.POST or None, initial=ProfileForm.initial_for(provider))
    if request.method == "POST" and form.is_valid():
        provider_profile_save(user=request.user, **form.profile_fields())  # type: ignore[arg-type]
        messages.success(request, "Saved. Your public page shows the new details.")
        return redirect("dashboard_settings")
    context = {
        **layout_context(provider, "settings"),
        "form": form,
        "zone_names": zone_names(),
        "browser_zone": visitor_zone(request),  # suggested beside the field when it differs
        **preference_context(provider.user),
        **tokens_context(provider.user),
    }
    return render(request, "dashboard/settings.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@provider_required()
def payout_setup(request: HttpRequest) -> HttpResponse:
    """Send the provider to the gateway's onboarding for their payout account (creating it the
    first time). GET too: the gateway sends people here when an onboarding link has expired."""
    provider = who(request).provider
    try:
        link = payout_account_link(
            provider=provider,
            return_url=request.build_absolute_uri(reverse("dashboard_payout_return")),
            refresh_url=request.build_absolute_uri(reverse("dashboard_payout_setup")),
        )
    except TransientGatewayError:
        messages.error(request, "The payment provider is not answering right now. Please try again in a minute.")
        return redirect("dashboard_settings")
    return redirect(link)


@require_GET
@provider_required()
def payout_return(request: HttpRequest) -> HttpResponse:
    """Back from onboarding: the gateway says whether the account can receive payouts."""
    provider = who(request).provider
    try:
        ready = payout_account_refresh(provider=provider)
    except TransientGatewayError:
        ready = provider.payout_account_ready
    if ready:
        messages.success(request, "Payouts are set up: your earnings are transferred to your account every day.")
    else:
        messages.info(request, "Your payout account still needs some details. Continue whenever you are ready.")
    return redirect(reverse("dashboard_settings") + "#payout-account")


@require_http_methods(["GET", "POST"])
@provider_required()
def hours(request: HtmxHttpRequest) -> HttpResponse:
    """The weekly hours editor. "Review changes" shows, before anything is saved, how many
    future free times would go and come and which booked appointments would fall outside;
    "Save these hours" saves (past exceptions are kept as they were); "Copy" copies a day's
    hours onto the days ticked beside it. Bad input is reported at its field."""
    provider = who(request).provider
    now = timezone.now()
    today = provider_today(provider, now)
    action = request.POST.get("action", "review")
    form, copied = hours_form_for(request, provider, today)
    if copied or request.method == "GET" or not form.is_valid():
        return _hours_page(request, provider, form)
    weekly = form.cleaned_data["weekly"]
    kept = [(d, s, e) for d, s, e in _exception_rows(provider) if d < today]
    exceptions = kept + form.cleaned_data["exception_rows"]
    try:
        if action == "save":
            result = provider_hours_set(provider=provider, weekly=weekly, exceptions=exceptions)
            messages.success(request, f"Hours saved: {result.deleted} free times removed and {result.created} added.")
            return redirect("dashboard_hours")
        preview = provider_hours_preview(provider=provider, weekly=weekly, exceptions=exceptions)
    except ScheduleInvalid as exc:  # a service changed since the form checked
        for message in exc.errors.values():
            form.add_error(None, message)
        return _hours_page(request, provider, form)
    outside = booking_selectors.provider_outside_hours(
        provider=provider, now=now, hours=hours_from_rows(provider, weekly, exceptions)
    )
    return _hours_page(request, provider, form, preview=preview, outside=outside)


def _exception_rows(provider: Any) -> list[tuple[Any, Any, Any]]:
    return list(provider.hours_exceptions.values_list("date", "start_time", "end_time"))


def _hours_page(request: HttpRequest, provider: Any, form: WeeklyHoursForm, **extra: Any) -> HttpResponse:
    context = {**layout_context(provider, "hours"), "form": form, **extra}
    return render(request, "dashboard/hours.html", context, status=400 if form.is_bound and form.errors else 200)
