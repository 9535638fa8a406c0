"""Through a real PgBouncer in transaction mode (ADR 0023): with `DATABASE_POOLER=pgbouncer` the
tests where transactions matter most pass unchanged (double booking races, the exact query
counts of a booking, the job table's claims with real Celery workers, bulk cancel races);
without it, nothing can even connect (PgBouncer refuses the `options` startup parameter).

PostgreSQL pass only; CI installs Debian's pgbouncer."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PGBOUNCER = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)
# The tests whose correctness rests on transactions and locks, run again through the pooler.
THROUGH_THE_POOLER = [
    "tests/bookings/test_double_booking.py",
    "tests/payments/test_booking_queries.py",
    "tests/outbox/test_queue.py",
    "tests/outbox/test_queue_workers.py",
    "tests/dashboard/test_bulk_cancel_races.py",
]
# Kills workers as the test before it does, to prove Twilio's deliveries, which the pooler does not
# change; ~15 s of CI.
NOT_AGAIN = ["tests/outbox/test_queue_workers.py::test_sigkilled_workers_deliver_every_notification_through_twilio"]

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.skipif(PGBOUNCER is None, reason="needs Debian's pgbouncer (CI installs it)"),
]


CONNECT = "from django.db import connection; c = connection.cursor(); c.execute('SELECT 1'); print(c.fetchone()[0])"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def pooler() -> Iterator[str]:
    """PgBouncer in transaction mode in front of this machine's PostgreSQL; its base URL."""
    from django.db import connection

    server = connection.settings_dict
    folder = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    folder.chmod(0o755)  # pgbouncer runs as the postgres user when started by root
    port = _free_port()
    (folder / "users.txt").write_text(f'"{server["USER"]}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "\n".join(
            [
                "[databases]",
                f"* = host={server['HOST'] or '127.0.0.1'} port={server['PORT'] or 5432}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {folder / 'users.txt'}",
                "pool_mode = transaction",
                "max_client_conn = 300",
                "default_pool_size = 20",
                "",
            ]
        )
    )
    for name in ("users.txt", "pgbouncer.ini"):
        (folder / name).chmod(0o644)
    as_root = ["-u", "postgres"] if os.geteuid() == 0 else []
    # Its log (a line per connection) goes to a file: a pipe nobody reads would fill and stop it.
    log = (folder / "pgbouncer.log").open("wb")
    process = subprocess.Popen([str(PGBOUNCER), *as_root, str(folder / "pgbouncer.ini")], stderr=log)
    for _ in range(50):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    else:
        process.kill()
        pytest.fail(f"pgbouncer did not start: {(folder / 'pgbouncer.log').read_text()}")
    try:
        yield f"postgres://{server['USER']}@127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
        # The inner run keeps its test database (--reuse-db, so it never drops one the pooler
        # still holds connections to): drop it now that the pooler is gone.
        import psycopg

        with psycopg.connect(
            f"postgres://{server['USER']}@{server['HOST'] or '127.0.0.1'}:{server['PORT'] or 5432}/postgres",
            autocommit=True,
        ) as conn:
            conn.execute('DROP DATABASE IF EXISTS "test_appointly_pgbouncer"')


def _env(pooler: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_POOLER"}
    return env | {"DATABASE_URL": f"{pooler}/appointly_pgbouncer"} | extra


def test_without_the_setting_nothing_connects_through_pgbouncer(pooler: str) -> None:
    # Given PgBouncer in transaction mode; When Django connects with the default settings
    checked = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", CONNECT],
        cwd=ROOT,
        env=_env(pooler, DATABASE_URL=f"{pooler}/postgres"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Then the pooler refuses the connection's startup options
    assert checked.returncode != 0
    assert "unsupported startup parameter: options" in checked.stderr
    # And with DATABASE_POOLER=pgbouncer the same check connects
    pooled = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", CONNECT],
        cwd=ROOT,
        env=_env(pooler, DATABASE_URL=f"{pooler}/postgres", DATABASE_POOLER="pgbouncer"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert pooled.returncode == 0, pooled.stderr
    assert pooled.stdout.strip().endswith("1")


def test_races_query_counts_and_the_job_table_hold_through_pgbouncer(pooler: str) -> None:
    # Given PgBouncer in transaction mode and DATABASE_POOLER=pgbouncer
    # When the tests where transactions and locks matter most run through it
    ran = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"),
            *("--create-db", "--reuse-db", "--durations=0", "--durations-min=100"),
            *THROUGH_THE_POOLER,
            *(f"--deselect={test}" for test in NOT_AGAIN),
        ],
        cwd=ROOT,
        env=_env(pooler, DATABASE_POOLER="pgbouncer"),
        capture_output=True,
        text=True,
        timeout=900,
    )
    # Then every one passes (none skipped, none failed)
    last = ran.stdout.strip().splitlines()[-1] if ran.stdout.strip() else ""
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    assert " passed" in last
    assert "skipped" not in last
    assert "failed" not in last
