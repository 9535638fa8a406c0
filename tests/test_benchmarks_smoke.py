"""Every benchmark runs, tiny, so none of them rots (CI's PostgreSQL pass; `make test` never runs
the full-size ones). Each is the real script in its own process, on its own scratch database,
and must finish cleanly and print its table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

RUNS = {
    "slots": (["benchmarks/slots.py"], {"BENCH_SLOTS_SERVICES": "20"}, "| postgresql |"),
    "booking_steps": (["benchmarks/booking_steps.py", "--bookings", "2"], {}, "**whole booking**"),
    "dashboard": (["benchmarks/dashboard.py", "--renders", "2", "--sizes", "400"], {}, "bulk cancel 50"),
    "booking": (
        [
            "benchmarks/booking.py",
            "--clients",
            "2",
            "--per-client",
            "2",
            "--workers",
            "1",
            "--tracing",
            "--repeats",
            "1",
        ],
        {},
        "Double bookings in the database afterwards: **0**",
    ),
    "queue": (["benchmarks/queue.py", "--jobs", "60"], {}, "no-op, plain Celery"),
    "floor": (["benchmarks/floor.py", "--clients", "2", "--bookings", "6"], {}, "of its floor** at best"),
    "polling": (
        ["benchmarks/polling.py", "--providers", "3", "--seconds", "2", "--interval", "1", "--workers", "1"],
        {},
        "| live poll |",
    ),
    "load": (
        [
            *("benchmarks/load.py", "--users", "4", "--seconds", "4"),
            *("--workers", "1", "--processes", "1", "--process-users", "4"),
        ],
        {},
        "Errors in all runs: **0**",
    ),
}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_the_benchmark_runs(name: str, tmp_path: Path) -> None:
    args, extra, expected = RUNS[name]
    env = {**os.environ, **extra}
    for key in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL"):  # each script sets up its own
        env.pop(key, None)
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert expected in done.stdout, done.stdout[-3000:]


def test_the_trace_waterfall_draws_one_booking(tmp_path: Path) -> None:
    out = tmp_path / "waterfall.png"
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
    done = subprocess.run(
        [sys.executable, "benchmarks/trace_waterfall.py", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert out.stat().st_size > 1000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
