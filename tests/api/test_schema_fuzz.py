"""Schemathesis against /api/v1/openapi.json with a valid token: generated requests for every
operation, bounded per operation (PostgreSQL pass of CI): no server error, no answer outside
the documented schema."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.tokens import token_create
from tests.factories import ServiceFactory, UserFactory, book_confirmed

EXAMPLES_PER_OPERATION = 25
GENERATED: list[str] = []


@pytest.fixture
def api_schema(settings: Any) -> Iterator[Any]:
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]  # schemathesis's WSGI host
    # Requests run in this test's transaction: keep Django from closing the connection at the
    # end of each one (what its own test client does too).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def token(frozen_now: object, django_settings: Any) -> str:
    django_settings.API_TOKEN_RATE = "100000/m"
    service = ServiceFactory()
    customer = UserFactory()
    from providers.models import Slot

    book_confirmed(customer, Slot.objects.filter(service=service, slot_date=date(2026, 11, 30)).first())
    return token_create(user=customer, name="fuzz", scopes=["read", "book", "cancel"], days=7)[1]


@pytest.fixture
def django_settings(settings: Any) -> Any:
    return settings


@pytest.mark.postgres
@pytest.mark.django_db
def test_every_operation_answers_within_its_schema_and_never_500(api_schema: Any, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 12  # every operation of api/v1.py

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            GENERATED.append(f"{case.method} {case.path}")
            # Every check but "a schema-valid request is accepted": a valid-looking request may
            # still be refused for what a schema cannot say (a time already taken, a phone
            # number that is not one, another person's id), with its documented 4xx.
            response = case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])
            assert response.status_code < 500

        run()
    # The count for benchmarks/RESULTS.md (printed with -s)
    print(f"schemathesis: {len(GENERATED)} generated requests over {len(operations)} operations, 0 failures")
