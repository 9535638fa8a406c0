"""Notifications: written with the change, delivered by the queue through email, Twilio (a
local fake speaking its API), in-app; fallback, status callbacks, opt-out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.db import transaction
from django.test import Client
from twilio.request_validator import RequestValidator

from notifications.models import Channel, Message, MessageStatus, Preference
from notifications.services import notify
from outbox.models import Job, JobStatus
from outbox.services import outbox_drain
from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory, book_confirmed, staff_with_second_factor
from tests.notifications.fake_twilio import FakeTwilio

pytestmark = pytest.mark.django_db

TOKEN = "test-auth-token-0123456789abcdef"
PHONE = "+4915112345678"


@pytest.fixture
def twilio(settings: Any) -> Iterator[FakeTwilio]:
    fake = FakeTwilio().start()
    settings.TWILIO_ACCOUNT_SID = "AC" + "1" * 32
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.TWILIO_SMS_FROM = "+15005550006"
    settings.TWILIO_WHATSAPP_FROM = "whatsapp:+14155238886"
    settings.TWILIO_API_BASE = fake.url
    settings.TWILIO_STATUS_CALLBACK_URL = "https://book.example.com/notifications/twilio/status"
    settings.TWILIO_INBOUND_URL = "https://book.example.com/notifications/twilio/inbound"
    yield fake
    fake.stop()


def customer_on(channel: str) -> Any:
    user = UserFactory()
    Preference.objects.create(user=user, channel=channel, phone=PHONE)
    return user


def test_a_booking_notifies_both_sides_in_app_and_by_email(frozen_now: object) -> None:
    service = ServiceFactory()
    customer = UserFactory(email="casey@example.com")
    slot = Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).first()
    book_confirmed(customer, slot)
    # Written with the booking: in-app rows (shown at once) and queued emails
    assert set(Message.objects.values_list("recipient__email", "channel", "status")) == {
        ("casey@example.com", Channel.IN_APP, MessageStatus.SENT),
        (service.provider.user.email, Channel.IN_APP, MessageStatus.SENT),
        ("casey@example.com", Channel.EMAIL, MessageStatus.QUEUED),
        (service.provider.user.email, Channel.EMAIL, MessageStatus.QUEUED),
    }
    outbox_drain()
    subjects = sorted(m.subject for m in mail.outbox)
    assert subjects == [
        "Booked: Haircut 0 on Mon 30 Nov 2026, 09:00 CET (Europe/Berlin)".replace("Haircut 0", service.name),
        f"New booking: {service.name} on Mon 30 Nov 2026, 09:00 CET (Europe/Berlin)",
    ]
    assert Message.objects.filter(channel=Channel.EMAIL, status=MessageStatus.SENT).count() == 2


def test_a_rolled_back_change_sends_nothing() -> None:
    user = UserFactory()

    def change() -> None:
        with transaction.atomic():
            notify(event="refund_issued", recipient=user, context={"amount": "€1"}, key="r1")
            raise RuntimeError("the refund row failed")

    with pytest.raises(RuntimeError):
        change()
    assert not Message.objects.exists()
    assert not Job.objects.exists()


def test_whatsapp_goes_through_the_real_twilio_client(twilio: FakeTwilio) -> None:
    user = customer_on(Channel.WHATSAPP)
    notify(event="refund_issued", recipient=user, context={"amount": "€35.00", "reference_text": "x"}, key="r")
    outbox_drain()
    [request] = twilio.requests
    assert request["path"] == f"/2010-04-01/Accounts/AC{'1' * 32}/Messages.json"
    assert request["To"] == f"whatsapp:{PHONE}"
    assert request["From"] == "whatsapp:+14155238886"
    assert "We refunded €35.00" in request["Body"]
    assert request["StatusCallback"] == "https://book.example.com/notifications/twilio/status"
    message = Message.objects.get(channel=Channel.WHATSAPP)
    assert message.status == MessageStatus.SENT
    assert message.provider_sid.startswith("SM")


def test_invalid_number_falls_back_to_sms_then_email_without_a_retry_storm(twilio: FakeTwilio) -> None:
    user = customer_on(Channel.WHATSAPP)
    twilio.script.extend([(400, 21211), (400, 21211)])
    notify(event="refund_issued", recipient=user, context={"amount": "€1"}, key="r")
    outbox_drain()
    chain = list(
        Message.objects.exclude(channel=Channel.IN_APP).order_by("created_at").values_list("channel", "status")
    )
    assert chain == [
        (Channel.WHATSAPP, MessageStatus.FAILED),
        (Channel.SMS, MessageStatus.FAILED),
        (Channel.EMAIL, MessageStatus.SENT),
    ]
    assert len(twilio.requests) == 2  # one try each: 21211 is permanent
    assert "21211" in Message.objects.get(channel=Channel.WHATSAPP).error
    assert len(mail.outbox) == 1


def test_429_then_503_are_retried_with_backoff_and_nothing_is_lost(
    twilio: FakeTwilio, frozen_now: time_machine.Coordinates
) -> None:
    user = customer_on(Channel.SMS)
    twilio.script.extend([(429, 20429), (503, None)])
    notify(event="refund_issued", recipient=user, context={"amount": "€1"}, key="r")
    outbox_drain()
    job = Job.objects.get(kind="notifications.send")
    assert (job.status, job.attempts) == (JobStatus.QUEUED, 1)
    assert job.run_after - job.updated_at == timedelta(seconds=45)  # Twilio's Retry-After header
    frozen_now.shift(timedelta(seconds=46))
    outbox_drain()
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.QUEUED, 2)
    assert "503" in job.last_error
    frozen_now.shift(timedelta(minutes=1))
    outbox_drain()
    assert Job.objects.get(pk=job.pk).status == JobStatus.DONE
    assert Message.objects.get(channel=Channel.SMS).status == MessageStatus.SENT
    assert len(twilio.requests) == 3


def _signed_post(client: Client, url: str, params: dict[str, str], token: str = TOKEN) -> Any:
    signature = RequestValidator(token).compute_signature(url, params)
    path = url.split("book.example.com", 1)[1]
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def test_status_callbacks_need_a_valid_signature(client: Client, twilio: FakeTwilio) -> None:
    user = customer_on(Channel.SMS)
    notify(event="refund_issued", recipient=user, context={"amount": "€1"}, key="r")
    outbox_drain()
    sid = Message.objects.get(channel=Channel.SMS).provider_sid
    url = "https://book.example.com/notifications/twilio/status"
    params = {"MessageSid": sid, "MessageStatus": "delivered"}
    assert client.post("/notifications/twilio/status", params).status_code == 403
    assert _signed_post(client, url, params, token="wrong-token").status_code == 403
    assert Message.objects.get(provider_sid=sid).status == MessageStatus.SENT
    assert _signed_post(client, url, params).status_code == 204
    assert Message.objects.get(provider_sid=sid).status == MessageStatus.DELIVERED


def test_undelivered_whatsapp_falls_back_to_sms(client: Client, twilio: FakeTwilio) -> None:
    user = customer_on(Channel.WHATSAPP)
    notify(event="refund_issued", recipient=user, context={"amount": "€1"}, key="r")
    outbox_drain()
    sid = Message.objects.get(channel=Channel.WHATSAPP).provider_sid
    _signed_post(
        client,
        "https://book.example.com/notifications/twilio/status",
        {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "63016"},
    )
    outbox_drain()
    assert Message.objects.get(channel=Channel.WHATSAPP).status == MessageStatus.FAILED
    assert Message.objects.get(channel=Channel.SMS).status == MessageStatus.SENT


def test_inbound_stop_opts_out_of_phone_messages(client: Client, twilio: FakeTwilio) -> None:
    user = customer_on(Channel.SMS)
    response = _signed_post(
        client, "https://book.example.com/notifications/twilio/inbound", {"From": PHONE, "Body": "Stop"}
    )
    assert response.status_code == 200
    assert Preference.objects.get(user=user).phone_opted_out
    notify(event="refund_issued", recipient=user, context={"amount": "€1"}, key="r")
    outbox_drain()
    assert not twilio.requests
    assert Message.objects.get(idempotency_key__endswith=":external").channel == Channel.EMAIL


def test_without_twilio_credentials_the_console_prints(capsys: pytest.CaptureFixture[str]) -> None:
    user = customer_on(Channel.SMS)
    notify(event="refund_issued", recipient=user, context={"amount": "€9.00"}, key="r")
    outbox_drain()
    assert f"[sms to {PHONE}] We refunded €9.00" in capsys.readouterr().out
    assert Message.objects.get(channel=Channel.SMS).status == MessageStatus.SENT


def test_cancellation_and_refund_notify_the_customer(
    frozen_now: object, django_capture_on_commit_callbacks: Any
) -> None:
    from bookings.services import appointment_cancel_by_provider

    service = ServiceFactory()
    customer = UserFactory()
    booked = book_confirmed(customer, Slot.objects.filter(service=service).last())
    appointment_cancel_by_provider(appointment=booked, provider=service.provider, reason="Ill today")
    outbox_drain()
    events = set(Message.objects.filter(recipient=customer, channel=Channel.IN_APP).values_list("event", flat=True))
    assert events == {"booked_customer", "cancelled_by_provider", "refund_issued"}
    cancelled = Message.objects.get(recipient=customer, channel=Channel.EMAIL, event="cancelled_by_provider")
    assert "(Ill today)" in cancelled.body
    assert "full refund of €35.00" in cancelled.body


def test_whatsapp_outside_the_24h_window_uses_the_approved_template(twilio: FakeTwilio, settings: Any) -> None:
    import json

    settings.TWILIO_WHATSAPP_CONTENT_SID = "HX" + "a" * 32
    user = customer_on(Channel.WHATSAPP)
    twilio.script.append((400, 63016))
    notify(event="refund_issued", recipient=user, context={"amount": "€5.00"}, key="r")
    outbox_drain()
    first, second = twilio.requests
    assert "Body" in first
    assert second["ContentSid"] == "HX" + "a" * 32
    variables = json.loads(second["ContentVariables"])
    assert variables["1"] == "Refund issued: €5.00"
    assert "We refunded €5.00" in variables["2"]
    assert "Body" not in second
    assert Message.objects.get(channel=Channel.WHATSAPP).status == MessageStatus.SENT


def test_whatsapp_outside_the_window_without_a_template_falls_back_to_sms(twilio: FakeTwilio) -> None:
    user = customer_on(Channel.WHATSAPP)
    twilio.script.append((400, 63016))
    notify(event="refund_issued", recipient=user, context={"amount": "€5.00"}, key="r")
    outbox_drain()
    assert [r["To"] for r in twilio.requests] == [f"whatsapp:{PHONE}", PHONE]
    assert Message.objects.get(channel=Channel.SMS).status == MessageStatus.SENT


def test_sms_gets_its_own_short_template(frozen_now: object) -> None:
    service = ServiceFactory()
    customer = UserFactory()
    Preference.objects.create(user=customer, channel=Channel.SMS, phone=PHONE)
    book_confirmed(customer, Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).first())
    sms = Message.objects.get(recipient=customer, channel=Channel.SMS)
    in_app = Message.objects.get(recipient=customer, channel=Channel.IN_APP)
    assert sms.subject == f"Booked: {service.name}"
    assert sms.body.startswith(f"{service.name}, Mon 30 Nov 2026, 09:00 CET (Europe/Berlin), ")
    assert len(sms.body) < 160
    assert "Where:" in in_app.body


def test_staff_record_a_payout_and_the_provider_is_told(client: Client) -> None:
    from payments.models import Payout

    provider = UserFactory(email="barber@example.com")
    client.force_login(staff_with_second_factor()[0])
    response = client.post(
        "/admin/payments/payout/add/",
        {"recipient": provider.pk, "amount_minor": "125000", "currency": "EUR", "reference": "November 2026"},
    )
    assert response.status_code == 302
    payout = Payout.objects.get()
    assert (payout.amount_minor, payout.currency) == (125000, "EUR")
    message = Message.objects.get(recipient=provider, channel=Channel.IN_APP)
    assert message.subject == "Funds transferred: €1,250.00"
    assert "(November 2026)" in message.body
    outbox_drain()
    assert mail.outbox[-1].subject == "Funds transferred: €1,250.00"


def test_a_stop_sent_while_holding_is_heeded_by_the_booking_confirmation(
    client: Client, twilio: FakeTwilio, frozen_now: object
) -> None:
    """The confirmation reads both people's preferences with the appointment it locks (ADR
    0028): read in its own transaction, so an opt-out that came in meanwhile counts."""
    from bookings.models import Appointment
    from bookings.sandbox_pay import pay_in_sandbox
    from bookings.services import appointment_hold

    # Given a customer who asked for text messages, holding a time
    user = customer_on(Channel.SMS)
    slot = Slot.objects.filter(service=ServiceFactory(), slot_date=date(2026, 11, 30)).order_by("start")[2]
    held = appointment_hold(customer=user, slot_id=slot.pk, idempotency_key="k-1")
    # When they text STOP, then pay, and the gateway's webhook confirms the booking
    stop = _signed_post(
        client, "https://book.example.com/notifications/twilio/inbound", {"From": PHONE, "Body": "STOP"}
    )
    assert stop.status_code == 200
    assert pay_in_sandbox(Appointment.objects.get(pk=held.pk), user, card="4242424242424242") == ""
    outbox_drain()
    # Then they are told in the app and by email, and no text message is sent
    told = Message.objects.filter(recipient=user, reference=str(held.pk))
    assert sorted(told.values_list("channel", flat=True)) == sorted([Channel.IN_APP, Channel.EMAIL])
    assert not twilio.requests
    assert Appointment.objects.get(pk=held.pk).status == "confirmed"
