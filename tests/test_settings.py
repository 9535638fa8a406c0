"""Settings from the environment: a plain copy of .env.example must just work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_empty_variables_mean_defaults_and_production_needs_a_secret() -> None:
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'appointly.settings.base'; django.setup();"
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, bool(s.SECRET_KEY), s.DEBUG)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "CELERY_", "DJANGO_"))}
    blank = {"DATABASE_URL": "", "REDIS_URL": "", "CELERY_BROKER_URL": "", "DJANGO_SECRET_KEY": "", "EMAIL_URL": ""}
    dev = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, **blank, "DJANGO_DEBUG": "true"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert dev.returncode == 0, dev.stderr
    assert dev.stdout.split() == ["django.db.backends.sqlite3", "filesystem://", "True", "True"]
    prod = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, **blank, "DJANGO_DEBUG": "false"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert prod.returncode != 0
    assert "DJANGO_SECRET_KEY" in prod.stderr


def _run_base(extra: dict[str, str], code: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "CELERY_", "DJANGO_", "EMAIL_"))
    }
    return subprocess.run(
        [sys.executable, *code.split()] if code.startswith("manage.py") else [sys.executable, "-c", code],
        env={**env, "DJANGO_SETTINGS_MODULE": "appointly.settings.base", **extra},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "x7-" + "k2Lm9pQ4rT8vW1yZ3bN6cF0hJ5sD" * 3,
    "DJANGO_ALLOWED_HOSTS": "book.example.com",
    "EMAIL_URL": "smtp+tls://user:password@smtp.example.com:587",
}


def test_production_refuses_the_console_mail_backend() -> None:
    # The documented production settings with the .env.example mail line left as it is
    refused = _run_base({**PRODUCTION, "EMAIL_URL": "consolemail://"}, "import django; django.setup()")
    assert refused.returncode != 0
    assert "Set EMAIL_URL to a real mail server" in refused.stderr
    allowed = _run_base(
        {**PRODUCTION, "EMAIL_URL": "consolemail://", "DJANGO_ALLOW_CONSOLE_EMAIL": "true"},
        "import django; django.setup()",
    )
    assert allowed.returncode == 0, allowed.stderr


def test_check_deploy_with_the_documented_production_settings_is_clean() -> None:
    result = _run_base(PRODUCTION, "manage.py check --deploy --fail-level WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_with_stripe_production_settings_check_clean_and_forms_may_redirect_to_stripe() -> None:
    stripe = {
        **PRODUCTION,
        "PAYMENT_GATEWAY": "payments.stripe_gateway.StripeGateway",
        "STRIPE_SECRET_KEY": "sk_live_" + "x" * 24,
        "STRIPE_WEBHOOK_SECRET": "whsec_" + "y" * 24,
    }
    assert _run_base(stripe, "manage.py check --deploy --fail-level WARNING").returncode == 0
    shown = _run_base(
        stripe,
        "import django; django.setup(); from django.conf import settings; print(settings.SECURE_CSP['form-action'])",
    )
    assert "https://checkout.stripe.com" in shown.stdout, shown.stderr
    assert "https://connect.stripe.com" in shown.stdout
    sandbox = _run_base(
        PRODUCTION,
        "import django; django.setup(); from django.conf import settings; print(settings.SECURE_CSP['form-action'])",
    )
    assert "stripe" not in sandbox.stdout, sandbox.stderr


def test_behind_pgbouncer_nothing_lives_on_a_server_connection_across_transactions() -> None:
    # Given PostgreSQL reached through PgBouncer in transaction mode
    code = (
        "import django; django.setup(); from django.db import connection as c;"
        "p = c.get_connection_params();"
        "no_cursors = c.settings_dict.get('DISABLE_SERVER_SIDE_CURSORS', False);"
        "print(repr(p.get('prepare_threshold', 'unset')), 'options' in p, no_cursors,"
        " c.features.uses_server_side_binding)"
    )
    url = {"DATABASE_URL": "postgres://app@pgbouncer.internal:6432/appointly"}
    pooled = _run_base({**PRODUCTION, **url, "DATABASE_POOLER": "pgbouncer"}, code)
    direct = _run_base({**PRODUCTION, **url}, code)
    # Then psycopg never prepares server-side, no named cursors, no startup options
    assert pooled.returncode == 0, pooled.stderr
    assert pooled.stdout.split() == ["None", "False", "True", "False"]
    # ... while a direct connection keeps its cursors and its idle-in-transaction timeout, and
    # binds server-side, preparing each statement once it has run 5 times (ADR 0024)
    assert direct.stdout.split() == ["5", "True", "False", "True"], direct.stderr
    # ... and turns PostgreSQL's JIT compiler off, unless DATABASE_JIT says otherwise (ADR 0026)
    options = (
        "import django; django.setup(); from django.db import connection as c;"
        "print(c.get_connection_params()['options'])"
    )
    assert _run_base({**PRODUCTION, **url}, options).stdout.split() == [
        "-c",
        "idle_in_transaction_session_timeout=60000",
        "-c",
        "jit=off",
    ]
    assert "jit" not in _run_base({**PRODUCTION, **url, "DATABASE_JIT": "true"}, options).stdout
    literal = _run_base({**PRODUCTION, **url, "DATABASE_PREPARED_STATEMENTS": "false"}, code)
    assert literal.stdout.split() == ["None", "True", "False", "False"], literal.stderr
    # ... and a value that is not one is refused at start-up
    wrong = _run_base({**PRODUCTION, **url, "DATABASE_POOLER": "pgpool"}, code)
    assert wrong.returncode != 0
    assert "DATABASE_POOLER" in wrong.stderr
