"""Fast insertion of generated slots (thousands per service; hundreds of thousands per top-up).

Model instances and `bulk_create` cost more than computing the slots, so new slots go in as
plain tuples: PostgreSQL through COPY into a temporary table and one
`INSERT ... ON CONFLICT DO NOTHING`; other databases through one executemany. Either way the
`slot_service_start_unique` constraint decides what already exists, so a concurrent or
repeated run adds nothing twice. See docs/adr/0001.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import NamedTuple

from django.db import connection
from django.utils import timezone

from providers.models import Slot


class NewSlot(NamedTuple):
    service_id: uuid.UUID
    provider_id: uuid.UUID
    start: datetime
    end: datetime
    slot_date: date


COLUMNS = ("id", "service_id", "provider_id", "start", "end", "slot_date", "created_at")


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(connection.ops.quote_name(n) for n in names)


def slots_insert(rows: Sequence[NewSlot]) -> int:
    """Insert offers, skipping any (service, start) that exists. Returns how many were new.

    Must run inside a transaction (the PostgreSQL staging table empties on commit).
    """
    if not rows:
        return 0
    table = connection.ops.quote_name(Slot._meta.db_table)
    now = timezone.now()
    if connection.vendor == "postgresql":
        return _insert_postgres(table, rows, now)
    return _insert_generic(table, rows, now)


def _insert_postgres(table: str, rows: Sequence[NewSlot], now: datetime) -> int:
    staged = ("service_id", "provider_id", "start", "end", "slot_date")
    # COPY's text format written by hand: one string per row is several times cheaper than
    # adapting each value; ids come from gen_random_uuid() inside the database.
    lines = []
    ids: dict[uuid.UUID, str] = {}
    for r in rows:
        service = ids.get(r.service_id) or ids.setdefault(r.service_id, str(r.service_id))
        provider = ids.get(r.provider_id) or ids.setdefault(r.provider_id, str(r.provider_id))
        lines.append(f"{service}\t{provider}\t{r.start.isoformat()}\t{r.end.isoformat()}\t{r.slot_date.isoformat()}\n")
    cols = _quoted(COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS slot_staging (service_id uuid, provider_id uuid, "
            '"start" timestamptz, "end" timestamptz, slot_date date) ON COMMIT DELETE ROWS'
        )
        with cursor.cursor.copy(f"COPY slot_staging ({_quoted(staged)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            copy.write("".join(lines))
        # Only quoted identifiers are interpolated; values go as parameters.
        insert = f"INSERT INTO {table} ({cols}) SELECT gen_random_uuid(), {_quoted(staged)}, %s FROM slot_staging"  # noqa: S608
        cursor.execute(f"{insert} ON CONFLICT (service_id, start) DO NOTHING", [now])
        created = cursor.rowcount
        cursor.execute("TRUNCATE slot_staging")
    return created


def _insert_generic(table: str, rows: Sequence[NewSlot], now: datetime) -> int:
    ops = connection.ops
    adapt_dt = ops.adapt_datetimefield_value
    adapt_date = ops.adapt_datefield_value
    created_at = adapt_dt(now)
    params = [
        (
            uuid.uuid4().hex,
            r.service_id.hex,
            r.provider_id.hex,
            adapt_dt(r.start),
            adapt_dt(r.end),
            adapt_date(r.slot_date),
            created_at,
        )
        for r in rows
    ]
    placeholders = ", ".join(["%s"] * len(COLUMNS))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({_quoted(COLUMNS)}) VALUES ({placeholders}) ON CONFLICT DO NOTHING",  # noqa: S608
            params,
        )
        return max(cursor.rowcount, 0)
