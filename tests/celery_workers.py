"""Real Celery worker processes for fault tests and benchmarks (shared by both)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start_celery_worker(env: dict[str, str], *, concurrency: int, loglevel: str = "WARNING") -> subprocess.Popen[bytes]:
    """A prefork worker in its own process group, so one signal reaches all its processes."""
    return subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "celery"),
            "-A",
            "appointly",
            "worker",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            f"--loglevel={loglevel}",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_celery_worker(worker: subprocess.Popen[bytes], *, kill: bool = False, timeout: float = 20) -> None:
    """SIGKILL at once (a crash), or SIGTERM and wait (a shutdown), escalating if it hangs."""
    os.killpg(worker.pid, signal.SIGKILL if kill else signal.SIGTERM)
    try:
        worker.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def ask_workers_to_drain(broker_url: str, times: int) -> None:
    """What beat's sweep and the commit hook do: put drain tasks on the broker for the workers."""
    from appointly.celery import app
    from outbox.tasks import outbox_drain_task

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False  # test settings run tasks inline; these go to the workers
    try:
        with app.connection_for_write(broker_url) as conn:
            for _ in range(times):
                outbox_drain_task.apply_async(connection=conn)  # type: ignore[call-arg]
    finally:
        app.conf.task_always_eager = eager
