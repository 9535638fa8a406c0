"""Slots: one key check and two indexes per row instead of two and six (docs/adr/0025).

Django declares single-column foreign keys only, so on PostgreSQL the composite key
(service_id, provider_id) -> service (id, provider_id) is added here: one check per slot that
proves both that the service exists and that the denormalised provider is the service's.
SQLite keeps no key on slots (the development default; ADR 0002).
"""

import django.db.models.deletion
from django.db import migrations, models

CREATE = """
ALTER TABLE providers_slot ADD CONSTRAINT slot_service_provider_fk
    FOREIGN KEY (service_id, provider_id) REFERENCES providers_service (id, provider_id)
    DEFERRABLE INITIALLY DEFERRED;
"""
DROP = "ALTER TABLE providers_slot DROP CONSTRAINT IF EXISTS slot_service_provider_fk;"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("providers", "0008_payout_account"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="slot",
            name="slot_service_day_idx",
        ),
        migrations.RemoveIndex(
            model_name="slot",
            name="slot_provider_start_idx",
        ),
        migrations.AlterField(
            model_name="slot",
            name="provider",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="slots",
                to="providers.provider",
            ),
        ),
        migrations.AlterField(
            model_name="slot",
            name="service",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="slots",
                to="providers.service",
            ),
        ),
        migrations.AddConstraint(
            model_name="service",
            constraint=models.UniqueConstraint(fields=("id", "provider"), name="service_id_provider_unique"),
        ),
        migrations.RunPython(forwards, backwards),
    ]
