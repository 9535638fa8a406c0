"""Scratch PostgreSQL databases for benchmarks: made fresh for a run, dropped after it."""

from __future__ import annotations


def _admin_and_name(url: str) -> tuple[str, str]:
    base, name = url.rsplit("/", 1)
    return base + "/postgres", name


def recreate_database(url: str) -> None:
    import psycopg

    admin, name = _admin_and_name(url)
    with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    import psycopg

    admin, name = _admin_and_name(url)
    with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def django_on_scratch_database(url: str) -> None:
    """Django in this process, on a fresh scratch database with the schema migrated (the test
    settings: a test client, no outgoing mail; the in-process benchmarks)."""
    import os

    recreate_database(url)
    os.environ.update({"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "appointly.settings.test"})
    import django

    django.setup()
    from django.core.management import call_command
    from django.template.base import Template
    from django.test.utils import _TestState, setup_test_environment

    setup_test_environment()
    # Production's rendering, not the test one: setup_test_environment makes every template
    # render send a signal on which the test client copies the whole context (a page of
    # appointment cards: ~70 copies, ~1 ms). The benchmarks read no response.context.
    Template._render = _TestState.saved_data.template_render  # type: ignore[attr-defined]
    call_command("migrate", verbosity=0)
