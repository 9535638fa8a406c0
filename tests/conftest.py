from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.db import connection

from tests.factories import ProviderFactory, ServiceFactory

# A fixed "now" that is an ordinary Wednesday: 2026-11-25 08:00 UTC.
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With APPOINTLY_NO_SKIPS=1 (CI on PostgreSQL) a skipped test fails the run."""
    import os

    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if os.environ.get("APPOINTLY_NO_SKIPS") == "1" and skipped and exitstatus == 0:
        print(f"\n{skipped} test(s) skipped on the PostgreSQL run, where nothing may skip.")
        session.exitstatus = 1


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    import os

    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://... (CI runs it)")
    skip_redis = pytest.mark.skip(reason="needs Redis: set REDIS_URL=redis://... (CI runs it)")
    skip_e2e = pytest.mark.skip(reason="browser journeys run in the PostgreSQL pass (DATABASE_URL=postgres://...)")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_pg)
        elif "e2e" in item.keywords and "smoke" not in item.keywords and not on_postgres:
            item.add_marker(skip_e2e)
        elif "redis" in item.keywords and not os.environ.get("REDIS_URL"):
            item.add_marker(skip_redis)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Any:
    """Rate-limit counters live in the cache: each test starts with none."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _customer_totals_inside_the_test_transaction(request: pytest.FixtureRequest) -> None:
    """PostgreSQL keeps each customer's totals with triggers deferred to commit (docs/adr/0027).
    A test that runs inside one transaction never commits, so there they fire with each
    statement instead; tests with `transaction=True` commit and see them deferred."""
    if "_django_db_helper" not in request.fixturenames and request.node.get_closest_marker("django_db") is None:
        return
    request.getfixturevalue("_django_db_helper")
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(
                "SET CONSTRAINTS payment_customer_totals, refund_customer_totals, appointment_customer_attendance "
                "IMMEDIATE"
            )


@pytest.fixture
def frozen_now() -> Any:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def provider(db: None) -> Any:
    return ProviderFactory()


@pytest.fixture
def service(provider: Any) -> Any:
    return ServiceFactory(provider=provider)


@pytest.fixture
def count_queries() -> Callable[[Callable[[], Any]], int]:
    from django.test.utils import CaptureQueriesContext

    def run(fn: Callable[[], Any]) -> int:
        with CaptureQueriesContext(connection) as ctx:
            fn()
        return len(ctx.captured_queries)

    return run
