"""iCalendar export of an appointment (RFC 5545) with a stable UID, so re-importing updates it."""

from __future__ import annotations

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
    event.add("summary", f"{appointment.service.name} · {appointment.provider.business_name}")
    event.add("location", appointment.service.where)
    event.add("url", settings.SITE_URL.rstrip("/") + reverse("bookings:appointment", args=[appointment.pk]))
    event.add("description", f"Booked with Appointly. Phone: {appointment.provider.phone}")
    event.add("status", "CANCELLED" if appointment.status == AppointmentStatus.CANCELLED else "CONFIRMED")
    # Bumped on every change so calendars take the newest version.
    event.add("sequence", int(appointment.updated_at.timestamp()))
    cal.add_component(event)
    return cal.to_ical()
