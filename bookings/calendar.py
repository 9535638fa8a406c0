"""iCalendar export of an appointment (RFC 5545) with a stable UID, so re-importing updates it."""

from __future__ import annotations

from datetime import UTC
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar, Event

from bookings.models import Appointment, AppointmentStatus


def appointment_ics(appointment: Appointment) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Appointly//Appointments//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"{appointment.pk}@appointly")
    event.add("dtstamp", timezone.now())
    event.add("dtstart", appointment.start)
    event.add("dtend", appointment.end)
    event.add("summary", _title(appointment))
    event.add("location", appointment.service.where)
    event.add("url", settings.SITE_URL.rstrip("/") + reverse("bookings:appointment", args=[appointment.pk]))
    event.add("description", f"Booked with Appointly. Phone: {appointment.provider.phone}")
    event.add("status", "CANCELLED" if appointment.status == AppointmentStatus.CANCELLED else "CONFIRMED")
    # Bumped on every change so calendars take the newest version.
    event.add("sequence", int(appointment.updated_at.timestamp()))
    cal.add_component(event)
    return cal.to_ical()


def _title(appointment: Appointment) -> str:
    return f"{appointment.service.name} · {appointment.provider.business_name}"


def google_calendar_url(appointment: Appointment) -> str:
    """Google Calendar's "add event" link (a template the person saves; no account of ours)."""
    fmt = "%Y%m%dT%H%M%SZ"
    dates = f"{appointment.start.astimezone(UTC):{fmt}}/{appointment.end.astimezone(UTC):{fmt}}"
    query = {
        "action": "TEMPLATE",
        "text": _title(appointment),
        "dates": dates,
        "location": appointment.service.where,
        "details": f"Booked with Appointly. Phone: {appointment.provider.phone}",
    }
    return f"https://calendar.google.com/calendar/render?{urlencode(query)}"


def outlook_calendar_url(appointment: Appointment) -> str:
    """Outlook on the web's "new event" deep link."""
    query = {
        "path": "/calendar/action/compose",
        "rru": "addevent",
        "subject": _title(appointment),
        "startdt": appointment.start.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "enddt": appointment.end.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "location": appointment.service.where,
        "body": f"Booked with Appointly. Phone: {appointment.provider.phone}",
    }
    return f"https://outlook.live.com/calendar/0/deeplink/compose?{urlencode(query)}"
