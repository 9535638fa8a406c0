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
