"""Each customer's count of attended appointments, kept by PostgreSQL (docs/adr/0027).

A constraint trigger, deferred to commit like the money totals' (payments 0009), adds each
appointment's change to `bookings_customerattendance`; existing rows are counted once here.
SQLite keeps no count: the account page counts the appointments there (ADR 0002).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

CREATE = """
CREATE FUNCTION bookings_customerattendance_add(p_customer bigint, p_attended integer)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO bookings_customerattendance AS t (customer_id, attended) VALUES (p_customer, p_attended)
    ON CONFLICT (customer_id) DO UPDATE SET attended = t.attended + EXCLUDED.attended
$$;

CREATE FUNCTION bookings_appointment_attendance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (OLD.status = 'completed') = (NEW.status = 'completed')
            AND OLD.customer_id = NEW.customer_id THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' AND OLD.status = 'completed' THEN
        PERFORM bookings_customerattendance_add(OLD.customer_id, -1);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.status = 'completed' THEN
        PERFORM bookings_customerattendance_add(NEW.customer_id, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER appointment_customer_attendance
    AFTER INSERT OR DELETE OR UPDATE OF status, customer_id ON bookings_appointment
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bookings_appointment_attendance();

-- Counted anew: here once, and after a bulk load made with the triggers off.
CREATE FUNCTION bookings_customerattendance_rebuild() RETURNS void LANGUAGE sql AS $$
    DELETE FROM bookings_customerattendance;
    INSERT INTO bookings_customerattendance (customer_id, attended)
    SELECT customer_id, count(*) FROM bookings_appointment WHERE status = 'completed' GROUP BY customer_id;
$$;
SELECT bookings_customerattendance_rebuild();
"""

DROP = """
DROP TRIGGER IF EXISTS appointment_customer_attendance ON bookings_appointment;
DROP FUNCTION IF EXISTS bookings_appointment_attendance();
DROP FUNCTION IF EXISTS bookings_customerattendance_rebuild();
DROP FUNCTION IF EXISTS bookings_customerattendance_add(bigint, integer);
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_user_timezone"),
        ("bookings", "0012_timeclaim_provider_end_idx"),
    ]

    operations = [
        migrations.CreateModel(
            name="CustomerAttendance",
            fields=[
                (
                    "customer",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                ("attended", models.IntegerField(default=0)),
            ],
        ),
        migrations.RunPython(forwards, backwards),
    ]
