"""Demo data for `make run`: providers in three time zones, services, 30 days of slots, logins.

Idempotent: running it again changes nothing that already exists.
"""

from __future__ import annotations

from datetime import time
from typing import Any
from zoneinfo import ZoneInfo

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Role, User
from providers.models import Category, Provider
from providers.services import (
    provider_auto_no_show_set,
    provider_hours_set,
    provider_profile_save,
    service_create,
)

PASSWORD = "appointly-demo"

PROVIDERS: list[dict[str, Any]] = [
    {
        "email": "provider@appointly.test",
        "business_name": "Lisbon Cut & Colour",
        "timezone_name": "Europe/Lisbon",
        "phone": "+351912345678",
        "address": "Rua Augusta 120, 1100-053 Lisboa",
        "description": "Neighbourhood salon in Baixa: cuts, colour and beard trims.",
        "weekly": {d: [(time(9), time(13)), (time(14), time(19))] for d in range(0, 5)} | {5: [(time(9), time(14))]},
        "services": [
            ("Haircut", "hair-beauty", 45, 3500, "EUR", 8, 0, 15, "Wash, cut and style."),
            ("Beard trim", "hair-beauty", 20, 1500, "EUR", 10, 0, 10, "Shape-up and hot towel.", "venue"),
        ],
    },
    {
        "email": "physio@appointly.test",
        "business_name": "Brooklyn Physio",
        "timezone_name": "America/New_York",
        "phone": "+12125550123",
        "address": "245 Court St, Brooklyn, NY 11201",
        "description": "Sports injuries, back pain and post-surgery rehab.",
        "weekly": {d: [(time(8), time(12)), (time(13), time(18))] for d in range(0, 5)},
        "services": [
            ("Physiotherapy session", "health-therapy", 50, 9500, "USD", 8, 5, 5, "Assessment and treatment."),
            ("Sports massage", "health-therapy", 30, 6000, "USD", 6, 0, 10, "Deep-tissue massage."),
        ],
    },
    {
        "email": "tutor@appointly.test",
        "business_name": "Harbour Maths Tutoring",
        "timezone_name": "Australia/Sydney",
        "phone": "+61412345678",
        "address": "1 Macquarie St, Sydney NSW 2000",
        "description": "Maths and physics for high-school and first-year university.",
        "weekly": {d: [(time(15), time(20))] for d in range(0, 5)} | {5: [(time(9), time(12))]},
        "services": [
            ("Maths lesson (60 min)", "tutoring-lessons", 60, 8000, "AUD", 4, 0, 0, "One-to-one, online or in person."),
            ("Free intro call", "tutoring-lessons", 15, 0, "AUD", 4, 0, 0, "Fifteen minutes to meet.", "free"),
        ],
    },
]

# Open around the clock (demo only), so that whenever `make run` starts the demo customer has an
# appointment here whose check-in window is open: scan its QR code (or open the check-in link
# from its QR page) as customer@appointly.test and watch the check-in arrive on its dashboard.
CHECK_IN_DESK: dict[str, Any] = {
    "email": "desk@appointly.test",
    "business_name": "Rossio Walk-in Clinic",
    "timezone_name": "Europe/Lisbon",
    "phone": "+351213456789",
    "address": "Praça Dom Pedro IV 12, 1100-200 Lisboa",
    "description": "Quick consultations around the clock (the demo's check-in desk: open 24/7).",
    "weekly": {d: [(time(0), time(23, 59))] for d in range(7)},
    "services": [
        ("Quick consultation", "health-therapy", 15, 2000, "EUR", 95, 0, 0, "Fifteen minutes with a nurse."),
    ],
    "min_notice_minutes": 0,
}

CUSTOMER_EMAIL = "customer@appointly.test"
SECOND_CUSTOMER_EMAIL = "customer2@appointly.test"
NEW_PROVIDER_EMAIL = "newprovider@appointly.test"
ADMIN_EMAIL = "admin@appointly.test"


def _user(email: str, role: str, **extra: Any) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=PASSWORD, role=role, **extra)
    EmailAddress.objects.get_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    return user


class Command(BaseCommand):
    def _demo_bookings(self) -> None:
        """Two paid bookings for the demo customer (one later cancelled), so /account/ has figures;
        a second customer's booking with a reschedule request; a walk-in booked by phone."""
        import uuid
        from datetime import timedelta

        from django.utils import timezone

        from bookings import availability
        from bookings.models import Appointment
        from bookings.sandbox_pay import pay_in_sandbox
        from bookings.services import (
            appointment_cancel_by_customer,
            appointment_hold,
            reschedule_request,
        )
        from providers.models import Service

        customer = User.objects.get(email=CUSTOMER_EMAIL)
        if Appointment.objects.filter(customer=customer).exists():
            return
        soon = timezone.now() + timedelta(days=2)
        haircut = Service.objects.select_related("provider").filter(slug__startswith="haircut").first()
        if haircut is None:
            return
        slots = list(availability.offers(haircut).filter(start__gt=soon).order_by("start")[:4:3])
        for i, slot in enumerate(slots):
            appointment = appointment_hold(customer=customer, slot_id=slot.pk, idempotency_key=str(uuid.uuid4()))
            pay_in_sandbox(appointment, customer)
            if i == 1:
                appointment_cancel_by_customer(
                    appointment=Appointment.objects.get(pk=appointment.pk), customer=customer
                )
        # A second customer's booking waits on a reschedule request: the provider's side panel
        # has one to answer, and that customer can withdraw it.
        other = User.objects.filter(email=SECOND_CUSTOMER_EMAIL).first()
        later = list(availability.offers(haircut).filter(start__gt=soon + timedelta(days=1)).order_by("start")[:2])
        if other is not None and len(later) == 2:
            booked = appointment_hold(customer=other, slot_id=later[0].pk, idempotency_key=str(uuid.uuid4()))
            pay_in_sandbox(booked, other)
            reschedule_request(
                appointment=Appointment.objects.get(pk=booked.pk), customer=other, new_slot_id=later[1].pk
            )
        # The salon has set up payouts (its sandbox payout account is ready); the other demo
        # businesses have not, so "Set up payouts" can be tried from their Settings.
        from django.conf import settings
        from django.urls import reverse

        from payments.gateways import SandboxGateway, get_gateway
        from payments.payouts import payout_account_link
        from payments.webhooks import sandbox_deliver_now

        salon = haircut.provider
        if isinstance(get_gateway(), SandboxGateway) and not salon.payout_account_ready:
            site = settings.SITE_URL.rstrip("/")
            payout_account_link(
                provider=salon,
                return_url=site + reverse("dashboard_payout_return"),
                refresh_url=site + reverse("dashboard_payout_setup"),
            )
            SandboxGateway().onboard(salon.payout_account_id)
            sandbox_deliver_now()
        # Last month's earnings transferred to the salon (its Payouts page and a "funds transferred" message).
        from payments.services import payout_record

        last_month = (timezone.now().replace(day=1) - timedelta(days=1)).strftime("%B %Y")
        payout_record(
            recipient=haircut.provider.user,
            amount_minor=12000,
            currency="EUR",
            reference=last_month,
            idempotency_key=f"demo-payout-salon-{last_month}",
        )
        # A walk-in the salon booked for someone who gave only a phone number (paid at the venue).
        desk = list(availability.offers(haircut).filter(start__gt=soon + timedelta(days=3)).order_by("start")[:1])
        if desk:
            from accounts.services import customer_for_provider_booking
            from bookings.services import CustomerDetails, appointment_book_for_customer

            appointment_book_for_customer(
                provider=haircut.provider,
                customer=customer_for_provider_booking(email="", phone="+351912000111"),
                slot_id=desk[0].pk,
                idempotency_key=str(uuid.uuid4()),
                details=CustomerDetails(name="Rui Costa", phone="+351912000111", notes="Booked by phone"),
            )

    def _demo_check_in(self) -> str | None:
        """Make sure the demo customer has a confirmed appointment at the check-in desk whose
        check-in window is open now (every run: earlier ones have passed). Returns its start."""
        import uuid

        from django.utils import timezone

        from bookings import availability
        from bookings.attendance import check_in_open
        from bookings.models import Appointment, AppointmentStatus
        from bookings.sandbox_pay import pay_in_sandbox
        from bookings.services import appointment_hold
        from providers.models import Service

        customer = User.objects.get(email=CUSTOMER_EMAIL)
        service = Service.objects.filter(provider__user__email=CHECK_IN_DESK["email"]).first()
        if service is None:
            return None
        now = timezone.now()
        mine = Appointment.objects.filter(
            customer=customer,
            service=service,
            status__in=(AppointmentStatus.CONFIRMED, AppointmentStatus.COMPLETED),
            end__gt=now,
        )
        ready = next((a for a in mine if check_in_open(a, now)), None)
        if ready is None:
            offer = availability.offers(service, now=now).filter(start__gt=now).order_by("start").first()
            if offer is None:
                return None
            ready = appointment_hold(customer=customer, slot_id=offer.pk, idempotency_key=str(uuid.uuid4()))
            pay_in_sandbox(ready, customer)
        return ready.start.astimezone(ZoneInfo(service.provider.timezone)).strftime("%H:%M %Z")

    help = "Load demo providers, services, slots and logins (idempotent)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        _user(ADMIN_EMAIL, Role.CUSTOMER, is_staff=True, is_superuser=True)
        _user(CUSTOMER_EMAIL, Role.CUSTOMER, first_name="Casey")
        _user(SECOND_CUSTOMER_EMAIL, Role.CUSTOMER, first_name="Robin")
        _user(NEW_PROVIDER_EMAIL, Role.PROVIDER)
        for spec in [*PROVIDERS, CHECK_IN_DESK]:
            user = _user(spec["email"], Role.PROVIDER)
            if Provider.objects.filter(user=user).exists():
                continue
            provider = provider_profile_save(
                user=user,
                business_name=spec["business_name"],
                timezone_name=spec["timezone_name"],
                phone=spec["phone"],
                address=spec["address"],
                description=spec["description"],
            )
            provider_hours_set(
                provider=provider,
                weekly=[(d, s, e) for d, intervals in spec["weekly"].items() for s, e in intervals],
                exceptions=[],
            )
            for name, category, minutes, price, currency, per_day, before, after, desc, *mode in spec["services"]:
                service_create(
                    provider=provider,
                    category=Category.objects.get(slug=category),
                    name=name,
                    description=desc,
                    duration_minutes=minutes,
                    price_minor=price,
                    currency=currency,
                    max_appointments_per_day=per_day,
                    buffer_before_minutes=before,
                    buffer_after_minutes=after,
                    payment_mode=mode[0] if mode else "online",  # venue, free, or online (default)
                    **({"min_notice_minutes": spec["min_notice_minutes"]} if "min_notice_minutes" in spec else {}),
                )
            if spec is CHECK_IN_DESK:
                # Its customers check in with the QR code, so it marks missed ones as no-shows.
                provider_auto_no_show_set(provider=provider, enabled=True)
        self._demo_bookings()
        check_in_at = self._demo_check_in()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready. Password for every demo login: {PASSWORD}\n"
                f"  customers: {CUSTOMER_EMAIL}, {SECOND_CUSTOMER_EMAIL} (has a reschedule request waiting)\n"
                f"  providers: {', '.join(p['email'] for p in PROVIDERS)} (onboarded), "
                f"{NEW_PROVIDER_EMAIL} (starts the onboarding wizard)\n"
                f"  admin: {ADMIN_EMAIL}\n"
                f"  QR check-in: {CUSTOMER_EMAIL} has a {check_in_at} appointment at {CHECK_IN_DESK['business_name']} "
                f"(provider login {CHECK_IN_DESK['email']}), open for check-in now"
            )
        )
