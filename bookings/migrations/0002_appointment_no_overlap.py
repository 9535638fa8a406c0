"""PostgreSQL only: a provider never has two active appointments that overlap in time.

An exclusion constraint (btree_gist) over (provider, [start, end)) for held/confirmed rows.
SQLite has no such constraint: there, IMMEDIATE transactions serialise writers and the
booking service re-checks overlaps inside its transaction (docs/adr/0005).
"""

from django.db import migrations

CREATE = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE bookings_appointment ADD CONSTRAINT appointment_no_overlap
    EXCLUDE USING gist (provider_id WITH =, tstzrange("start", "end", '[)') WITH &&)
    WHERE (status IN ('held', 'confirmed'));
"""
DROP = "ALTER TABLE bookings_appointment DROP CONSTRAINT IF EXISTS appointment_no_overlap;"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("bookings", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
