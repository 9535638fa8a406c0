"""Claims of provider time and the copies an appointment keeps (docs/adr/0011), step 1 of 3:
the new table and columns, nullable until 0005 fills them."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("bookings", "0003_provider_cancel_idx"),
        ("providers", "0003_providerloginchallenge"),
    ]

    operations = [
        migrations.AddField(model_name="appointment", name="local_date", field=models.DateField(null=True)),
        migrations.AddField(
            model_name="appointment", name="refund_full_hours", field=models.PositiveIntegerField(default=24)
        ),
        migrations.AddField(
            model_name="appointment", name="refund_partial_hours", field=models.PositiveIntegerField(default=2)
        ),
        migrations.AddField(
            model_name="appointment", name="refund_partial_percent", field=models.PositiveIntegerField(default=50)
        ),
        migrations.AddField(model_name="reschedulerequest", name="new_start", field=models.DateTimeField(null=True)),
        migrations.AddField(model_name="reschedulerequest", name="new_end", field=models.DateTimeField(null=True)),
        migrations.AddField(model_name="reschedulerequest", name="new_local_date", field=models.DateField(null=True)),
        migrations.AlterField(
            model_name="appointmentevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("created", "Booking started"),
                    ("held", "Time held while paying"),
                    ("payment_failed", "Payment not completed"),
                    ("paid", "Paid"),
                    ("confirmed", "Confirmed"),
                    ("hold_expired", "Hold expired"),
                    ("reschedule_requested", "Reschedule requested"),
                    ("reschedule_accepted", "Reschedule accepted"),
                    ("reschedule_declined", "Reschedule declined"),
                    ("reschedule_expired", "Reschedule request expired"),
                    ("reschedule_withdrawn", "Reschedule request withdrawn"),
                    ("cancelled", "Cancelled"),
                    ("refunded", "Refund issued"),
                    ("checked_in", "Checked in"),
                    ("no_show", "No-show"),
                ],
                max_length=24,
            ),
        ),
        migrations.CreateModel(
            name="TimeClaim",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("local_date", models.DateField()),
                ("start", models.DateTimeField()),
                ("end", models.DateTimeField()),
                (
                    "appointment",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="claim",
                        to="bookings.appointment",
                    ),
                ),
                (
                    "provider",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="providers.provider"
                    ),
                ),
                (
                    "reschedule",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="claim",
                        to="bookings.reschedulerequest",
                    ),
                ),
                (
                    "service",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="providers.service"
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["provider", "start"], name="timeclaim_provider_start_idx"),
                    models.Index(fields=["service", "local_date"], name="timeclaim_service_day_idx"),
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("end__gt", models.F("start"))), name="timeclaim_end_after_start"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("appointment__isnull", False), ("reschedule__isnull", True)),
                            models.Q(("appointment__isnull", True), ("reschedule__isnull", False)),
                            _connector="OR",
                        ),
                        name="timeclaim_one_owner",
                    ),
                ],
            },
        ),
    ]
