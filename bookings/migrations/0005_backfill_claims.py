"""Step 2 of 3: fill the copies from the slots and services they pointed at, and give every
appointment that holds time (and every pending reschedule request) its claim.

Claims go in oldest appointment first; one that would overlap a claim already made (history
the old rules let through: an attended appointment and a later booking over its remainder) is
left without one rather than failing the migration."""

from django.db import migrations

HOLDING = ("held", "confirmed", "completed", "no_show")


def _overlaps(spans, start, end):
    return any(s < end and start < e for s, e in spans)


def forwards(apps, schema_editor):
    Appointment = apps.get_model("bookings", "Appointment")
    RescheduleRequest = apps.get_model("bookings", "RescheduleRequest")
    TimeClaim = apps.get_model("bookings", "TimeClaim")
    taken: dict = {}
    for a in Appointment.objects.select_related("slot", "service").order_by("created_at", "pk").iterator():
        a.local_date = a.slot.slot_date
        a.refund_full_hours = a.service.refund_full_hours
        a.refund_partial_hours = a.service.refund_partial_hours
        a.refund_partial_percent = a.service.refund_partial_percent
        a.save(update_fields=["local_date", "refund_full_hours", "refund_partial_hours", "refund_partial_percent"])
        spans = taken.setdefault(a.provider_id, [])
        if a.status in HOLDING and not _overlaps(spans, a.start, a.end):
            spans.append((a.start, a.end))
            TimeClaim.objects.create(
                provider_id=a.provider_id,
                service_id=a.service_id,
                local_date=a.local_date,
                start=a.start,
                end=a.end,
                appointment=a,
            )
    for r in RescheduleRequest.objects.select_related("new_slot", "appointment").iterator():
        r.new_start, r.new_end, r.new_local_date = r.new_slot.start, r.new_slot.end, r.new_slot.slot_date
        r.save(update_fields=["new_start", "new_end", "new_local_date"])
        spans = taken.setdefault(r.appointment.provider_id, [])
        if r.status == "pending" and not _overlaps(spans, r.new_start, r.new_end):
            spans.append((r.new_start, r.new_end))
            TimeClaim.objects.create(
                provider_id=r.appointment.provider_id,
                service_id=r.appointment.service_id,
                local_date=r.new_local_date,
                start=r.new_start,
                end=r.new_end,
                reschedule=r,
            )


class Migration(migrations.Migration):
    dependencies = [("bookings", "0004_timeclaim_and_copies")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
