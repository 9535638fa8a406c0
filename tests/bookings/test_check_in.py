"""QR check-in at /mark, through the pages: every answer a scan can get, the window's edges,
back-to-back appointments, double scans, replaced and forged codes, the rate limit, and the
log-in detour that comes back to the same check-in."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client

from bookings.models import Appointment, AppointmentEvent, AppointmentStatus, EventKind
from bookings.services import appointment_cancel_by_customer, appointment_check_in, appointment_hold
from providers.models import Provider, Slot
from tests.factories import PASSWORD, ServiceFactory, UserFactory, book_confirmed

pytestmark = pytest.mark.django_db

# Monday 30 November 2026 in Berlin (CET, UTC+1): the service's slots start 09:00, 09:30, ...
TEN = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # 10:00 CET


def berlin(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, 30, hour - 1, minute, second, tzinfo=UTC)


@pytest.fixture
def world(frozen_now: time_machine.Coordinates) -> dict[str, Any]:
    service = ServiceFactory(name="Beard trim")
    monday = list(Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start"))
    customer = UserFactory(email="casey@example.com")
    appointment = book_confirmed(customer, monday[2])  # 10:00-10:30 CET
    assert appointment.start == TEN
    client = Client()
    client.force_login(customer)
    provider = service.provider
    return {
        "service": service,
        "provider": provider,
        "monday": monday,
        "customer": customer,
        "appointment": appointment,
        "client": client,
        "url": f"/mark?id={provider.qr_token}",
        "clock": frozen_now,
    }


def scan(world: dict[str, Any], method: str = "GET", client: Client | None = None, url: str | None = None) -> Any:
    client = client or world["client"]
    url = url or world["url"]
    return client.post(url) if method == "POST" else client.get(url)


def text(response: Any) -> str:
    return response.content.decode()


def check_ins(appointment: Appointment) -> int:
    return AppointmentEvent.objects.filter(appointment=appointment, kind=EventKind.CHECKED_IN).count()


def test_the_page_shows_one_check_in_button_and_the_get_changes_nothing(world: dict[str, Any]) -> None:
    world["clock"].move_to(berlin(9, 45))
    response = scan(world)
    assert response.status_code == 200
    body = text(response)
    assert body.count('<button type="submit" class="big">Check in</button>') == 1
    assert "Beard trim" in body
    assert "10:00–10:30 CET" in body
    assert response["Referrer-Policy"] == "strict-origin"
    appointment = Appointment.objects.get(pk=world["appointment"].pk)
    assert appointment.status == AppointmentStatus.CONFIRMED
    assert appointment.checked_in_at is None
    assert check_ins(appointment) == 0


def test_checking_in_names_service_time_and_provider_and_records_who(world: dict[str, Any]) -> None:
    world["clock"].move_to(berlin(9, 47))
    response = scan(world, "POST")
    body = text(response)
    assert response.status_code == 200
    assert "You're checked in" in body
    assert "Beard trim" in body
    assert "Monday 30 November 2026, 10:00–10:30 CET" in body
    assert world["provider"].business_name in body
    assert "Checked in at <time" in body
    assert "09:47 CET" in body
    appointment = Appointment.objects.get(pk=world["appointment"].pk)
    assert appointment.status == AppointmentStatus.COMPLETED
    assert appointment.checked_in_at == berlin(9, 47)
    event = AppointmentEvent.objects.get(appointment=appointment, kind=EventKind.CHECKED_IN)
    assert (event.actor_id, event.data, event.at, event.provider_id) == (
        world["customer"].pk,
        {"via": "qr"},
        berlin(9, 47),
        world["provider"].pk,
    )
    # The customer's timeline says who did it; the account's "attended" card counts it
    timeline = text(world["client"].get(f"/appointments/{appointment.pk}/"))
    assert "Checked in · by the customer, with the QR code" in timeline
    account = text(world["client"].get("/account/"))
    assert '<span class="label">Attended</span><strong class="figure">1</strong>' in account


def test_scanning_twice_is_harmless(world: dict[str, Any]) -> None:
    world["clock"].move_to(berlin(10, 2))
    scan(world, "POST")
    world["clock"].move_to(berlin(10, 9))
    again = text(scan(world, "POST"))
    assert "Already checked in" in again
    assert "You checked in at <time" in again
    assert "10:02 CET" in again
    looked = text(scan(world))
    assert "Already checked in" in looked
    assert "Check in</button>" not in looked
    # ... and after the end it still says so rather than "too late"
    world["clock"].move_to(berlin(11, 30))
    assert "Already checked in" in text(scan(world))
    appointment = Appointment.objects.get(pk=world["appointment"].pk)
    assert appointment.checked_in_at == berlin(10, 2)
    assert check_ins(appointment) == 1


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (berlin(9, 29, 59), "Too early to check in"),
        (berlin(9, 30), "Check in</button>"),
        (berlin(10, 29, 59), "Check in</button>"),
        (berlin(10, 30), "Too late to check in"),
    ],
)
def test_the_window_opens_30_minutes_before_and_closes_at_the_end(
    world: dict[str, Any], moment: datetime, expected: str
) -> None:
    world["clock"].move_to(moment)
    assert expected in text(scan(world))
    response = scan(world, "POST")
    status = Appointment.objects.get(pk=world["appointment"].pk).status
    if expected == "Check in</button>":
        assert "You're checked in" in text(response)
        assert status == AppointmentStatus.COMPLETED
    else:
        assert expected in text(response)
        assert status == AppointmentStatus.CONFIRMED
        assert check_ins(world["appointment"]) == 0


def test_too_early_says_when_it_opens(world: dict[str, Any]) -> None:
    world["clock"].move_to(berlin(8, 5))
    body = text(scan(world))
    assert "Check-in opens at <strong><time" in body
    assert "09:30 CET" in body
    assert "Scan the code again then." in body


def test_too_late_tells_the_customer_to_ask_at_the_desk(world: dict[str, Any]) -> None:
    world["clock"].move_to(berlin(12, 0))
    body = text(scan(world, "POST"))
    assert "Too late to check in" in body
    assert "can mark you attended" in body
    assert Appointment.objects.get(pk=world["appointment"].pk).status == AppointmentStatus.CONFIRMED


def test_back_to_back_checks_in_the_current_one_and_says_so(world: dict[str, Any]) -> None:
    # Given 10:00 and 10:30 with the same provider
    second = book_confirmed(world["customer"], world["monday"][3])
    world["clock"].move_to(berlin(10, 20))
    body = text(scan(world, "POST"))
    assert "You're checked in" in body
    assert "10:00–10:30 CET" in body
    assert "You also have <strong>Beard trim</strong> at <time" in body
    assert "10:30 CET" in body
    assert Appointment.objects.get(pk=world["appointment"].pk).status == AppointmentStatus.COMPLETED
    assert Appointment.objects.get(pk=second.pk).status == AppointmentStatus.CONFIRMED
    # A second scan during the first one does not check in the next one early
    assert "Already checked in" in text(scan(world, "POST"))
    assert Appointment.objects.get(pk=second.pk).status == AppointmentStatus.CONFIRMED
    # Once the next one starts, a scan checks it in
    world["clock"].move_to(berlin(10, 31))
    assert "You're checked in" in text(scan(world, "POST"))
    assert Appointment.objects.get(pk=second.pk).checked_in_at == berlin(10, 31)


def test_a_cancelled_appointment_says_so(world: dict[str, Any]) -> None:
    appointment_cancel_by_customer(appointment=world["appointment"], customer=world["customer"])
    world["clock"].move_to(berlin(9, 50))
    body = text(scan(world, "POST"))
    assert "This appointment was cancelled" in body
    assert check_ins(world["appointment"]) == 0


def test_an_unpaid_booking_says_so(world: dict[str, Any]) -> None:
    import uuid

    # Given a customer at the desk who booked 13:00 a moment ago and has not paid yet
    other = UserFactory()
    client = Client()
    client.force_login(other)
    world["clock"].move_to(berlin(12, 50))
    held = appointment_hold(customer=other, slot_id=world["monday"][6].pk, idempotency_key=str(uuid.uuid4()))
    body = text(scan(world, "POST", client=client))
    assert "This booking was not paid" in body
    assert f"/appointments/{held.pk}/pay/" in body
    assert Appointment.objects.get(pk=held.pk).status == AppointmentStatus.HELD


def test_no_appointment_today_and_never_someone_elses(world: dict[str, Any]) -> None:
    # Given a stranger with no appointment here, and the customer's booking at another provider
    stranger = Client()
    stranger.force_login(UserFactory())
    world["clock"].move_to(berlin(9, 50))
    body = text(scan(world, "POST", client=stranger))
    assert "No appointment here today" in body
    assert Appointment.objects.get(pk=world["appointment"].pk).status == AppointmentStatus.CONFIRMED
    elsewhere = ServiceFactory()
    other_provider_booking = book_confirmed(
        world["customer"], Slot.objects.filter(service=elsewhere, start=TEN + timedelta(hours=3)).get()
    )
    scan(world, "POST")  # this provider's code checks in this provider's appointment only
    assert Appointment.objects.get(pk=other_provider_booking.pk).status == AppointmentStatus.CONFIRMED
    assert Appointment.objects.get(pk=world["appointment"].pk).status == AppointmentStatus.COMPLETED


def test_tomorrows_appointment_is_too_early_not_today(world: dict[str, Any]) -> None:
    world["clock"].move_to(berlin(18, 0) - timedelta(days=1))  # Sunday evening
    assert "No appointment here today" in text(scan(world))


def test_a_visitor_logs_in_and_comes_back_to_the_same_check_in(world: dict[str, Any]) -> None:
    world["clock"].move_to(berlin(9, 50))
    visitor = Client()
    page = text(visitor.get(world["url"]))
    assert "Log in to check in" in page
    assert world["provider"].business_name in page
    assert world["provider"].qr_token not in page.replace(world["url"], "")  # no code in the login links
    logged_in = visitor.post("/accounts/login/", {"login": "casey@example.com", "password": PASSWORD})
    assert logged_in.status_code == 302
    assert logged_in["Location"] == world["url"]
    assert "You're checked in" in text(visitor.post(world["url"]))


def test_a_provider_scanning_is_told_customers_scan(world: dict[str, Any]) -> None:
    owner = Client()
    owner.force_login(world["provider"].user)
    world["clock"].move_to(berlin(9, 50))
    own = scan(world, "POST", client=owner)
    assert own.status_code == 403
    assert "signed in with a provider account" in text(own)
    assert "This is your own check-in code: it works." in text(own)
    other = Client()
    other.force_login(ServiceFactory().provider.user)
    assert "your own" not in text(scan(world, client=other))
    assert check_ins(world["appointment"]) == 0


@pytest.mark.parametrize(
    "token",
    ["", "abc", "A" * 32, "' OR 1=1 --", "x" * 5000, "%2F" * 11, "Zm9v" * 8 + "=", None],
)
def test_unknown_and_malformed_codes_are_not_valid_404(world: dict[str, Any], token: str | None) -> None:
    url = "/mark" if token is None else f"/mark?id={token}"
    response = world["client"].get(url)
    assert response.status_code == 404
    assert "This code is no longer valid" in text(response)
    assert "ask at the desk for the new one" in text(response).lower()


def test_a_replaced_code_stops_working_and_the_new_one_works(world: dict[str, Any]) -> None:
    world["clock"].move_to(berlin(9, 50))
    owner = Client()
    owner.force_login(world["provider"].user)
    old_url = world["url"]
    confirm = owner.get("/dashboard/qr/rotate")
    assert "Replace your check-in code?" in text(confirm)
    assert Provider.objects.get(pk=world["provider"].pk).qr_token == world["provider"].qr_token  # GET asks only
    owner.post("/dashboard/qr/rotate")
    provider = Provider.objects.get(pk=world["provider"].pk)
    assert provider.qr_token != world["provider"].qr_token
    old = scan(world, "POST", url=old_url)
    assert old.status_code == 404
    assert "This code is no longer valid" in text(old)
    assert check_ins(world["appointment"]) == 0
    assert "You're checked in" in text(scan(world, "POST", url=f"/mark?id={provider.qr_token}"))


def test_a_code_of_a_provider_not_yet_public_is_not_valid(world: dict[str, Any]) -> None:
    Provider.objects.filter(pk=world["provider"].pk).update(onboarding_step="hours")
    assert scan(world).status_code == 404


def test_scans_are_rate_limited_per_user(world: dict[str, Any]) -> None:
    for _ in range(20):
        assert scan(world).status_code == 200
    limited = scan(world)
    assert limited.status_code == 429
    assert "Too many attempts" in text(limited)
    assert check_ins(world["appointment"]) == 0


def test_guessing_codes_from_one_address_is_limited(world: dict[str, Any]) -> None:
    guesser = Client()  # anonymous: GETs count too, 60 a minute per IP
    answers = [guesser.get(f"/mark?id={'A' * 31}{i % 10}").status_code for i in range(61)]
    assert answers[:60] == [404] * 60
    assert answers[60] == 429
    world["clock"].shift(timedelta(minutes=2))
    assert guesser.get(world["url"]).status_code == 200


def test_the_token_is_masked_in_request_logs() -> None:
    from appointly.redaction import redact

    assert redact('"GET /mark?id=AbC_d-123 HTTP/1.1" 200') == '"GET /mark?id=[redacted] HTTP/1.1" 200'
    assert redact("/mark?x=1&id=AbC&y=2") == "/mark?x=1&id=[redacted]&y=2"
    assert redact("GET /auth/k3y-abc/resend") == "GET /auth/[redacted]/resend"
    assert redact("/services/haircut/?day=2026-11-30") == "/services/haircut/?day=2026-11-30"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_scans_at_the_same_moment_check_in_once(frozen_now: time_machine.Coordinates) -> None:
    # Given one appointment whose window is open, and the customer's two taps racing
    service = ServiceFactory()
    customer = UserFactory()
    appointment = book_confirmed(customer, Slot.objects.filter(service=service, start=TEN).get())
    frozen_now.move_to(berlin(9, 55))
    barrier = threading.Barrier(4)
    answers: list[str] = []

    def tap() -> None:
        try:
            barrier.wait()
            answers.append(appointment_check_in(customer=customer, provider=service.provider).answer.value)
        finally:
            connection.close()

    threads = [threading.Thread(target=tap) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(answers) == ["already", "already", "already", "checked_in"]
    assert check_ins(appointment) == 1


def test_gunicorns_access_log_masks_the_code_too() -> None:
    import runpy
    from types import SimpleNamespace

    from gunicorn.config import Config

    logger = runpy.run_path("gunicorn.conf.py")["logger_class"](Config())
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/mark?id=S3cretCode",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "PATH_INFO": "/mark",
        "QUERY_STRING": "id=S3cretCode",
        "HTTP_REFERER": "https://appointly.example/mark?id=S3cretCode",
        "REMOTE_ADDR": "203.0.113.9",
    }
    response = SimpleNamespace(status="200 OK", response_length=10, sent=10, headers=[])
    atoms = logger.atoms(response, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=5))
    assert atoms["r"] == "GET /mark?id=[redacted] HTTP/1.1"
    assert atoms["q"] == "id=[redacted]"
    assert "S3cretCode" not in repr(atoms)


def test_checking_in_withdraws_a_waiting_request_to_move_and_frees_its_time(world: dict[str, Any]) -> None:
    from bookings.models import RescheduleRequest, RescheduleStatus
    from bookings.services import reschedule_request
    from tests.factories import is_offered

    # Given the customer asked to move to 11:30, and the provider has not answered
    target = world["monday"][5]
    request = reschedule_request(appointment=world["appointment"], customer=world["customer"], new_slot_id=target.pk)
    assert not is_offered(target)
    # When they turn up at 10:00 and check in
    world["clock"].move_to(berlin(9, 58))
    assert "You're checked in" in text(scan(world, "POST"))
    # Then the request is withdrawn, its time is free again, and the timeline says so
    assert RescheduleRequest.objects.get(pk=request.pk).status == RescheduleStatus.WITHDRAWN
    assert is_offered(target)
    kinds = list(world["appointment"].events.order_by("pk").values_list("kind", flat=True))
    assert kinds[-2:] == [EventKind.CHECKED_IN, EventKind.RESCHEDULE_WITHDRAWN]


def test_a_visitor_without_an_account_signs_up_verifies_and_comes_back(world: dict[str, Any]) -> None:
    import re

    from django.core import mail

    # Someone new scans (they will have nothing booked, but they land back on the check-in)
    visitor = Client()
    visitor.get(world["url"])
    visitor.post(
        "/accounts/signup/",
        {"email": "walkin@example.com", "password1": "a-long-and-unusual-pw", "password2": "a-long-and-unusual-pw"},
    )
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/[^\s]+)", mail.outbox[-1].body).group(1)
    confirmed = visitor.post(link)
    assert confirmed.status_code == 302
    assert confirmed.url == world["url"]
    assert "No appointment here today" in text(visitor.get(confirmed.url))
