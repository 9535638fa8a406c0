"""The dashboard's live poll with 100 providers online (gunicorn + PostgreSQL).

Every provider keeps Today open: its page polls `/dashboard/changes` every DASHBOARD_POLL_SECONDS
(5 s by default) with the cursor it last read. Meanwhile bookings happen: every half second one
provider gets a new appointment event, so a few polls bring news (200, the day fragment, and the
client takes the new cursor from it) and most answer 204. Open loop: the polls are sent on their
schedule whatever the answers' speed, as browsers do. The baseline is the bare `/healthz` view on
the same schedule in the same run. Then a closed-loop round (16 clients, as fast as they can)
gives the most polls per second against `/healthz`'s. Queries per poll are counted in-process.

    python benchmarks/polling.py [--providers 100] [--seconds 30] [--write]
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/queue.py is named like the standard library's `queue`: keep this folder off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import heapq
import json
import os
import random
import re
import subprocess
import threading
import time
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.booking import Browser, django_env, run_threads, start_gunicorn, summary
from benchmarks.scratch_db import drop_database, recreate_database
from benchmarks.slots import write_results

DB_URL = os.environ.get("DATABASE_URL_BENCH_POLLING", "postgres://postgres@127.0.0.1:5432/appointly_bench_polling")
CURSOR = re.compile(r'data-live-after="(\d+)"')


def env() -> dict[str, str]:
    return {**django_env(), "DATABASE_URL": DB_URL}


SETUP = """
import json, uuid
from datetime import time, timedelta
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from accounts.models import Role, User
from bookings.models import Appointment, AppointmentEvent, EventKind, TimeClaim
from providers.models import Category, Slot
from providers.services import provider_account_create, provider_hours_set, provider_profile_save, service_create

customer = User.objects.create_user(email="bench-customer@example.com", password=None, role=Role.CUSTOMER)
sessions, cursors, providers = [], [], []
for p in range({providers}):
    user = provider_account_create(email=f"bench-provider{{p}}@example.com", password=None)
    provider = provider_profile_save(user=user, business_name=f"Bench {{p}}", timezone_name="Europe/Berlin",
                                     phone="+4915112345678", address="Street 1")
    provider_hours_set(provider=provider, weekly=[(d, time(8), time(20)) for d in range(7)], exceptions=[])
    service = service_create(provider=provider, category=Category.objects.first(), name=f"Bench service {{p}}",
                             duration_minutes=30, price_minor=2500, max_appointments_per_day=24, min_notice_minutes=0)
    # 30 confirmed appointments each over the coming days, each with its timeline event and claim
    slots = list(Slot.objects.filter(service=service).order_by("start")[:60:2])
    made = Appointment.objects.bulk_create([
        Appointment(customer=customer, provider=provider, service=service, start=s.start, end=s.end,
                    local_date=s.slot_date, status="confirmed", price_minor=2500, currency="EUR",
                    idempotency_key=str(uuid.uuid4()), customer_name="Casey") for s in slots])
    TimeClaim.objects.bulk_create([TimeClaim(provider=provider, service=service, local_date=a.local_date,
                                             start=a.start, end=a.end, appointment=a) for a in made])
    AppointmentEvent.objects.bulk_create([AppointmentEvent(appointment=a, provider=provider,
                                                           kind=EventKind.CONFIRMED, at=timezone.now()) for a in made])
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "accounts.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    sessions.append(store.session_key)
    providers.append(str(provider.pk))
    cursors.append(AppointmentEvent.objects.filter(provider=provider).order_by("-pk").values_list("pk", flat=True)[0])
# Queries per poll, in-process: nothing new (204), and news (the fragment)
client = Client(HTTP_HOST="127.0.0.1")
client.force_login(User.objects.get(email="bench-provider0@example.com"))
counts = {{}}
with CaptureQueriesContext(connection) as ctx:
    assert client.get(f"/dashboard/changes?after={{cursors[0]}}&view=day").status_code == 204
counts["quiet"] = len(ctx.captured_queries)
with CaptureQueriesContext(connection) as ctx:
    assert client.get(f"/dashboard/changes?after={{cursors[0] - 1}}&view=day").status_code == 200
counts["news"] = len(ctx.captured_queries)
with connection.cursor() as cur:
    cur.execute("ANALYZE")
print(json.dumps({{"sessions": sessions, "cursors": cursors, "providers": providers, "queries": counts}}))
"""


def setup(providers: int) -> dict[str, Any]:
    recreate_database(DB_URL)
    py = str(ROOT / ".venv" / "bin" / "python")
    subprocess.run([py, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env(), check=True)
    subprocess.run([py, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env(), check=True)
    out = subprocess.run(
        [py, "manage.py", "shell", "-c", SETUP.format(providers=providers)],
        cwd=ROOT,
        env=env(),
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def activity(providers: list[str], stop: threading.Event, every: float) -> int:
    """New appointment events for random providers (what bookings, cancellations and check-ins
    write), every `every` seconds; returns how many."""
    import psycopg

    made = 0
    with psycopg.connect(DB_URL, autocommit=True) as conn:
        while not stop.wait(every):
            conn.execute(
                'INSERT INTO bookings_appointmentevent (appointment_id, provider_id, kind, "at", actor_id, data) '
                "SELECT id, provider_id, 'checked_in', now(), NULL, '{}'::jsonb FROM bookings_appointment "
                "WHERE provider_id = %s LIMIT 1",
                (random.choice(providers),),
            )
            made += 1
    return made


def open_loop(
    browsers: list[Browser], cursors: list[int], path: str | None, seconds: float, interval: float
) -> dict[str, Any]:
    """Each browser requests every `interval` seconds (staggered), for `seconds`; `path` None is
    the live poll with the browser's own cursor, else that fixed path."""
    start = time.perf_counter() + 0.5
    queue: list[tuple[float, int]] = []
    for i in range(len(browsers)):
        t = start + interval * i / len(browsers)
        while t < start + seconds:
            queue.append((t, i))
            t += interval
    heapq.heapify(queue)
    lock = threading.Lock()
    late: list[float] = []
    latencies: list[float] = []
    outcomes: dict[int, int] = {}
    busy = [threading.Lock() for _ in browsers]  # one request at a time per browser, as htmx does

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                at, i = heapq.heappop(queue)
            wait = at - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            with busy[i]:
                t0 = time.perf_counter()
                late.append(max(0.0, t0 - at))
                url = path or f"/dashboard/changes?after={cursors[i]}&view=day"
                status, body, _ = browsers[i].get(url)
                dt = time.perf_counter() - t0
                if status == 200 and path is None:
                    found = CURSOR.search(body)
                    if found:
                        cursors[i] = int(found.group(1))
            with lock:
                latencies.append(dt)
                outcomes[status] = outcomes.get(status, 0) + 1

    wall = run_threads([threading.Thread(target=worker) for _ in range(48)])
    return {**summary(latencies, wall, outcomes), "late_p95_ms": sorted(late)[int(len(late) * 0.95) - 1] * 1000}


def closed_loop(browsers: list[Browser], cursors: list[int], path: str | None, seconds: float) -> float:
    """Requests per second with each of the browsers asking again as soon as answered."""
    done = [0] * len(browsers)
    deadline = time.perf_counter() + seconds

    def client(i: int) -> None:
        while time.perf_counter() < deadline:
            browsers[i].get(path or f"/dashboard/changes?after={cursors[i] + 10**9}&view=day")  # always quiet
            done[i] += 1

    run_threads([threading.Thread(target=client, args=(i,)) for i in range(len(browsers))])
    return sum(done) / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--providers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--interval", type=float, default=5)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    data = setup(args.providers)
    gunicorn = start_gunicorn(args.workers, env())
    try:
        browsers = [Browser(s) for s in data["sessions"]]
        cursors = list(data["cursors"])
        for b in browsers[:3]:  # warm every worker's connections and caches
            for _ in range(10):
                b.get("/healthz")
        base = open_loop(browsers, cursors, "/healthz", args.seconds, args.interval)
        stop = threading.Event()
        made: list[int] = []
        writer = threading.Thread(target=lambda: made.append(activity(data["providers"], stop, 0.5)))
        writer.start()
        poll = open_loop(browsers, cursors, None, args.seconds, args.interval)
        stop.set()
        writer.join()
        fast = browsers[:16]
        max_base = closed_loop(fast, cursors, "/healthz", min(5, args.seconds))
        max_poll = closed_loop(fast, cursors, None, min(5, args.seconds))
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=20)
        drop_database(DB_URL)
    q = data["queries"]
    lines = [
        f"{args.providers} providers with Today open, each polling every {args.interval:g} s for {args.seconds:g} s "
        f"(open loop, staggered; {args.providers / args.interval:.0f} polls/s offered) while one provider's "
        f"appointment changes every 0.5 s ({made[0] if made else 0} changes); gunicorn {args.workers} sync workers, "
        "PostgreSQL, 2 cores; each provider has 30 upcoming appointments. Baseline = bare `/healthz` on the same "
        "schedule in the same run.",
        "",
        "| round | requests | req/s | p50 ms | p95 ms | answers |",
        "|---|---|---|---|---|---|",
        f"| baseline `/healthz` | {base['requests']} | {base['per_s']:.1f} | {base['p50_ms']:.1f} "
        f"| {base['p95_ms']:.1f} | {base['outcomes']} |",
        f"| live poll | {poll['requests']} | {poll['per_s']:.1f} | {poll['p50_ms']:.1f} | {poll['p95_ms']:.1f} "
        f"| {poll['outcomes']} |",
        "",
        f"- p95 of the poll / p95 of the bare view: **{poll['p95_ms'] / base['p95_ms']:.1f}x** "
        f"(p50 {poll['p50_ms'] / base['p50_ms']:.1f}x); polls sent late by the client pool, p95: "
        f"{poll['late_p95_ms']:.1f} ms.",
        f"- SQL queries per poll: **{q['quiet']}** when nothing changed (204), **{q['news']}** with news (the day "
        "fragment, the requests and the unread badge).",
        f"- Most polls per second (16 clients, closed loop, nothing new): **{max_poll:.0f}/s** against "
        f"{max_base:.0f}/s for the bare view ({max_poll / max_base:.2f}x): the {args.providers} providers' "
        f"{args.providers / args.interval:.0f} polls/s use {args.providers / args.interval / max_poll:.0%} of it.",
    ]
    report = "\n".join(lines)
    print(report)
    if args.write:
        write_results("polling", report)


if __name__ == "__main__":
    main()
