"""The provider's pages: the day's schedule, reschedule requests, bulk cancel, attendance,
services and hours. Services and selectors stay in their own apps; this is a face."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from appointly.core import DomainError, HtmxHttpRequest, who
from bookings import selectors as booking_selectors
from bookings.models import AppointmentStatus
from bookings.services import (
    appointment_mark_attendance,
    appointment_mark_paid_at_venue,
    appointments_cancel_bulk,
    reschedule_accept,
    reschedule_decline,
)
from dashboard.calendar import day_grid
from dashboard.layout import badge_and_cursor, layout_context
from notifications.services import unread_count
from providers.decorators import provider_required
from providers.forms import ServiceForm
from providers.models import Provider, Service
from providers.rules import ScheduleInvalid
from providers.selectors import service_get_for_provider
from providers.services import ProviderHours, provider_today, service_create, service_update


def _day(request: HttpRequest, today: date) -> date:
    """The requested day, or today when missing, malformed or absurdly far (date arithmetic on
    year 9999 would overflow)."""
    try:
        day = date.fromisoformat(request.GET.get("day", ""))
    except ValueError:
        return today
    return day if abs((day - today).days) <= 5 * 366 else today


def _calendar(
    request: HttpRequest,
    provider: Provider,
    now: datetime,
    *,
    hours: ProviderHours | None,
    last_event: int | None = None,
) -> dict[str, Any]:
    """What the day/week fragment (`home.html#day`) shows: the page, the HTMX navigation and
    the live poll all render it from this (the poll passes the cursor it already read)."""
    tz = ZoneInfo(provider.timezone)
    today = provider_today(provider, now)
    day = _day(request, today)
    view = "week" if request.GET.get("view") == "week" else "day"
    span = 7 if view == "week" else 1
    first = day - timedelta(days=day.weekday()) if view == "week" else day
    range_start = datetime.combine(first, time(0), tzinfo=tz)
    range_end = datetime.combine(first + timedelta(days=span), time(0), tzinfo=tz)
    schedule = booking_selectors.provider_day(provider=provider, start=range_start, end=range_end)
    by_day: dict[date, list[Any]] = {}
    if view == "week":  # each appointment's local day worked out once, not once per day of the week
        for a in schedule:
            by_day.setdefault(a.start.astimezone(tz).date(), []).append(a)
    return {
        "provider": provider,
        "view": view,
        "day": day,
        "today": today,
        "prev_day": day - timedelta(days=span),
        "next_day": day + timedelta(days=span),
        "schedule": schedule,
        "week_days": [{"day": d, "items": by_day.get(d, [])} for d in (first + timedelta(days=i) for i in range(7))]
        if view == "week"
        else [],
        "grid": day_grid(day=day, tz=tz, appointments=schedule, open_intervals=hours.intervals_for(day), now=now)
        if hours is not None and view == "day"
        else None,
        "pickable": {a.pk for a in schedule if a.cancellable_by_provider(now)},
        "markable": {a.pk for a in schedule if a.attendance_markable(now)},
        "now": now,
        # The live poll's cursor: changes after this event id are news.
        "last_event": booking_selectors.provider_last_event_id(provider=provider) if last_event is None else last_event,
        "poll_seconds": settings.DASHBOARD_POLL_SECONDS,
    }


@require_http_methods(["GET"])
@vary_on_headers("HX-Request")
@provider_required()
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    """Today (and the calendar: `?view=week`): the schedule, pending requests, and appointments
    left outside changed hours. HTMX navigation gets the schedule fragment only."""
    provider = who(request).provider
    now = timezone.now()
    # The week fragment is the only request that needs no hours (no grid, no side panels).
    week_fragment = request.htmx and request.GET.get("view") == "week"
    hours = None if week_fragment else ProviderHours.load(provider)
    if request.htmx or hours is None:
        return render(request, "dashboard/home.html#day", _calendar(request, provider, now, hours=hours))
    badge = badge_and_cursor(provider)  # the cursor before the rows: no change slips between
    context = _calendar(request, provider, now, hours=hours, last_event=badge[1])
    context.update(
        layout_context(provider, "calendar" if context["view"] == "week" else "today", badge=badge),
        has_calendar=True,
        reschedules=booking_selectors.provider_pending_reschedules(provider=provider),
        outside_hours=booking_selectors.provider_outside_hours(provider=provider, now=now, hours=hours),
    )
    return render(request, "dashboard/home.html", context)


@require_http_methods(["GET"])
@provider_required()
def changes(request: HttpRequest) -> HttpResponse:
    """`GET /dashboard/changes?after=<event id>&view=day|week|badge&day=..`: the dashboard's one
    live mechanism, polled by HTMX every DASHBOARD_POLL_SECONDS. 204 (htmx swaps nothing) when no
    appointment event of this provider came after the cursor; otherwise, on the schedule, the
    day/week fragment (with a fresh cursor and the latest changes listed) and the reschedule
    requests out of band; on other pages (`view=badge`) the poll itself with a fresh cursor. The
    unread badge comes out of band either way. A poll holds no worker between requests (server-
    sent events would hold a sync worker)."""
    provider = who(request).provider
    try:
        after = max(0, int(request.GET.get("after", "0")))
    except ValueError:
        after = 0
    last_event = booking_selectors.provider_last_event_id(provider=provider)
    if last_event <= after:
        return HttpResponse(status=204)
    badge = {"provider": provider, "unread": unread_count(user=provider.user), "oob": True}
    if request.GET.get("view") == "badge":
        return render(
            request,
            "dashboard/_changes.html",
            {**badge, "badge_only": True, "last_event": last_event, "poll_seconds": settings.DASHBOARD_POLL_SECONDS},
        )
    hours = None if request.GET.get("view") == "week" else ProviderHours.load(provider)
    context = _calendar(request, provider, timezone.now(), hours=hours, last_event=last_event)
    context.update(
        badge,
        live_changes=booking_selectors.provider_events_after(provider=provider, after=after),
        reschedules=booking_selectors.provider_pending_reschedules(provider=provider),
    )
    return render(request, "dashboard/_changes.html", context)


@require_POST
@provider_required()
def reschedule_answer(request: HtmxHttpRequest, request_id: str, answer: str) -> HttpResponse:
    """Accept or decline; from HTMX the requests section it was answered in comes back changed
    (with the outcome said there), without JS a redirect to Today with the outcome."""
    if answer not in ("accept", "decline"):
        raise Http404("unknown answer")
    provider = who(request).provider
    reschedule = booking_selectors.provider_reschedule_get(provider=provider, request_id=request_id)
    try:
        if answer == "accept":
            reschedule_accept(request=reschedule, provider=provider)
            said, level = "Moved. The customer has been told.", "success"
        else:
            reschedule_decline(request=reschedule, provider=provider)
            said, level = "Declined. The customer keeps the original time and has been told.", "info"
    except DomainError as exc:
        said, level = str(exc), "error"
    if not request.htmx:
        messages.add_message(
            request, {"success": messages.SUCCESS, "info": messages.INFO}.get(level, messages.ERROR), said
        )
        return redirect("dashboard")
    where = request.POST.get("where")
    return render(
        request,
        "dashboard/_requests.html",
        {
            "provider": provider,
            "section_id": where if where in ("requests", "panel-requests") else "requests",
            "reschedules": booking_selectors.provider_pending_reschedules(provider=provider),
            "answer_message": said,
            "answer_level": level,
        },
    )


MAX_BULK = 200


@require_POST
@provider_required()
def bulk_cancel(request: HttpRequest) -> HttpResponse:
    """Cancel the selected appointments (the route takes an array of ids: `ids`). The first post
    shows what would happen and asks to confirm; the post with `confirm=1` does it."""
    provider = who(request).provider
    ids = [i.strip() for i in request.POST.getlist("ids") if i.strip()]
    back = request.POST.get("back", "")
    back = back if back.startswith("/dashboard") else "/dashboard"
    if not ids:
        messages.error(request, "Select at least one appointment to cancel.")
        return redirect(back)
    if len(ids) > MAX_BULK:
        messages.error(request, f"Cancel at most {MAX_BULK} appointments at once.")
        return redirect(back)
    reason = request.POST.get("reason", "").strip()[:200]
    if request.POST.get("confirm") != "1":
        picked = booking_selectors.provider_appointments_picked(provider=provider, ids=ids)
        return render(
            request,
            "dashboard/bulk_cancel_confirm.html",
            {"provider": provider, "picked": picked, "ids": ids, "reason": reason, "back": back, "now": timezone.now()},
        )
    results = appointments_cancel_bulk(provider=provider, ids=ids, reason=reason)
    return render(request, "dashboard/bulk_cancel_done.html", {"results": results, "provider": provider, "back": back})


@require_POST
@provider_required()
def attendance(request: HtmxHttpRequest, appointment_id: str) -> HttpResponse:
    """Attended / no-show; from HTMX (the side panel or the appointment page) the facts come back
    changed in place, without JS a redirect to the appointment's day."""
    provider = who(request).provider
    appointment = booking_selectors.provider_appointment_get(provider=provider, appointment_id=appointment_id)
    attended = request.POST.get("attended") == "1"
    try:
        appointment_mark_attendance(appointment=appointment, provider=provider, attended=attended)
        said, level = ("Marked attended." if attended else "Marked as a no-show."), "success"
    except DomainError as exc:
        said, level = str(exc), "error"
        if not request.htmx:
            messages.error(request, said)
    if not request.htmx:
        return redirect(f"/dashboard?day={appointment.start.astimezone(ZoneInfo(provider.timezone)).date()}")
    appointment = booking_selectors.provider_appointment_get(provider=provider, appointment_id=appointment_id)
    return render(
        request,
        "dashboard/_appointment_facts.html",
        {**_appointment_context(provider, appointment), "answer_message": said, "answer_level": level},
    )


@require_http_methods(["GET", "POST"])
@provider_required()
def service_edit(request: HttpRequest, service_id: str | None = None) -> HttpResponse:
    """Create or edit a service; saving regenerates its future free slots and says how many."""
    provider = who(request).provider
    service = None if service_id is None else service_get_for_provider(provider=provider, service_id=service_id)
    form = ServiceForm(request.POST or None, instance=service, provider=provider)
    if request.method == "POST" and form.is_valid():
        fields = form.service_fields()
        try:
            if service is None:
                created = service_create(
                    provider=provider, category=fields.pop("category"), name=fields.pop("name"), **fields
                )
                messages.success(request, f"“{created.name}” is live with {created.slots.count()} slots to book.")
            else:
                # A fresh copy: the form already wrote its values onto `service`.
                result = service_update(service=Service.objects.get(pk=service.pk), **fields)
                if result is None:
                    messages.success(request, "Saved. The schedule did not change, so the slots stay as they were.")
                else:
                    messages.success(
                        request, f"Saved. {result.deleted} future free slots replaced by {result.created} new ones."
                    )
        except ScheduleInvalid as exc:  # the hours changed since the form checked
            form.add_rule_errors(exc.errors)
        else:
            return redirect("dashboard_services")
    return render(request, "dashboard/service_form.html", {"form": form, "service": service})


@require_POST
@provider_required()
def service_toggle(request: HttpRequest, service_id: str) -> HttpResponse:
    service = service_get_for_provider(provider=who(request).provider, service_id=service_id)
    now_active = not service.is_active
    service_update(service=service, is_active=now_active)
    # Worded from the value we set, not from `service` after the update changed it.
    messages.info(request, f"“{service.name}” is now {'bookable' if now_active else 'hidden'}.")
    return redirect("dashboard_services")


@require_POST
@provider_required()
def paid_at_venue(request: HtmxHttpRequest, appointment_id: str) -> HttpResponse:
    """ "Mark paid" on a pay-at-the-venue appointment; from HTMX the facts come back in place."""
    provider = who(request).provider
    appointment = booking_selectors.provider_appointment_get(provider=provider, appointment_id=appointment_id)
    try:
        appointment = appointment_mark_paid_at_venue(appointment=appointment, provider=provider)
        said, level = "Marked paid at the venue.", "success"
    except DomainError as exc:
        said, level = str(exc), "error"
    if not request.htmx:
        messages.add_message(request, messages.SUCCESS if level == "success" else messages.ERROR, said)
        return redirect("dashboard_appointment", appointment_id=appointment.pk)
    appointment = booking_selectors.provider_appointment_get(provider=provider, appointment_id=appointment_id)
    context = {**_appointment_context(provider, appointment), "answer_message": said, "answer_level": level}
    return render(request, "dashboard/_appointment_facts.html", context)


def _appointment_context(provider: Provider, appointment: Any) -> dict[str, Any]:
    return {
        "provider": provider,
        "appointment": appointment,
        "refunds": booking_selectors.refunds_for(appointment=appointment),
        "markable": appointment.attendance_markable(timezone.now()),
        "movable": appointment.status == AppointmentStatus.CONFIRMED and appointment.start > timezone.now(),
    }


@require_http_methods(["GET"])
@provider_required()
def appointment_detail(request: HtmxHttpRequest, appointment_id: str) -> HttpResponse:
    """One of the provider's appointments with its timeline (another provider's id: 404); from
    HTMX, its facts and actions in the side panel."""
    provider = who(request).provider
    appointment = booking_selectors.provider_appointment_get(provider=provider, appointment_id=appointment_id)
    context = _appointment_context(provider, appointment)
    if request.htmx:
        return render(request, "dashboard/_panel.html", context)
    context.update(
        layout_context(provider, "appointments"),
        events=booking_selectors.appointment_events(appointment=appointment),
        day=appointment.start.astimezone(ZoneInfo(provider.timezone)).date(),
    )
    return render(request, "dashboard/appointment.html", context)
