"""`{% link %}` gives exactly what `{% url %}` gives, for the names the row templates use, and
refuses what it refuses."""

from __future__ import annotations

import uuid

import pytest
from django.template import engines
from django.urls import NoReverseMatch, reverse, set_script_prefix

from appointly.links import link

BY_ID = [
    "bookings:appointment",
    "bookings:pay",
    "bookings:cancel",
    "bookings:reschedule",
    "bookings:reschedule_withdraw",
    "bookings:calendar",
    "bookings:receipt",
    "bookings:book",
    "dashboard_appointment",
    "dashboard_service_edit",
    "dashboard_service_toggle",
]
BY_SLUG = ["service_detail", "provider_page"]


@pytest.mark.parametrize("name", BY_ID)
def test_a_link_by_id_is_the_url_by_id(name: str) -> None:
    for key in (uuid.uuid4(), uuid.UUID("00000000-0000-4000-8000-000000000000"), str(uuid.uuid4())):
        assert link(name, key) == reverse(name, args=[key])


@pytest.mark.parametrize("name", BY_SLUG)
def test_a_link_by_slug_is_the_url_by_slug(name: str) -> None:
    for key in ("haircut-studio-1", "a", "Mixed_Case-9", str(uuid.uuid4())):
        assert link(name, key) == reverse(name, args=[key])


def test_a_key_the_url_refuses_is_refused_and_odd_text_is_quoted_as_url_would() -> None:
    # an id pattern refuses a slug, and a slug pattern text that is not a slug
    with pytest.raises(NoReverseMatch):
        link("bookings:cancel", "not-a-uuid")
    with pytest.raises(NoReverseMatch):
        link("service_detail", "two words")
    with pytest.raises(NoReverseMatch):
        reverse("service_detail", args=["two words"])


def test_the_script_prefix_is_kept_and_the_tag_renders_in_a_template() -> None:
    key = uuid.uuid4()
    template = engines["django"].from_string("{% load links %}{% link 'bookings:cancel' key %}")
    try:
        set_script_prefix("/booking-site/")
        assert template.render({"key": key}) == f"/booking-site/appointments/{key}/cancel/"
        assert template.render({"key": key}) == reverse("bookings:cancel", args=[key])
    finally:
        set_script_prefix("/")
    assert template.render({"key": key}) == f"/appointments/{key}/cancel/"
