"""Every route of ours, as every kind of visitor, with GET and POST: never a 5xx, never another
person's data, never a change made by someone who may not make it; JSON routes always answer
the JSON error body (hardening issue). The routes come from the URL conf, and every URL kwarg
must be mapped below to another person's real row, so a new route is covered by construction
(an unmapped kwarg fails the test). The admin and allauth's pages are theirs (staff-only behind
a second factor, and allauth's own tests); they are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from api.models import AccessToken
from api.tokens import token_create
from bookings.models import Appointment, AppointmentStatus, RescheduleRequest
from bookings.services import reschedule_request
from payments.models import Payment
from providers.login_codes import login_challenge_start
from providers.models import Service, Slot
from tests.factories import ServiceFactory, UserFactory, book_confirmed

pytestmark = pytest.mark.django_db

SKIPPED_PREFIXES = ("admin/", "accounts/")
OWNER_EMAIL = "owner-private@example.com"


def routes() -> Iterator[tuple[str, URLPattern]]:
    def walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, URLPattern]]:
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            else:
                yield prefix + str(p.pattern), p

    for route, pattern in walk(get_resolver().url_patterns, ""):
        if not route.startswith(SKIPPED_PREFIXES):
            yield route, pattern


@dataclass
class World:
    service: Service
    other_service: Service
    appointment: Appointment
    request: RescheduleRequest
    challenge_id: str
    slot: Slot
    token_id: int
    people: dict[str, Any]

    def kwargs(self) -> dict[str, Callable[[], str]]:
        """Each URL kwarg of the URL conf -> a real row that belongs to the owner."""
        return {
            "slug": lambda: self.service.slug,
            "challenge_id": lambda: self.challenge_id,
            "appointment_id": lambda: str(self.appointment.pk),
            "service_id": lambda: str(self.service.pk),
            "request_id": lambda: str(self.request.pk),
            "answer": lambda: "accept",
            "slot_id": lambda: str(self.slot.pk),
            "fmt": lambda: "png",
            "token": lambda: "not-a-signed-token",
            "session_id": lambda: Payment.objects.get(reference=str(self.appointment.pk)).checkout_session_id,
            "account_id": lambda: self.service.provider.payout_account_id or "acct_none",
            "token_id": lambda: str(self.token_id),
        }


@pytest.fixture
def world(frozen_now: object) -> World:
    service = ServiceFactory()
    other_service = ServiceFactory()
    owner = UserFactory(email=OWNER_EMAIL)
    monday = list(Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start"))
    appointment = book_confirmed(owner, monday[2])
    request = reschedule_request(appointment=appointment, customer=owner, new_slot_id=monday[8].pk)
    challenge = login_challenge_start(user=service.provider.user).challenge
    return World(
        service=service,
        other_service=other_service,
        appointment=appointment,
        request=request,
        challenge_id=challenge.id,
        slot=monday[5],
        token_id=token_create(user=owner, name="owner's agent", scopes=["read"], days=7)[0].pk,
        people={
            "anonymous": None,
            "other customer": UserFactory(),
            "other provider": other_service.provider.user,
            "customer": owner,
            "provider": service.provider.user,
        },
    )


def url_for(route: str, pattern: URLPattern, world: World) -> str:
    mapping = world.kwargs()
    values = {}
    for name in pattern.pattern.regex.groupindex:
        assert name in mapping, f"route {route!r}: map URL kwarg {name!r} to another person's row in World.kwargs"
        values[name] = mapping[name]()
    path = route
    for name, value in values.items():
        path = path.replace(f"<{name}>", value)
        for converter in ("uuid", "str", "slug", "int"):
            path = path.replace(f"<{converter}:{name}>", value)
    return "/" + path


def visit(world: World, who: str, method: str, url: str) -> Any:
    client = Client()
    person = world.people[who]
    if person is not None:
        # Fresh from the database: "sign out everywhere" (one of the routes) changes what a
        # valid session of this person is, and a stale copy would quietly act as anonymous.
        client.force_login(type(person).objects.get(pk=person.pk))
        assert "_auth_user_id" in client.session
    response = client.get(url) if method == "GET" else client.post(url, {})
    if person is not None and not url.startswith("/logout"):
        # still acting as themselves (a stale sign-in would quietly test the anonymous case)
        assert "_auth_user_id" in client.session, f"{method} {url} as {who}: signed out"
    return response


def check(response: Any, url: str, who: str, method: str) -> None:
    where = f"{method} {url} as {who}"
    assert response.status_code < 500, where
    if url.startswith("/api/") and response.status_code >= 400:
        assert response["Content-Type"].startswith("application/json"), where
        assert set(response.json()) == {"code", "message", "details"}, where


def test_no_route_errs_leaks_or_lets_a_stranger_change_anything(world: World) -> None:
    urls = [url_for(route, pattern, world) for route, pattern in routes()]
    assert len(urls) >= 30  # the URL conf really was read
    # Strangers first: nothing they send may show the owner's data or change the owner's rows
    for who in ("anonymous", "other customer", "other provider"):
        for url in urls:
            for method in ("GET", "POST"):
                response = visit(world, who, method, url)
                check(response, url, who, method)
                assert OWNER_EMAIL not in response.content.decode(errors="replace"), f"{method} {url} as {who}"
    world.appointment.refresh_from_db()
    world.request.refresh_from_db()
    assert world.appointment.status == AppointmentStatus.CONFIRMED
    assert world.request.status == "pending"
    assert Service.objects.get(pk=world.service.pk).is_active
    assert AccessToken.objects.get(pk=world.token_id).revoked_at is None
    # The marker is there for those allowed to see it (so its absence above means something)
    shown = visit(world, "provider", "GET", f"/dashboard/appointments/{world.appointment.pk}")
    assert OWNER_EMAIL in shown.content.decode()
    # The owners themselves: whatever they send, never a 5xx
    for who in ("customer", "provider"):
        for url in urls:
            for method in ("GET", "POST"):
                check(visit(world, who, method, url), url, who, method)
