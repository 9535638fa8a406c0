"""Step 3 of 3: appointments and requests stop pointing at slots (offers can be rebuilt), and
the database keeps a provider's claims from overlapping: an exclusion constraint on PostgreSQL
(replacing appointment_no_overlap, which covered appointments only), triggers on SQLite."""

from django.db import migrations, models

PG_CREATE = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE bookings_appointment DROP CONSTRAINT IF EXISTS appointment_no_overlap;
ALTER TABLE bookings_timeclaim ADD CONSTRAINT timeclaim_no_overlap
    EXCLUDE USING gist (provider_id WITH =, tstzrange("start", "end", '[)') WITH &&);
"""
PG_DROP = "ALTER TABLE bookings_timeclaim DROP CONSTRAINT IF EXISTS timeclaim_no_overlap;"

# Django stores SQLite datetimes as ISO text in UTC, which compares in time order.
SQLITE_CREATE = [
    """
    CREATE TRIGGER timeclaim_no_overlap_insert BEFORE INSERT ON bookings_timeclaim
    WHEN EXISTS (
        SELECT 1 FROM bookings_timeclaim c
        WHERE c.provider_id = NEW.provider_id AND c."start" < NEW."end" AND NEW."start" < c."end"
    )
    BEGIN SELECT RAISE(ABORT, 'timeclaim_no_overlap'); END
    """,
    """
    CREATE TRIGGER timeclaim_no_overlap_update BEFORE UPDATE OF provider_id, "start", "end" ON bookings_timeclaim
    WHEN EXISTS (
        SELECT 1 FROM bookings_timeclaim c
        WHERE c.id != NEW.id AND c.provider_id = NEW.provider_id
          AND c."start" < NEW."end" AND NEW."start" < c."end"
    )
    BEGIN SELECT RAISE(ABORT, 'timeclaim_no_overlap'); END
    """,
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS timeclaim_no_overlap_insert",
    "DROP TRIGGER IF EXISTS timeclaim_no_overlap_update",
]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_CREATE)
    elif vendor == "sqlite":
        for sql in SQLITE_CREATE:
            schema_editor.execute(sql)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_DROP)
    elif vendor == "sqlite":
        for sql in SQLITE_DROP:
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("bookings", "0005_backfill_claims")]

    operations = [
        migrations.RemoveConstraint(model_name="appointment", name="appointment_one_active_per_slot"),
        migrations.RemoveConstraint(model_name="reschedulerequest", name="reschedule_one_pending_per_slot"),
        migrations.RemoveField(model_name="appointment", name="slot"),
        migrations.RemoveField(model_name="reschedulerequest", name="new_slot"),
        migrations.AlterField(model_name="appointment", name="local_date", field=models.DateField()),
        migrations.AlterField(model_name="reschedulerequest", name="new_start", field=models.DateTimeField()),
        migrations.AlterField(model_name="reschedulerequest", name="new_end", field=models.DateTimeField()),
        migrations.AlterField(model_name="reschedulerequest", name="new_local_date", field=models.DateField()),
        migrations.AddConstraint(
            model_name="appointment",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("refund_full_hours__gte", models.F("refund_partial_hours")), ("refund_partial_percent__lte", 100)
                ),
                name="appointment_refund_policy_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="reschedulerequest",
            constraint=models.CheckConstraint(
                condition=models.Q(("new_end__gt", models.F("new_start"))), name="reschedule_end_after_start"
            ),
        ),
        # Last: the SQLite triggers live on bookings_timeclaim, which nothing above rebuilds.
        migrations.RunPython(forwards, backwards),
    ]
