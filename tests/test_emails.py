"""Every email has a text and an HTML part, the product's name and its public address
(SITE_URL), never the host a request happened to come from."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.test import Client

from bookings.services import appointment_cancel_by_customer
from outbox.services import outbox_drain
from providers.login_codes import login_challenge_start
from providers.models import Slot
from tests.factories import PASSWORD, ServiceFactory, UserFactory, book_confirmed

pytestmark = pytest.mark.django_db

SITE = "https://appointly.example"


def assert_finished(message: Any) -> None:
    assert isinstance(message, EmailMultiAlternatives), message.subject
    html = str(next(content for content, mimetype in message.alternatives if mimetype == "text/html"))
    for part in (message.body, html):
        assert "Appointly" in part, message.subject
        assert SITE in part, message.subject
        assert "testserver" not in part, message.subject


def test_every_kind_of_email_is_finished(
    settings: Any, frozen_now: object, django_capture_on_commit_callbacks: Any
) -> None:
    settings.SITE_URL = SITE
    client = Client()
    # sign-up verification
    client.post("/accounts/signup/", {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD})
    # password reset
    UserFactory(email="casey@example.com")
    Client().post("/accounts/password/reset/", {"email": "casey@example.com"})
    # booking confirmation (the notification queue's email channel) and the provider's own email
    service = ServiceFactory()
    customer = UserFactory()
    booked = book_confirmed(customer, Slot.objects.filter(service=service).order_by("start").last())
    # a cancellation with its refund
    appointment_cancel_by_customer(appointment=booked, customer=customer)
    outbox_drain()
    outbox_drain()
    # a provider's sign-in code
    with django_capture_on_commit_callbacks(execute=True):
        login_challenge_start(user=service.provider.user)
    subjects = [m.subject for m in mail.outbox]
    for expected in ("Confirm Your Email", "Password Reset", "Booked:", "New booking:", "Cancelled", "sign-in code"):
        assert any(expected.lower() in s.lower() for s in subjects), (expected, subjects)
    for message in mail.outbox:
        assert_finished(message)


def test_the_console_prints_mail_people_can_read() -> None:
    import io

    from django.core.mail import EmailMessage

    from appointly.mail import ReadableConsoleBackend, with_html

    link = "https://appointly.example/accounts/confirm-email/MQ:1xW7v6:JLnNvU2UhBozmGxuWL7WyWFXuwQuK8FCyZb6q59/"
    stream = io.StringIO()
    ReadableConsoleBackend(stream=stream).send_messages(
        [with_html(EmailMessage(subject="Confirm · Appointly", body=f"Hello · go to {link} now", to=["a@b.c"]))]
    )
    printed = stream.getvalue()
    assert f"Hello · go to {link} now" in printed
    assert "Subject: Confirm · Appointly" in printed
    assert "Parts: text, text/html" in printed
    assert "=C2=B7" not in printed
