"""/api/v1/ for scripts and AI agents: tokens made on the account page, every customer and
provider operation, and every refusal in the project's JSON error body."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from api.models import AccessToken
from api.tokens import token_create
from bookings.models import Appointment, AppointmentEvent, AppointmentStatus
from payments.gateways import SandboxGateway
from payments.models import Payment
from providers.models import Slot
from tests.factories import ServiceFactory, UserFactory, book_confirmed, deliver_webhooks

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(frozen_now: object) -> dict[str, Any]:
    service = ServiceFactory(price_minor=4500, name="Deep tissue massage")
    customer = UserFactory(email="agent-owner@example.com")
    slots = list(Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).order_by("start"))
    return {"service": service, "customer": customer, "slots": slots}


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def token_for(user: Any, *scopes: str, days: int = 30, name: str = "My assistant") -> str:
    return token_create(user=user, name=name, scopes=list(scopes), days=days)[1]


def error_of(response: Any) -> dict[str, Any]:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    assert set(body) == {"code", "message", "details"}, body
    return body


def test_a_customer_makes_a_token_on_the_account_page_and_sees_it_once(client: Client, shop: dict[str, Any]) -> None:
    client.force_login(shop["customer"])
    made = client.post("/tokens/new", {"name": "Claude at home", "scopes": ["read", "book"], "days": "30"})
    assert made.status_code == 200
    raw = re.search(r'value="(apt_[^"]+)"', made.content.decode()).group(1)
    token = AccessToken.objects.get()
    assert raw not in (token.digest, token.prefix)
    assert (token.name, token.scopes) == ("Claude at home", ["book", "read"])
    # The account page lists it by name and prefix, never the value
    page = client.get("/account/").content.decode()
    assert "Claude at home" in page
    assert f"apt_{token.prefix}…" in page
    assert raw not in page
    # Scopes a customer may not give, and nonsense, are refused with a message
    bad = client.post("/tokens/new", {"name": "x", "scopes": ["provider"], "days": "30"}, follow=True)
    assert "Choose one or more of: read, book, cancel." in bad.content.decode()
    assert AccessToken.objects.count() == 1
    # Revoked from the same page: refused from then on
    assert Client().get("/api/v1/appointments", headers=bearer(raw)).status_code == 200
    client.post(f"/tokens/{token.pk}/revoke")
    refused = Client().get("/api/v1/appointments", headers=bearer(raw))
    assert refused.status_code == 401
    assert error_of(refused)["message"] == "This access token was revoked."
    # Another person cannot revoke someone's token
    other = Client()
    other.force_login(UserFactory())
    mine = token_create(user=shop["customer"], name="second", scopes=["read"], days=7)[0]
    other.post(f"/tokens/{mine.pk}/revoke")
    mine.refresh_from_db()
    assert mine.revoked_at is None


def test_an_agent_books_pays_on_the_hosted_page_and_cancels_with_the_refund_it_was_shown(
    client: Client, shop: dict[str, Any]
) -> None:
    raw = token_for(shop["customer"], "read", "book", "cancel")
    agent = Client(headers=bearer(raw))
    # Search, details, free times in the person's zone
    found = agent.get("/api/v1/services", {"q": "massage"}).json()
    assert [s["slug"] for s in found] == [shop["service"].slug]
    assert found[0]["price"] == {"amount_minor": 4500, "currency": "EUR", "display": "€45.00"}
    detail = agent.get(f"/api/v1/services/{shop['service'].slug}").json()
    assert detail["refund_policy"] == shop["service"].refund_policy_text
    times = agent.get(
        f"/api/v1/services/{shop['service'].slug}/times", {"start": "2026-11-30", "tz": "America/New_York"}
    ).json()
    assert times
    assert all(t["start"].endswith("-05:00") for t in times)
    assert times[0]["provider_local"].endswith("Europe/Berlin")
    # Propose: the time is held; the price and policy come from us, not the caller
    slot = shop["slots"][3]
    proposed = agent.post(
        "/api/v1/bookings",
        {"slot_id": str(slot.pk), "idempotency_key": str(uuid.uuid4()), "price_minor": 1},
        content_type="application/json",
    )
    assert proposed.status_code == 201
    booking = proposed.json()
    assert (booking["status"], booking["price"]["amount_minor"]) == ("held", 4500)
    assert booking["pay_url"].endswith(f"/appointments/{booking['id']}/pay/")
    # Confirm: the hosted payment page; nothing is confirmed until the person pays there
    key = str(uuid.uuid4())
    confirmed = agent.post(
        f"/api/v1/bookings/{booking['id']}/confirm", {"idempotency_key": key}, content_type="application/json"
    ).json()
    assert "/sandbox/checkout/cs_sandbox_" in confirmed["checkout_url"]
    assert confirmed["appointment"]["status"] == "held"
    again = agent.post(
        f"/api/v1/bookings/{booking['id']}/confirm", {"idempotency_key": key}, content_type="application/json"
    ).json()
    assert again["checkout_url"] == confirmed["checkout_url"]
    assert SandboxGateway().pay(Payment.objects.get().checkout_session_id, "4242424242424242") == ""
    deliver_webhooks(client)
    mine = agent.get("/api/v1/appointments").json()
    assert [(a["id"], a["status"]) for a in mine] == [(booking["id"], "confirmed")]
    # Every change it made says it was this agent
    appointment = Appointment.objects.get()
    held = AppointmentEvent.objects.get(appointment=appointment, kind="held")
    assert held.data["via"] == "agent"
    assert held.data["token"] == "My assistant"
    # Cancel: the dry run's refund is what the real call refunds
    dry = agent.post(
        f"/api/v1/appointments/{booking['id']}/cancel", {"dry_run": True}, content_type="application/json"
    ).json()
    assert (dry["cancelled"], dry["refund"]["amount_minor"]) == (False, 4500)
    assert Appointment.objects.get().status == AppointmentStatus.CONFIRMED
    real = agent.post(
        f"/api/v1/appointments/{booking['id']}/cancel",
        {"expected_refund_minor": dry["refund"]["amount_minor"]},
        content_type="application/json",
    ).json()
    assert (real["cancelled"], real["refund"], real["appointment"]["status"]) == (True, dry["refund"], "cancelled")
    assert AppointmentEvent.objects.get(appointment=appointment, kind="cancelled").data["via"] == "agent"


def test_reschedule_request_and_withdraw(shop: dict[str, Any]) -> None:
    booked = book_confirmed(shop["customer"], shop["slots"][2])
    agent = Client(headers=bearer(token_for(shop["customer"], "read", "book")))
    asked = agent.post(
        f"/api/v1/appointments/{booked.pk}/reschedule",
        {"slot_id": str(shop["slots"][8].pk)},
        content_type="application/json",
    )
    assert asked.status_code == 201
    assert booked.reschedule_requests.get().status == "pending"
    back = agent.post(f"/api/v1/appointments/{booked.pk}/reschedule/withdraw")
    assert back.status_code == 200
    assert booked.reschedule_requests.get().status == "withdrawn"


def test_tokens_and_scopes_are_enforced_and_others_ids_are_404(shop: dict[str, Any]) -> None:
    owner_booking = book_confirmed(shop["customer"], shop["slots"][2])
    stranger = UserFactory()
    # No token / a made-up one / an expired one: 401
    assert error_of(Client().get("/api/v1/appointments"))["code"] == "unauthenticated"
    assert Client().get("/api/v1/appointments", headers=bearer("apt_nope_nope")).status_code == 401
    expired_raw = token_for(stranger, "read")
    AccessToken.objects.filter(user=stranger).update(expires_at=timezone.now() - timedelta(seconds=1))
    gone = Client().get("/api/v1/appointments", headers=bearer(expired_raw))
    assert gone.status_code == 401
    assert "expired" in error_of(gone)["message"]
    # A read-only token cannot book or cancel: 403, nothing held
    reader = Client(headers=bearer(token_for(stranger, "read")))
    refused = reader.post(
        "/api/v1/bookings",
        {"slot_id": str(shop["slots"][5].pk), "idempotency_key": str(uuid.uuid4())},
        content_type="application/json",
    )
    assert refused.status_code == 403
    assert "`book` scope" in error_of(refused)["message"]
    assert not Appointment.objects.filter(customer=stranger).exists()
    # Someone else's appointment: 404, exactly like an id that does not exist
    full = Client(headers=bearer(token_for(stranger, "read", "book", "cancel")))
    for url in (f"/api/v1/appointments/{owner_booking.pk}/cancel", f"/api/v1/appointments/{uuid.uuid4()}/cancel"):
        answer = full.post(url, {"dry_run": True}, content_type="application/json")
        assert answer.status_code == 404
        assert error_of(answer)["code"] == "not_found"
    # A customer token on provider operations: 403
    assert full.get("/api/v1/provider/appointments", {"start": "2026-11-30"}).status_code == 403
    # Validation: 422 with the fields named
    bad = full.post("/api/v1/bookings", {"slot_id": "nope"}, content_type="application/json")
    assert bad.status_code == 422
    assert {tuple(e["loc"][-1:]) for e in error_of(bad)["details"]["errors"]} >= {("slot_id",), ("idempotency_key",)}


def test_a_taken_time_is_409_with_alternatives(shop: dict[str, Any]) -> None:
    book_confirmed(UserFactory(), shop["slots"][4])
    agent = Client(headers=bearer(token_for(shop["customer"], "read", "book")))
    taken = agent.post(
        "/api/v1/bookings",
        {"slot_id": str(shop["slots"][4].pk), "idempotency_key": str(uuid.uuid4())},
        content_type="application/json",
    )
    assert taken.status_code == 409
    body = error_of(taken)
    assert body["code"] == "time_taken"
    assert body["details"]["alternatives"]
    assert str(shop["slots"][4].pk) not in {a["slot_id"] for a in body["details"]["alternatives"]}


def test_each_token_is_rate_limited_with_retry_after(shop: dict[str, Any], settings: Any) -> None:
    settings.API_TOKEN_RATE = "3/m"
    agent = Client(headers=bearer(token_for(shop["customer"], "read")))
    answers = [agent.get("/api/v1/appointments").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    limited = agent.get("/api/v1/appointments")
    assert error_of(limited)["code"] == "rate_limited"
    assert int(limited["Retry-After"]) > 0
    # Another token of the same person has its own allowance
    assert Client(headers=bearer(token_for(shop["customer"], "read"))).get("/api/v1/appointments").status_code == 200


def test_a_provider_token_lists_cancels_and_marks_attendance(shop: dict[str, Any], frozen_now: Any) -> None:
    provider = shop["service"].provider
    first, second = (book_confirmed(UserFactory(), s) for s in shop["slots"][2:4])
    agent = Client(headers=bearer(token_for(provider.user, "read", "provider")))
    listed = agent.get("/api/v1/provider/appointments", {"start": "2026-11-30"}).json()
    assert [a["id"] for a in listed] == [str(first.pk), str(second.pk)]
    result = agent.post(
        "/api/v1/provider/appointments/cancel",
        {"ids": [str(first.pk), str(uuid.uuid4())], "reason": "Closed"},
        content_type="application/json",
    ).json()
    assert [r["outcome"] for r in result["results"]] == ["cancelled", "not found"]
    assert AppointmentEvent.objects.get(appointment=first, kind="cancelled").data["via"] == "agent"
    frozen_now.move_to(second.start + timedelta(minutes=5))
    marked = agent.post(
        f"/api/v1/provider/appointments/{second.pk}/attendance", {"attended": True}, content_type="application/json"
    )
    assert marked.status_code == 200
    assert marked.json()["status"] == "completed"
    # A provider token cannot book as a customer
    assert agent.post("/api/v1/bookings", {}, content_type="application/json").status_code in (403, 422)


def test_a_providers_day_costs_the_same_queries_for_two_appointments_or_four(
    shop: dict[str, Any], frozen_now: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # Given a provider's token and two appointments on their day
    provider = shop["service"].provider
    agent = Client(headers=bearer(token_for(provider.user, "read", "provider")))
    for s in shop["slots"][2:4]:
        book_confirmed(UserFactory(), s)
    agent.get("/api/v1/provider/appointments", {"start": "2026-11-30"})  # the token's first use writes
    with CaptureQueriesContext(connection) as two:
        assert len(agent.get("/api/v1/provider/appointments", {"start": "2026-11-30"}).json()) == 2
    # When two more are booked
    for s in shop["slots"][4:6]:
        book_confirmed(UserFactory(), s)
    with CaptureQueriesContext(connection) as four:
        listed = agent.get("/api/v1/provider/appointments", {"start": "2026-11-30"}).json()
    # Then the list costs no query more: each row's provider, service and customer come with it
    assert len(listed) == 4
    assert {a["provider"] for a in listed} == {provider.business_name}
    assert len(four.captured_queries) == len(two.captured_queries)


def test_the_openapi_document_and_docs_are_served_without_a_cdn(client: Client) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.1")
    assert {"/api/v1/bookings", "/api/v1/bookings/{appointment_id}/confirm", "/api/v1/services/{slug}/times"} <= set(
        schema["paths"]
    )
    assert "BearerToken" in schema["components"]["securitySchemes"]
    assert "429" in schema["paths"]["/api/v1/appointments"]["get"]["responses"]
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    page = docs.content.decode()
    # Every script and stylesheet is ours (the page's random CSRF token may spell "cdn")
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sources
    assert all(source.startswith("/") for source in sources), sources
    assert "/static/ninja/swagger-ui-bundle.js" in sources
