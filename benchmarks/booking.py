"""Booking under load: N concurrent customers against gunicorn + PostgreSQL.

Each booking is the real browser flow over HTTP: GET the confirm page, POST it (hold), GET the
pay page, press Pay, GET the sandbox's hosted page and POST a test card there, then the
gateway's signed webhook (sent by the client, as the gateway would), then the return page.
Two rounds: *uncontended* (every customer books a different
slot) and *contended* (all customers race for the same few slots). Printed: bookings/s,
p50/p95 latency of one whole booking, 409 "just taken" answers, 5xx answers, and double
bookings found in the database afterwards (must be 0). The baseline is a bare Django view
(`/healthz`, one `SELECT 1`) hit by the same clients in the same run.

    python benchmarks/booking.py [--clients 16] [--write]
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/queue.py is named like the standard library's `queue`: keep this folder off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import Cookie, CookieJar
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.scratch_db import drop_database
from benchmarks.slots import write_results

PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"
DB_URL = os.environ.get("DATABASE_URL_BENCH_BOOKING", "postgres://postgres@127.0.0.1:5432/appointly_bench_booking")


def django_env() -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": DB_URL,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "bench-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_COOKIES": "false",
        "DJANGO_SSL_REDIRECT": "false",
        "DJANGO_ALLOW_CONSOLE_EMAIL": "true",
        "LOG_LEVEL": "ERROR",
        # No worker: the benchmark's clients deliver the gateway's webhook themselves (below).
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CELERY_BROKER_URL": "memory://",
        "SANDBOX_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }


def setup(customers: int) -> dict[str, Any]:
    """Fresh database, demo-like data, one logged-in session per customer (run in a child)."""
    from benchmarks.scratch_db import recreate_database

    recreate_database(DB_URL)
    py = str(ROOT / ".venv" / "bin" / "python")
    env = django_env()
    subprocess.run([py, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([py, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    code = f"""
import json
from datetime import time
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, BACKEND_SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from accounts.models import Role, User
from providers.models import Category, Slot
from providers.services import provider_account_create, provider_hours_set, provider_profile_save, service_create
sessions, slots = [], []
for p in range(4):
    user = provider_account_create(email=f"bench-provider{{p}}@example.com", password=None)
    provider = provider_profile_save(user=user, business_name=f"Bench {{p}}", timezone_name="Europe/Berlin",
                                     phone="+4915112345678", address="Street 1")
    provider_hours_set(provider=provider, weekly=[(d, time(8), time(20)) for d in range(7)], exceptions=[])
    for s in range(3):
        service_create(provider=provider, category=Category.objects.first(), name=f"Bench service {{p}}-{{s}}",
                       duration_minutes=30, price_minor=2500, max_appointments_per_day=24, min_notice_minutes=0)
for c in range({customers}):
    user = User.objects.create_user(email=f"bench-customer{{c}}@example.com", password=None, role=Role.CUSTOMER)
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "accounts.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    sessions.append(store.session_key)
# Uncontended: one service of each of three providers (its slots never overlap one another).
# Contended: a few slots of the fourth provider, which nobody books otherwise.
unc = Slot.objects.filter(service__name__endswith="-0").exclude(provider__business_name="Bench 3")
hot = Slot.objects.filter(provider__business_name="Bench 3", service__name__endswith="-1")
print(json.dumps({{"sessions": sessions,
    "uncontended": [str(pk) for pk in unc.order_by("start", "pk").values_list("pk", flat=True)],
    "hot": [str(pk) for pk in hot.order_by("start").values_list("pk", flat=True)[:5]]}}))
"""
    out = subprocess.run(
        [py, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def start_gunicorn(workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """gunicorn serving the app on PORT, returned once `/healthz` answers."""
    gunicorn = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "appointly.wsgi:application",
            "-b",
            f"127.0.0.1:{PORT}",
            "-w",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    for _ in range(100):
        try:
            urllib.request.urlopen(BASE + "/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    return gunicorn


class Browser:
    def __init__(self, session_key: str) -> None:
        self.jar = CookieJar()
        self.jar.set_cookie(_cookie("sessionid", session_key))
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def get(self, path: str) -> tuple[int, str, str]:
        return self._open(urllib.request.Request(BASE + path))

    def post(self, path: str, data: dict[str, str]) -> tuple[int, str, str]:
        csrf = next((c.value or "" for c in self.jar if c.name == "csrftoken"), "")
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": csrf}).encode()
        req = urllib.request.Request(BASE + path, data=body, headers={"Referer": BASE + path, "X-CSRFToken": csrf})
        return self._open(req)

    def _open(self, req: urllib.request.Request) -> tuple[int, str, str]:
        try:
            with self.opener.open(req, timeout=30) as resp:
                return resp.status, resp.read().decode(), resp.headers.get("Location", "")
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(), err.headers.get("Location", "")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _cookie(name: str, value: str) -> Cookie:
    return Cookie(0, name, value, None, False, "127.0.0.1", False, False, "/", True, False, None, False, None, None, {})


def book(browser: Browser, slot: str) -> str:
    """One whole booking; returns 'booked', 'taken' or 'error:<status>'."""
    status, page, _ = browser.get(f"/book/{slot}/")
    if status == 409:
        return "taken"
    if status != 200:
        return f"error:{status}"
    # The confirm form's hidden fields: its key and the terms it showed (price, policy).
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
    form.pop("csrfmiddlewaretoken", None)
    status, _, location = browser.post(f"/book/{slot}/", form)
    if status == 409:
        return "taken"
    if status != 302 or "/pay/" not in location:
        return f"error:{status}"
    pay_path = urllib.parse.urlparse(location).path
    status, page, _ = browser.get(pay_path)
    key = re.search(r'name="payment_key" value="([^"]+)"', page)
    status, _, location = browser.post(pay_path, {"payment_key": key.group(1) if key else ""})
    if status != 302 or "/sandbox/checkout/" not in location:
        return f"error:{status}"
    hosted = urllib.parse.urlparse(location).path
    browser.get(hosted)
    status, _, location = browser.post(hosted, {"card_number": "4242424242424242"})
    if status != 302:
        return f"error:hosted {status}"
    # The gateway's webhook: the sandbox's event for this page, signed, POSTed to the site.
    status = deliver_webhook(hosted.rsplit("/", 1)[-1])
    if status != 200:
        return f"error:webhook {status}"
    status, _, location = browser.get(urllib.parse.urlparse(location).path)
    return "booked" if status == 302 and "booked=1" in location else f"error:{status}"


REQUESTS_PER_BOOKING = 8  # confirm, hold, pay page, Pay, hosted page, card, webhook, return
WEBHOOK_SECRET = "whsec_bench"  # noqa: S105 (the benchmark's own throwaway server)


def deliver_webhook(session_id: str) -> int:
    import hashlib
    import hmac

    import psycopg

    with psycopg.connect(DB_URL) as conn:
        row = conn.execute(
            "SELECT payload::text FROM payments_sandboxevent WHERE type = 'checkout.session.completed' "
            "AND payload->'data'->'object'->>'id' = %s",
            [session_id],
        ).fetchone()
    if row is None:
        return 0
    t = int(time.time())
    mac = hmac.new(WEBHOOK_SECRET.encode(), f"{t}.{row[0]}".encode(), hashlib.sha256).hexdigest()
    req = urllib.request.Request(
        BASE + "/payments/webhook",
        data=row[0].encode(),
        headers={"Content-Type": "application/json", "Stripe-Signature": f"t={t},v1={mac}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return err.code


def run_round(browsers: list[Browser], work: list[list[str]], fn: Any) -> dict[str, Any]:
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    lock = threading.Lock()

    def client(i: int) -> None:
        for item in work[i]:
            t0 = time.perf_counter()
            result = fn(browsers[i], item)
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                outcomes[result] = outcomes.get(result, 0) + 1

    wall = run_threads([threading.Thread(target=client, args=(i,)) for i in range(len(browsers))])
    return summary(latencies, wall, outcomes)


def run_threads(threads: list[threading.Thread]) -> float:
    """Start them together, wait for all; the wall-clock seconds it took."""
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - t0


def summary(latencies: list[float], wall: float, outcomes: dict[Any, int]) -> dict[str, Any]:
    """Requests, requests/s, p50 and p95 in ms, and the answers counted."""
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "wall_s": wall,
        "per_s": len(ordered) / wall,
        "p50_ms": statistics.median(ordered) * 1000,
        "p95_ms": ordered[int(len(ordered) * 0.95) - 1] * 1000,
        "outcomes": outcomes,
    }


def _combined(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of the same kind as one: bookings over total wall time, the mean of their
    percentiles, outcomes and exports added up."""
    outcomes: dict[str, int] = {}
    for r in rounds:
        for key, count in r["outcomes"].items():
            outcomes[key] = outcomes.get(key, 0) + count
    return {
        "per_s": sum(r["requests"] for r in rounds) / sum(r["wall_s"] for r in rounds),
        "p50_ms": statistics.mean(r["p50_ms"] for r in rounds),
        "p95_ms": statistics.mean(r["p95_ms"] for r in rounds),
        "outcomes": outcomes,
        "each": [r["requests"] / r["wall_s"] for r in rounds],
        "exports": sum(r["exports"] for r in rounds),
        "bytes": sum(r["bytes"] for r in rounds),
    }


def double_bookings() -> int:
    import psycopg

    with psycopg.connect(DB_URL) as conn:
        # Counted from the appointments themselves, not from the claims that prevent it.
        overlaps = conn.execute(
            "SELECT count(*) FROM bookings_appointment a JOIN bookings_appointment b ON a.provider_id = b.provider_id "
            "AND a.id < b.id AND a.start < b.end AND b.start < a.end "
            "WHERE a.status IN ('held','confirmed') AND b.status IN ('held','confirmed')"
        ).fetchone() or (0,)
    return int(overlaps[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--per-client", type=int, default=10)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--repeats", type=int, default=3, help="with --tracing: how many times each way runs")
    parser.add_argument(
        "--tracing", action="store_true", help="also run the uncontended round with OpenTelemetry exporting OTLP/HTTP"
    )
    args = parser.parse_args()
    data = setup(args.clients)
    sessions = data["sessions"]
    gunicorn = start_gunicorn(args.workers, django_env())
    try:
        browsers = [Browser(s) for s in sessions]
        n, k = args.clients, args.per_client
        per = REQUESTS_PER_BOOKING
        free: list[str] = data["uncontended"]
        hot: list[str] = data["hot"]
        # Warm-up, not measured: one booking per client (templates compiled, statements
        # prepared, connections open), so the rounds below measure the steady state.
        run_round(browsers, [[free[j]] for j in range(n)], book)
        free = free[n:]
        # Baseline: the bare view, same clients, as many requests as one booking makes.
        base = run_round(browsers, [["x"] * (k * per) for _ in range(n)], lambda b, _: str(b.get("/healthz")[0]))
        if len(free) < n * k:
            sys.exit(f"only {len(free)} uncontended slots for {n * k} bookings")
        unc = run_round(browsers, [free[i * k : (i + 1) * k] for i in range(n)], book)
        # Contended: everybody races for the same 5 slots.
        con = run_round(browsers, [[hot[j % 5] for j in range(k)] for _ in range(n)], book)
        traced: dict[str, dict[str, Any]] = {}
        if args.tracing:
            # The uncontended round again on the next free times, three ways, each on a freshly
            # started gunicorn warmed by one booking per client first (so no way pays for cold
            # workers): tracing off; every trace exported over OTLP/HTTP to a local receiver
            # (what a collector would take); one trace in ten (a ratio docker-compose can be given).
            ways: dict[str, dict[str, str]] = {
                "tracing off": {},
                "tracing on, every trace": {"OTEL_TRACES_EXPORTER": "otlp"},
                "tracing on, 1 in 10 traces": {
                    "OTEL_TRACES_EXPORTER": "otlp",
                    "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                    "OTEL_TRACES_SAMPLER_ARG": "0.1",
                },
            }
            need = n * k + args.repeats * len(ways) * (n + n * k)
            if len(free) < need:
                sys.exit(f"only {len(free)} uncontended slots for {need} bookings")
            from tests.otlp_receiver import OtlpReceiver

            offset = n * k
            rounds: dict[str, list[dict[str, Any]]] = {label: [] for label in ways}
            for _repeat in range(args.repeats):  # interleaved: off, every, 1 in 10, off, every, 1 in 10, ...
                for label, way in ways.items():
                    gunicorn.terminate()
                    gunicorn.wait(timeout=20)
                    receiver = OtlpReceiver()
                    env = django_env() | way | {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}
                    gunicorn = start_gunicorn(args.workers, env)
                    run_round(browsers, [[free[offset + j]] for j in range(n)], book)  # warm-up
                    offset += n
                    work = [free[offset + j * k : offset + (j + 1) * k] for j in range(n)]
                    offset += n * k
                    measured = run_round(browsers, work, book)
                    time.sleep(6)  # the batch processors' last export
                    measured["exports"], measured["bytes"] = receiver.requests, receiver.bytes
                    receiver.stop()
                    rounds[label].append(measured)
            traced = {label: _combined(both) for label, both in rounds.items()}
        doubles = double_bookings()
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=20)
        drop_database(DB_URL)
    lines = [
        "Booking over HTTP with the hosted payment step (GET confirm, POST hold, GET pay, POST Pay, GET the "
        "sandbox's hosted page, POST the card there, the gateway's signed webhook, GET the return page): "
        f"gunicorn {args.workers} workers, PostgreSQL, {args.clients} concurrent clients x {args.per_client} "
        f"bookings each, after one unmeasured booking per client to warm the workers; baseline = bare `/healthz` view "
        f"({REQUESTS_PER_BOOKING} requests per 'booking').",
        "",
        "| round | bookings/s | p50 ms | p95 ms | outcomes |",
        "|---|---|---|---|---|",
        f"| baseline /healthz (x{per} requests) | {base['per_s'] / per:,.1f} | {base['p50_ms'] * per:.1f} "
        f"| {base['p95_ms'] * per:.1f} | {base['outcomes']} |",
        f"| uncontended | {unc['per_s']:,.1f} | {unc['p50_ms']:.1f} | {unc['p95_ms']:.1f} | {unc['outcomes']} |",
        f"| contended (5 slots) | {con['per_s']:,.1f} | {con['p50_ms']:.1f} | {con['p95_ms']:.1f} "
        f"| {con['outcomes']} |",
        "",
        f"Double bookings in the database afterwards: **{doubles}**. "
        f"Uncontended booking throughput is {unc['per_s'] / (base['per_s'] / per):.2f}x the bare-view baseline.",
    ]
    if traced:
        off = traced["tracing off"]["per_s"]
        lines += [
            "",
            "With `--tracing`: the uncontended round again on the next free times, three ways, "
            f"{args.repeats} times each, interleaved, each on a freshly started gunicorn warmed by one booking "
            "per client: tracing off; "
            "every process tracing every request (OpenTelemetry SDK; Django, Redis and HTTP "
            "instrumentation, our span per SQL statement (ADR 0021); batch export over OTLP/HTTP to a local "
            "receiver); and "
            "one request in ten (`OTEL_TRACES_SAMPLER=parentbased_traceidratio`, `OTEL_TRACES_SAMPLER_ARG=0.1`; "
            "a sampled booking is whole, its worker jobs follow the request's decision).",
            "",
            "| round | bookings/s (each run) | p50 ms | p95 ms | outcomes | throughput vs off | exported |",
            "|---|---|---|---|---|---|---|",
        ]
        for label, t in traced.items():
            each = ", ".join(f"{x:.1f}" for x in t["each"])
            exported = f"{t['exports']} exports, {t['bytes'] / 1024:.0f} KiB" if t["exports"] else ""
            lines.append(
                f"| {label} | {t['per_s']:,.1f} ({each}) | {t['p50_ms']:.1f} | {t['p95_ms']:.1f} | {t['outcomes']} "
                f"| **{t['per_s'] / off:.2f}x** | {exported} |"
            )
    report = "\n".join(lines)
    print(report)
    if args.write:
        write_results("booking", report)
    if doubles:
        sys.exit("double bookings found")


if __name__ == "__main__":
    main()
