"""The booking's floor: the service layer against a replay of its own SQL by pgbench.

    python benchmarks/floor.py [--clients 16] [--bookings 640] [--write]

One booking here is what a customer's hold and payment cost the service layer: the hold
(`appointment_hold`), Pay (`appointment_checkout`, the gateway's page created by an in-process
gateway: no network), and the gateway's signed webhook that confirms it (`webhook_receive`).

1. A scratch database with one provider per client and one customer per client is saved as a
   template; every pass starts from a fresh copy of it, so each sees the same data.
2. Capture: the bookings run one after another, each statement recorded as the database got it
   (client-side binding: the literal SQL), with its transaction's BEGIN and COMMIT.
3. Service layer: the same bookings by `--clients` threads (each its own connection), each
   taking the next booking number: bookings/s, in one process and spread over as many
   processes as the machine has cores (as gunicorn runs it).
4. Floor: a pgbench custom script (`pgbench -f`, in the protocol Django used: literal SQL, or
   prepared statements when Django binds server-side and prepares; the same number of clients)
   replaying those statements: same tables, same locks, same writes. What differs between
   bookings (ids, keys, times, amounts of other bookings) is a pgbench variable, read per
   transaction from a table by the next number of a sequence (`\\gset`), so every replayed
   booking books its own time. One pgbench transaction = one whole booking (its three
   database transactions); its TPS is the floor's bookings/s. The replay is checked: it must
   leave the same rows, statuses and counts as the service layer did.

The ratio service/floor is the share of the database's own speed that our Python keeps.
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
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_URL = os.environ.get("DATABASE_URL_BENCH_FLOOR", "postgres://postgres@127.0.0.1:5432/appointly_bench_floor")
TEMPLATE = DB_URL.rsplit("/", 1)[1] + "_template"

# A literal as psycopg's client-side binding writes it: a quoted string (or an E'' one with
# backslash escapes; with its cast), or a number standing alone (not part of a name, a placeholder or a cast).
LITERAL = re.compile(
    r"(?:E'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*')(?:::[a-z_0-9]+(?:\[\])?)?"
    r"|(?<![\w\"$.:])-?\d+(?:\.\d+)?(?![\w\".])"
)


class LocalGateway:
    """The gateway answered in process: a hosted page is an id (the floor is our SQL, not the
    gateway's network). The webhook is built and signed like the real one (`webhook_of`)."""

    name = "floor"
    webhook_secret = "whsec_floor"  # noqa: S105 (signs this benchmark's own webhooks)

    def checkout_create(self, **kwargs: Any) -> Any:
        from payments.gateways import Checkout

        session = "cs_floor_" + uuid.uuid4().hex
        return Checkout(
            id=session,
            url=f"https://pay.example/{session}",
            status="open",
            client_reference_id=kwargs["client_reference_id"],
        )


def webhook_of(payment: Any) -> tuple[bytes, str]:
    from payments.gateways import sign_payload

    body = json.dumps(
        {
            "id": "evt_" + uuid.uuid4().hex,
            "object": "event",
            "type": "checkout.session.completed",
            "data": {
                "object": {
                    "id": payment.checkout_session_id,
                    "object": "checkout.session",
                    "status": "complete",
                    "payment_status": "paid",
                    "amount_total": payment.amount_minor,
                    "currency": payment.currency.lower(),
                    "client_reference_id": str(payment.pk),
                    "payment_intent": "pi_" + uuid.uuid4().hex[:24],
                }
            },
        }
    )
    return body.encode(), sign_payload(body, LocalGateway.webhook_secret)


class Capture:
    """Every statement of this thread's connection, as sent, with BEGIN and COMMIT around the
    ones inside a transaction (psycopg begins one implicitly; Django commits it)."""

    def __init__(self, connection: Any) -> None:
        self.lines: list[str] = []
        self.open = False
        self.connection = connection
        commit, rollback = connection.commit, connection.rollback

        def committed() -> None:
            if self.open:
                self.lines.append("COMMIT")
                self.open = False
            commit()

        def rolled_back() -> None:
            raise AssertionError("a booking rolled back: the floor replays bookings that succeed")

        connection.commit, connection.rollback = committed, rolled_back
        self._restore = (commit, rollback)

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        if not self.connection.get_autocommit() and not self.open:
            self.lines.append("BEGIN")
            self.open = True
        ops = self.connection.ops
        sets = params if many else [params]
        self.lines.extend(sql if p is None else ops.compose_sql(sql, p) for p in sets)
        return execute(sql, params, many, context)

    def close(self) -> None:
        self.connection.commit, self.connection.rollback = self._restore


def as_parameter(literal: str) -> tuple[str, str]:
    """A literal as a prepared statement's parameter: its value, and the cast that stays in the
    statement's text."""
    quoted = re.fullmatch(r"(E?)'(.*)'(::[a-z_0-9]+(?:\[\])?)?", literal, re.DOTALL)
    if quoted is None:
        return literal, ""  # a number
    value = quoted[2].replace("''", "'")
    if quoted[1]:
        value = value.replace("\\\\", "\\")
    return value, quoted[3] or ""


def pgbench_script(bookings: list[list[str]], *, prepared: bool = False) -> tuple[str, list[str], list[list[str]]]:
    """One script for all bookings: the literals that differ between them become variables.
    Returns the script, the variables' names and each booking's values: literal SQL text for
    pgbench's simple protocol, or (`prepared`) parameter values, their casts kept in the text."""
    shapes = [[LITERAL.sub("\x00", line) for line in lines] for lines in bookings]
    for n, other in enumerate(shapes[1:], 1):
        if other != shapes[0]:
            diff = next((i for i, (a, b) in enumerate(zip(other, shapes[0], strict=False)) if a != b), len(other))
            sys.exit(f"booking {n} sent other statements than booking 0 (statement {diff}): cannot replay")
    values = [[LITERAL.findall(line) for line in lines] for lines in bookings]
    names: list[str] = []
    per_booking: list[list[str]] = [[] for _ in bookings]
    out = []
    for i, shape in enumerate(shapes[0]):
        parts = shape.split("\x00")
        text = parts[0]
        for j, part in enumerate(parts[1:]):
            seen = {v[i][j] for v in values}
            if len(seen) == 1:
                text += values[0][i][j]
            else:
                names.append(f"fv{len(names) + 1}")
                cast = ""
                for b, v in enumerate(values):
                    value, cast = as_parameter(v[i][j]) if prepared else (v[i][j], "")
                    per_booking[b].append(value)
                text += f":{names[-1]}{cast}"
            text += part
        out.append(text + ";")
    head = f"SELECT {', '.join(names)} FROM floor_values WHERE n = (SELECT nextval('floor_next')) \\gset"
    return "\n".join([head, *out]) + "\n", names, per_booking


def service_layer(book: Any, total: int, processes: int, threads: int) -> float:
    """Seconds for `processes` x `threads` clients to make bookings 0..total-1, each client
    taking the next number (forked processes share the counter)."""
    import multiprocessing

    from django.db import connection

    context = multiprocessing.get_context("fork")
    counter = context.Value("i", 0)

    def client(failures: list[BaseException]) -> None:
        try:
            while True:
                with counter.get_lock():
                    n = counter.value
                    counter.value += 1
                if n >= total:
                    return
                book(n)
        except BaseException as exc:  # reported after the run
            failures.append(exc)
        finally:
            connection.close()

    def run_threads() -> None:
        failures: list[BaseException] = []
        running = [threading.Thread(target=client, args=(failures,)) for _ in range(threads)]
        for t in running:
            t.start()
        for t in running:
            t.join()
        if failures:
            raise failures[0]

    t0 = time.perf_counter()
    if processes == 1:
        run_threads()
    else:
        children = [context.Process(target=run_threads) for _ in range(processes)]
        for child in children:
            child.start()
        for child in children:
            child.join()
        if any(child.exitcode for child in children):
            sys.exit("a service-layer process failed")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--bookings", type=int, default=640)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    clients, total = args.clients, args.bookings - args.bookings % args.clients

    from benchmarks.scratch_db import _admin_and_name, django_on_scratch_database, drop_database

    django_on_scratch_database(DB_URL)
    import logging

    import psycopg
    from django.conf import settings
    from django.db import connection, connections
    from django.utils import timezone

    import outbox.services
    from bookings.models import Appointment, AppointmentStatus
    from bookings.services import appointment_checkout, appointment_hold
    from payments.models import Payment
    from payments.webhooks import webhook_receive
    from providers.models import Slot
    from tests.factories import ServiceFactory, UserFactory

    logging.disable(logging.INFO)  # a line per webhook otherwise
    settings.PAYMENT_GATEWAY = "benchmarks.floor.LocalGateway"
    outbox.services._wake_workers = lambda: None  # type: ignore[attr-defined]  # jobs wait, as in production

    # Given one provider per client, booking n = the (n // clients)-th free time of provider
    # n % clients, for customer n % (4 x clients) (nobody holds two unpaid times at once): the
    # clients' bookings at any moment are on different providers (uncontended), in the service
    # layer and in the replay alike.
    services: list[Any] = [
        ServiceFactory(price_minor=4500, min_notice_minutes=0, max_appointments_per_day=14) for _ in range(clients)
    ]
    customers = [UserFactory() for _ in range(clients * 4)]  # a customer's bookings 4 rounds apart
    soon = timezone.now() + timedelta(hours=2)
    free = [
        list(Slot.objects.filter(service=s, start__gt=soon).order_by("start").values_list("pk", flat=True))
        for s in services
    ]
    per_client = total // clients
    if min(len(f) for f in free) < per_client:
        sys.exit(f"only {min(len(f) for f in free)} free times per provider for {per_client} bookings each")
    plan = [(customers[n % len(customers)], free[n % clients][n // clients]) for n in range(total)]

    def book(n: int) -> None:
        customer, slot_id = plan[n]
        held = appointment_hold(customer=customer, slot_id=slot_id, idempotency_key=f"floor-hold-{n}")
        checkout = appointment_checkout(
            appointment=held,
            customer=customer,
            payment_key=f"floor-pay-{n}",
            success_url="https://appointly.example/back",
            cancel_url="https://appointly.example/cancel",
        )
        body, signature = webhook_of(checkout.payment)
        assert webhook_receive(payload=body, signature=signature) == "succeeded"

    admin, work = _admin_and_name(DB_URL)
    host = DB_URL.split("@", 1)[1].split("/", 1)[0].split(":")

    def fresh_copy() -> None:
        connections.close_all()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{work}"')
            conn.execute(f'CREATE DATABASE "{work}" TEMPLATE "{TEMPLATE}"')

    def outcome() -> dict[str, Any]:
        """What the bookings left: enough to tell a faithful replay from one that did less."""
        from django.db.models import Count

        from bookings.models import AppointmentEvent, TimeClaim
        from notifications.models import Message
        from outbox.models import Job
        from payments.models import WebhookEvent

        return {
            "appointments": dict(Appointment.objects.values_list("status").annotate(n=Count("id")).order_by()),
            "payments": dict(Payment.objects.values_list("status").annotate(n=Count("id")).order_by()),
            "events": AppointmentEvent.objects.count(),
            "claims": TimeClaim.objects.count(),
            "messages": Message.objects.count(),
            "jobs": Job.objects.count(),
            "webhook events": WebhookEvent.objects.count(),
        }

    connections.close_all()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}"')
        conn.execute(f'CREATE DATABASE "{TEMPLATE}" TEMPLATE "{work}"')
    try:
        # Capture: the bookings one after another, every statement as sent
        fresh_copy()
        captured: list[list[str]] = []
        for n in range(total):
            capture = Capture(connections["default"])
            with connection.execute_wrapper(capture):
                book(n)
            capture.close()
            captured.append(capture.lines)
        # The replay speaks the protocol the service layer spoke: prepared statements if Django
        # binds server-side and prepares (the settings), else literal SQL.
        params = connection.get_connection_params()
        prepared = (
            getattr(connection.features, "uses_server_side_binding", False)
            and params.get("prepare_threshold") is not None
        )
        protocol = "prepared" if prepared else "simple"
        script, names, values = pgbench_script(captured, prepared=prepared)

        # Service layer: the same bookings by `clients` threads, in one process (one interpreter
        # lock, as the issue first measured it) and spread over the machine's cores (how gunicorn
        # runs it), each thread taking the next number
        service: dict[int, float] = {}
        for processes in sorted({1, max(1, min(clients, os.cpu_count() or 1))}):
            fresh_copy()
            service[processes] = total / service_layer(book, total, processes, clients // processes)
            left = outcome()
            assert left["appointments"] == {AppointmentStatus.CONFIRMED: total}, left
        service_left = left

        # Floor: pgbench replays the captured statements at the same concurrency
        fresh_copy()
        with psycopg.connect(DB_URL, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE floor_values (n bigint PRIMARY KEY, {', '.join(f'{v} text' for v in names)})")
            conn.execute("CREATE SEQUENCE floor_next")
            with conn.cursor().copy(f"COPY floor_values (n, {', '.join(names)}) FROM STDIN") as copy:
                for n, row in enumerate(values, 1):
                    copy.write_row([n, *row])
            conn.execute("ANALYZE floor_values")
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
            f.write(script)
        if os.environ.get("FLOOR_KEEP_SCRIPT"):
            Path(os.environ["FLOOR_KEEP_SCRIPT"]).write_text(script)
        ran = subprocess.run(
            [
                "pgbench",
                "-n",
                "-M",
                protocol,
                "-c",
                str(clients),
                "-j",
                str(min(clients, os.cpu_count() or 2)),
                "-t",
                str(per_client),
                "-f",
                f.name,
                "-h",
                host[0],
                "-p",
                host[1] if len(host) > 1 else "5432",
                "-U",
                "postgres",
                work,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        os.unlink(f.name)
        if ran.returncode != 0:
            sys.exit(f"pgbench failed:\n{ran.stdout}\n{ran.stderr}")
        tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", ran.stdout)[1])  # type: ignore[index]
        floor_left = outcome()
        if floor_left != service_left:
            sys.exit(f"the replay left other rows than the service layer:\n{floor_left}\n{service_left}")
    finally:
        connections.close_all()
        drop_database(DB_URL)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}"')

    statements = len([line for line in captured[0] if line not in ("BEGIN", "COMMIT")])
    transactions = captured[0].count("COMMIT")
    best = max(service.values())
    report = "\n".join(
        [
            f"One booking = hold + Pay + the confirming webhook in the service layer ({statements} statements in "
            f"{transactions} transactions, the gateway answered in process); {total} bookings, uncontended, "
            f"{clients} clients, PostgreSQL on this machine. Floor = pgbench (`-M {protocol} -c {clients}`, the "
            "protocol Django used) replaying "
            f"the same statements, {len(names)} values per booking read by `\\gset` from a table (one extra "
            "statement per replayed booking); the replay left the same rows as the service layer.",
            "",
            "| | bookings/s |",
            "|---|---|",
            *(
                f"| service layer, {p} process{'es' if p > 1 else ''} x {clients // p} threads | {per_s:,.1f} "
                f"({per_s / tps:.0%} of the floor) |"
                for p, per_s in service.items()
            ),
            f"| floor: pgbench replay, {clients} clients | {tps:,.1f} |",
            "",
            f"The service layer runs at **{best / tps:.0%} of its floor** at best (target: at least 40 %).",
            "",
            f"(What the replay left, the same as the service layer: {json.dumps(floor_left, default=str)}.)",
        ]
    )
    print(report)
    if args.write:
        from benchmarks.slots import write_results

        write_results("floor", report)


if __name__ == "__main__":
    main()
