"""Fault drill: PostgreSQL restarts (immediate shutdown, like a crash) in the middle of a booking
load. Errors while it is down are expected; after it, bookings go through again by themselves,
no time is booked twice and no payment is left pending or kept for a lapsed hold.

A scratch cluster of the test's own (initdb on another port), never the shared server the test
run uses. PostgreSQL pass only; under a minute.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parent.parent
PORT = 5439
URL = f"postgres://postgres@127.0.0.1:{PORT}/drill"


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        pytest.fail("PostgreSQL's server binaries (pg_ctl, initdb) are not installed")
    return found[-1].parent


def _as_postgres(*args: str) -> list[str]:
    """Run a server binary as the postgres user (initdb refuses root)."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


@pytest.fixture
def cluster() -> Iterator[tuple[Path, Path]]:
    bin_dir = _pg_bin()
    data = Path(tempfile.mkdtemp(prefix="appointly-drill-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
    subprocess.run(
        _as_postgres(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"),
        check=True,
        capture_output=True,
    )
    ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(data / "log"), "-o", f"-p {PORT} -k {data}"]
    subprocess.run(_as_postgres(*ctl, "-w", "start"), check=True, capture_output=True)
    subprocess.run(
        _as_postgres(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(PORT), "-U", "postgres", "drill"),
        check=True,
        capture_output=True,
    )
    try:
        yield bin_dir, data
    finally:
        subprocess.run(_as_postgres(*ctl, "-m", "immediate", "-w", "stop"), capture_output=True, check=False)
        shutil.rmtree(data, ignore_errors=True)


def test_a_database_restart_mid_load_loses_and_doubles_nothing(cluster: tuple[Path, Path]) -> None:
    import psycopg

    bin_dir, data = cluster
    env = {**os.environ, "DATABASE_URL": URL, "DJANGO_SETTINGS_MODULE": "appointly.settings.test"}
    load = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fault_drill_load.py"), "12"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert load.stdout is not None
    assert load.stdout.readline().strip() == "READY", load.stderr.read() if load.stderr else ""
    # When the server goes down hard a few seconds into the load, and comes back
    time.sleep(3)
    ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(data / "log"), "-o", f"-p {PORT} -k {data}"]
    subprocess.run(_as_postgres(*ctl, "-m", "immediate", "-w", "restart"), check=True, capture_output=True)
    out, err = load.communicate(timeout=60)
    assert load.returncode == 0, err[-3000:]
    report = json.loads(out.strip().splitlines()[-1])
    # Then there were errors while it was down, and bookings went through again after it
    assert report.get("database error", 0) > 0, report
    assert report.get("booked after an error", 0) > 0, report
    with psycopg.connect(URL) as conn:
        overlapping = conn.execute(
            """SELECT count(*) FROM bookings_appointment a JOIN bookings_appointment b
               ON a.provider_id = b.provider_id AND a.id < b.id AND a.start < b."end" AND b.start < a."end"
               WHERE a.status IN ('held', 'confirmed') AND b.status IN ('held', 'confirmed')"""
        ).fetchone()
        pending = conn.execute("SELECT count(*) FROM payments_payment WHERE status = 'pending'").fetchone()
        kept = conn.execute(
            """SELECT count(*) FROM payments_payment p JOIN bookings_appointment a ON a.id::text = p.reference
               WHERE p.status = 'succeeded' AND a.status NOT IN ('confirmed', 'completed', 'no_show')
               AND p.amount_minor > (SELECT coalesce(sum(r.amount_minor), 0) FROM payments_refund r
                                     WHERE r.payment_id = p.id)"""
        ).fetchone()
        held = conn.execute("SELECT count(*) FROM bookings_appointment WHERE status = 'held'").fetchone()
    assert overlapping == (0,)  # no time booked twice
    assert pending == (0,)  # every payment ended, the cut-off ones through the gateway's answer
    assert kept == (0,)  # no money kept without an appointment
    assert held == (0,)  # every unpaid hold lapsed at its deadline
