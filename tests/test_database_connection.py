"""What every PostgreSQL connection of the app is told at start-up (ADR 0024, ADR 0026)."""

from __future__ import annotations

import json

import pytest
from django.db import connection, transaction

from bookings.availability import offers
from tests.factories import ServiceFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _setting(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return str(cursor.fetchone()[0])


def _compiled(jit: str) -> bool:
    """Whether PostgreSQL compiles the offers query of a service when it thinks every query
    costly enough to (jit_above_cost 0), with `jit` as given ("" leaves the session's)."""
    service = ServiceFactory()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit_above_cost = 0")
        if jit:
            cursor.execute(f"SET LOCAL jit = {jit}")
        plan = json.loads(offers(service).explain(format="json", analyze=True))
    return "JIT" in plan[0]


def test_postgresql_compiles_none_of_our_queries(frozen_now: object) -> None:
    # Given the app's own connection (the settings' start-up options)
    assert _setting("idle_in_transaction_session_timeout") == "1min"
    assert _setting("jit") == "off"
    # When a query the planner thinks costly runs, then it is not compiled
    assert not _compiled("")
    # ... where a session with the compiler on would have compiled it (the server can)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = on")
        cursor.execute("SELECT pg_jit_available()")  # true only with jit on
        available = cursor.fetchone()[0]
    if not available:
        pytest.skip("this PostgreSQL has no JIT compiler to turn off")
    assert _compiled("on")
