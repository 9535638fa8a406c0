"""factory_boy factories. Services are made through the real service so slots exist."""

from __future__ import annotations

from datetime import time
from typing import Any

import factory
from allauth.account.models import EmailAddress

from accounts.models import Role, User
from providers.models import (
    Category,
    OnboardingStep,
    Provider,
    Service,
    WeeklyInterval,
    new_qr_token,
    qr_token_digest,
)
from providers.services import service_create

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    role = Role.CUSTOMER
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def verified(obj: User, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            obj.save()
            EmailAddress.objects.create(user=obj, email=obj.email, verified=True, primary=True)


class ProviderUserFactory(UserFactory):
    email = factory.Sequence(lambda n: f"provider{n}@example.com")
    role = Role.PROVIDER


class ProviderFactory(factory.django.DjangoModelFactory[Provider]):
    """An onboarded provider open Mon-Fri 09:00-12:00 and 13:00-17:00 (Europe/Berlin)."""

    class Meta:
        model = Provider
        skip_postgeneration_save = True

    user = factory.SubFactory(ProviderUserFactory)
    business_name = factory.Sequence(lambda n: f"Studio {n}")
    slug = factory.Sequence(lambda n: f"studio-{n}")
    timezone = "Europe/Berlin"
    phone = "+4915112345678"
    address = "Hauptstraße 1, Berlin"
    onboarding_step = OnboardingStep.DONE
    qr_token = factory.LazyFunction(new_qr_token)
    qr_token_digest = factory.LazyAttribute(lambda o: qr_token_digest(o.qr_token))

    @factory.post_generation
    def hours(obj: Provider, create: bool, extracted: Any, **kwargs: Any) -> None:
        if not create:
            return
        intervals = extracted if extracted is not None else [(time(9), time(12)), (time(13), time(17))]
        WeeklyInterval.objects.bulk_create(
            [WeeklyInterval(provider=obj, weekday=d, start_time=s, end_time=e) for d in range(5) for s, e in intervals]
        )


CATEGORY_NAMES = {
    "hair-beauty": "Hair & beauty",
    "health-therapy": "Health & therapy",
    "tutoring-lessons": "Tutoring & lessons",
}


def category(slug: str = "hair-beauty") -> Category:
    # The data migration makes these; transactional tests flush them, so make them again.
    return Category.objects.get_or_create(slug=slug, defaults={"name": CATEGORY_NAMES[slug]})[0]


class ServiceFactory(factory.django.DjangoModelFactory[Service]):
    class Meta:
        model = Service

    provider = factory.SubFactory(ProviderFactory)
    category = factory.LazyFunction(category)
    name = factory.Sequence(lambda n: f"Haircut {n}")
    duration_minutes = 30
    price_minor = 3500
    currency = "EUR"
    max_appointments_per_day = 14
    min_notice_minutes = 0

    @classmethod
    def _create(cls, model_class: type[Service], *args: Any, **kwargs: Any) -> Service:
        return service_create(**kwargs)


def book_confirmed(customer: User, slot: Any, *, card: str = "4242424242424242") -> Any:
    """A confirmed, paid appointment made through the real services."""
    import uuid

    from bookings.sandbox_pay import pay_in_sandbox
    from bookings.services import appointment_hold

    appointment = appointment_hold(customer=customer, slot_id=slot.pk, idempotency_key=str(uuid.uuid4()))
    error = pay_in_sandbox(appointment, customer, card=card)
    assert not error, error
    appointment.refresh_from_db()
    assert appointment.status == "confirmed", appointment.status
    return appointment


def is_offered(slot_or_id: Any, *, now: Any = None) -> bool:
    """Whether this offer can be booked right now (bookings.availability's single definition)."""
    from bookings import availability
    from providers.models import Slot

    slot_id = getattr(slot_or_id, "pk", slot_or_id)
    slot = Slot.objects.select_related("service", "service__provider").filter(pk=slot_id).first()
    return slot is not None and availability.offers(slot.service, now=now).filter(pk=slot_id).exists()


def hidden_fields(html: str) -> dict[str, str]:
    """The hidden inputs of a page's forms (the confirm form carries the terms it showed)."""
    import re

    fields = {}
    for tag in re.findall(r"<input[^>]*type=\"hidden\"[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and name.group(1) != "csrfmiddlewaretoken":
            fields[name.group(1)] = value.group(1) if value else ""
    return fields


def slot_of(appointment: Any) -> Any:
    """The offer at an appointment's time (appointments copy their times; offers are rebuilt)."""
    from providers.models import Slot

    return Slot.objects.get(service_id=appointment.service_id, start=appointment.start)


def cancel_as_shown(client: Any, appointment: Any) -> Any:
    """The customer opens the cancel page and confirms the refund it shows."""
    url = f"/appointments/{appointment.pk}/cancel/"
    return client.post(url, hidden_fields(client.get(url).content.decode()))


def shown_terms(slot: Any) -> dict[str, str]:
    """The hidden fields the confirm page carries for a slot's service as it is now."""
    service = type(slot.service).objects.get(pk=slot.service_id)
    return {
        "price_minor": str(service.price_minor),
        "currency": service.currency,
        "policy": service.refund_policy.as_token(),
        "payment_mode": service.payment_mode,
        "service": service.slug,
    }


def service_form(**overrides: Any) -> dict[str, Any]:
    """The service form (wizard and dashboard) as a provider fills it in: 30 minutes, €40.00,
    14 a day, default policy. Pass `category` (a pk) and whatever the test changes."""
    return {
        "name": "Haircut",
        "description": "",
        "duration_minutes": "30",
        "price": "40.00",
        "currency": "EUR",
        "payment_mode": "online",
        "max_appointments_per_day": "14",
        "buffer_before_minutes": "0",
        "buffer_after_minutes": "0",
        "min_notice_minutes": "0",
        "booking_window_days": "30",
        "refund_full_hours": "24",
        "refund_partial_hours": "2",
        "refund_partial_percent": "50",
        "location": "",
        **overrides,
    }


def staff_with_second_factor(**fields: Any) -> tuple[User, str]:
    """A superuser with an authenticator app set up (the admin requires one); returns the user
    and the TOTP secret, to compute codes with `totp_now`."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    user: User = UserFactory(is_staff=True, is_superuser=True, **fields)  # type: ignore[assignment]
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return user, secret


def totp_now(secret: str) -> str:
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value, yield_hotp_counters_from_time

    return format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))


def hours_post(weekly: dict[int, str], exceptions: tuple[str, ...] = (), action: str = "save") -> dict[str, Any]:
    """The weekly hours editor's POST (`/dashboard/hours`) from readable text: `{0: "09:00-12:00,
    13:00-17:00"}` (days left out are closed) and exceptions like `"2026-12-25 closed"` or
    `"2026-12-24 09:00-13:00"`."""
    data: dict[str, Any] = {"action": action}
    for day in range(7):
        intervals = [p.strip() for p in weekly.get(day, "").split(",") if p.strip()]
        if not intervals:
            data[f"d{day}_closed"] = "on"
        for i, interval in enumerate(intervals):
            data[f"d{day}_s{i}"], data[f"d{day}_e{i}"] = interval.split("-")
    for i, line in enumerate(exceptions):
        date_text, _, rest = line.partition(" ")
        data[f"x{i}_date"] = date_text
        if rest == "closed":
            data[f"x{i}_closed"] = "on"
        else:
            data[f"x{i}_s"], data[f"x{i}_e"] = rest.split("-")
    return data


def deliver_webhooks(client: Any) -> list[Any]:
    """The sandbox's waiting events, POSTed signed to our webhook through the test client."""
    from payments.webhooks import sandbox_deliver_now

    answers: list[Any] = []
    sandbox_deliver_now(
        post=lambda body, signature: answers.append(
            client.post("/payments/webhook", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)
        )
    )
    assert all(a.status_code == 200 for a in answers), [a.content for a in answers]
    return answers


def path_of(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def pay_flow(client: Any, appointment: Any, card: str = "4242424242424242", *, deliver: bool = True) -> Any:
    """What the customer's browser does: press Pay on our page, type the card on the hosted
    page, come back; the gateway's webhook arrives (`deliver`). Returns the last answer: the
    return page (a redirect once the webhook has spoken), or the hosted page with its error."""
    import re

    page = client.get(f"/appointments/{appointment.pk}/pay/")
    found = re.search(r'name="payment_key" value="([^"]+)"', page.content.decode())
    pressed = client.post(f"/appointments/{appointment.pk}/pay/", {"payment_key": found.group(1) if found else ""})
    if pressed.status_code != 302 or "/sandbox/checkout/" not in pressed.url:
        return pressed
    hosted = client.post(path_of(pressed.url), {"card_number": card})
    if hosted.status_code != 302:
        return hosted
    if deliver:
        deliver_webhooks(client)
    return client.get(path_of(hosted.url))


def payouts_ready(provider: Any) -> None:
    """The provider sets up payouts: the onboarding link (the sandbox's account), finished on
    the sandbox's page, and its `account.updated` webhook."""
    from payments.gateways import SandboxGateway
    from payments.payouts import payout_account_link
    from payments.webhooks import sandbox_deliver_now

    payout_account_link(provider=provider, return_url="http://testserver/back", refresh_url="http://testserver/again")
    SandboxGateway().onboard(provider.payout_account_id)
    sandbox_deliver_now()
    provider.refresh_from_db()
    assert provider.payout_account_ready


def services_copied(service: Any, n: int, name: str = "Extra") -> list[Any]:
    """`n` more services of the same provider like `service` (without slots: none free), in one
    INSERT: a provider with many services, for query budgets and benchmarks."""
    import uuid

    copies = []
    for i in range(n):
        copy = Service.objects.get(pk=service.pk)
        copy.pk, copy.name, copy.slug = uuid.uuid4(), f"{name} {i:03}", f"{name.lower()}-{i:03}"
        copies.append(copy)
    return Service.objects.bulk_create(copies)
