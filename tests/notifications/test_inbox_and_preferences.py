"""What a person sees and chooses: the in-app inbox and the channel preference."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client

from notifications.models import Channel, Message, Preference
from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory, book_confirmed

pytestmark = pytest.mark.django_db


def test_inbox_on_the_account_page_and_the_dashboard(client: Client, frozen_now: object) -> None:
    service = ServiceFactory()
    customer = UserFactory()
    book_confirmed(customer, Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).first())
    client.force_login(customer)
    page = client.get("/account/").content.decode()
    assert f"Booked: {service.name} on Mon 30 Nov 2026, 09:00 CET (Europe/Berlin)" in page
    assert 'class="unread"' in page
    client.post("/notifications/read")
    assert 'class="unread"' not in client.get("/account/").content.decode()
    assert Message.objects.get(recipient=customer, channel=Channel.IN_APP).read_at is not None
    provider = Client()
    provider.force_login(service.provider.user)
    # The provider's navigation counts it on every dashboard page; Messages lists it
    assert '<span id="unread-badge" class="count">1<span class="visually-hidden"> unread</span></span>' in (
        provider.get("/dashboard/services").content.decode()
    )
    assert f"New booking: {service.name}" in provider.get("/dashboard/messages").content.decode()
    # The side panel shows it in place (HTMX); "mark all as read" answers there and clears the badge
    panel = provider.get("/dashboard/panel", headers={"HX-Request": "true"}).content.decode()
    assert f"New booking: {service.name}" in panel
    assert 'id="panel-inbox"' in panel
    read = provider.post("/notifications/read", {"where": "panel-inbox"}, headers={"HX-Request": "true"})
    assert read.status_code == 200
    assert 'id="panel-inbox"' in read.content.decode()
    assert '<span id="unread-badge" class="count none" hx-swap-oob="true">' in read.content.decode()
    assert 'class="count">' not in provider.get("/dashboard/services").content.decode()
    # Without JavaScript the panel's link is the Messages page
    assert provider.get("/dashboard/panel").url == "/dashboard/messages"


def test_choosing_sms_with_a_valid_number(client: Client) -> None:
    user = UserFactory()
    client.force_login(user)
    # Given the form as a new customer sees it: email, no number
    form = client.get("/account/").content.decode()
    assert '<option value="email" selected>Email</option>' in form
    assert '<input type="tel" name="phone" value="" maxlength="32"' in form
    # When they choose SMS with their number
    response = client.post("/notifications/preferences", {"channel": "sms", "phone": "+49 151 12345678"}, follow=True)
    # Then it is saved in E.164, and the form they come back to shows their choice
    body = response.content.decode()
    assert "Saved" in body
    pref = Preference.objects.get(user=user)
    assert (pref.channel, pref.phone) == ("sms", "+4915112345678")
    assert '<option value="sms" selected>SMS</option>' in body
    assert '<option value="email">Email</option>' in body
    assert 'value="+4915112345678"' in body
    assert '<label for="id_phone">Mobile number:</label>' in body


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"channel": "sms", "phone": ""}, "SMS and WhatsApp need a mobile number."),
        ({"channel": "whatsapp", "phone": "0151 1234"}, "Enter the number with + and the country code."),
        ({"channel": "sms", "phone": "+49 123"}, "not valid for its country"),
        ({"channel": "pigeon", "phone": ""}, "Select a valid choice"),
    ],
)
def test_bad_preferences_are_refused_with_a_reason(client: Client, data: dict[str, str], message: str) -> None:
    user = UserFactory()
    client.force_login(user)
    response = client.post("/notifications/preferences", data, follow=True)
    assert message in response.content.decode()
    assert not Preference.objects.filter(user=user).exists()


def test_preferences_need_a_login(client: Client) -> None:
    response = client.post("/notifications/preferences", {"channel": "email"})
    assert response.status_code == 302
    assert not Preference.objects.exists()


def test_message_history_for_the_provider_and_the_customer(client: Client, frozen_now: object) -> None:
    from outbox.services import outbox_drain

    service = ServiceFactory()
    customer = UserFactory(email="casey@example.com")
    stranger_service = ServiceFactory()
    book_confirmed(customer, Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).first())
    book_confirmed(UserFactory(email="other@example.com"), Slot.objects.filter(service=stranger_service).first())
    outbox_drain()
    client.force_login(service.provider.user)
    page = client.get("/dashboard/messages").content.decode()
    # The provider sees the email to their customer and to themselves, not another provider's
    assert "casey@example.com" in page
    assert service.provider.user.email in page
    assert "other@example.com" not in page
    assert "Sent" in page
    client.force_login(customer)
    mine = client.get("/account/").content.decode()
    assert "Messages sent" in mine
    assert "casey@example.com" in mine
    assert "other@example.com" not in mine
