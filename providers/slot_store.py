"""Fast writes of generated slots (thousands per service; hundreds of thousands per top-up).

Model instances and `bulk_create` cost more than computing the slots, so new slots go in as
plain tuples: PostgreSQL through COPY into a temporary table and one `INSERT ... SELECT` of
those not there yet, under the services' row locks; other databases through one executemany
with `ON CONFLICT DO NOTHING`. A repeated run adds nothing, and `slot_service_start_unique`
stands behind both. See docs/adr/0001 and 0032.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

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
STAGED = ("service_id", "provider_id", "start", "end", "slot_date")
DELETE_CHUNK = 500
# Emptying the staging table: TRUNCATE costs ~1 ms whatever its size, DELETE a few µs a row.
TRUNCATE_FROM = 2000


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(connection.ops.quote_name(n) for n in names)


def _table() -> str:
    return connection.ops.quote_name(Slot._meta.db_table)


def slots_insert(rows: Sequence[NewSlot]) -> int:
    """Insert offers, skipping any (service, start) that exists. Returns how many were new.

    Must run inside a transaction holding the services' row locks (the PostgreSQL staging table
    empties on commit; see `_insert_staged` for the locks).
    """
    if not rows:
        return 0
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            _stage(cursor, rows)
            created = _insert_staged(cursor)
            _unstage(cursor, len(rows))
        return created
    return _insert_generic(rows)


def slots_replace_future(service_ids: Sequence[Any], *, after: datetime, rows: Sequence[NewSlot]) -> tuple[int, int]:
    """Make these services' offers starting after `after` exactly `rows`: delete those whose
    (start, end) is not among their rows, insert the missing ones. Returns (deleted, created).

    Offers that stay keep their ids (the links customers hold stay valid). Must run inside a
    transaction holding the services' row locks.
    """
    if connection.vendor != "postgresql":
        return _replace_generic(service_ids, after, rows)
    with connection.cursor() as cursor:
        _stage(cursor, rows)
        # Ranges of the (service, start) index, matched against the staged times.
        cursor.execute(
            f"DELETE FROM {_table()} AS s WHERE s.service_id = ANY(%s) AND s.start > %s "  # noqa: S608
            "AND NOT EXISTS (SELECT 1 FROM slot_staging w "
            'WHERE w.service_id = s.service_id AND w.start = s.start AND w."end" = s."end")',
            [list(service_ids), after],
        )
        deleted = cursor.rowcount
        created = _insert_staged(cursor) if rows else 0
        _unstage(cursor, len(rows))
    return deleted, created


def _stage(cursor: Any, rows: Sequence[NewSlot]) -> None:
    """COPY the rows into the session's staging table (created on first use)."""
    # COPY's text format written by hand: one string per row is several times cheaper than
    # adapting each value. Slots share their instants (one's end is the next one's start, and
    # services of one provider share their days), so each instant is formatted once.
    text: dict[Any, str] = {}
    lines: list[str] = []
    append = lines.append
    for service_id, provider_id, start, end, day in rows:
        append(
            f"{text.get(service_id) or text.setdefault(service_id, str(service_id))}\t"
            f"{text.get(provider_id) or text.setdefault(provider_id, str(provider_id))}\t"
            f"{text.get(start) or text.setdefault(start, start.isoformat())}\t"
            f"{text.get(end) or text.setdefault(end, end.isoformat())}\t"
            f"{text.get(day) or text.setdefault(day, day.isoformat())}\n"
        )
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS slot_staging (service_id uuid, provider_id uuid, "
        '"start" timestamptz, "end" timestamptz, slot_date date) ON COMMIT DELETE ROWS'
    )
    if lines:
        with cursor.cursor.copy(f"COPY slot_staging ({_quoted(STAGED)}) FROM STDIN") as copy:
            copy.write("".join(lines))


# A UUID of version 7 (RFC 9562): the first 48 bits the time in milliseconds, then 74 random
# bits (version and variant bits set over gen_random_uuid's). New offers' keys then land at
# the right edge of the primary key's index instead of on random pages of it: an offer is
# inserted ~10 % faster at 400,000 offers (docs/adr/0032). 74 random bits stay unguessable;
# what the id gives away is when the offer was made, which the page shows anyway.
_UUID7 = (
    "encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing "
    "substring(int8send(floor(extract(epoch from clock_timestamp()) * 1000)::bigint) from 3) "
    "from 1 for 6), 52, 1), 53, 1), 'hex')::uuid"
)


def _insert_staged(cursor: Any) -> int:
    """Insert the staged offers that do not exist yet. The callers hold the services' row locks
    (top-up and regeneration alike), so nobody inserts these services' offers meanwhile: a
    plain INSERT of those not there (one index probe each) is enough, where `ON CONFLICT DO
    NOTHING`'s speculative insertion cost ~20 % more a row. Were the lock ever missing, a
    concurrent run would fail on `slot_service_start_unique`, never add an offer twice."""
    # Only quoted identifiers are interpolated; values go as parameters.
    columns, staged, table = _quoted(COLUMNS), _quoted(STAGED), _table()
    cursor.execute(
        f"INSERT INTO {table} ({columns}) SELECT {_UUID7}, {staged}, %s FROM slot_staging w "  # noqa: S608
        f"WHERE NOT EXISTS (SELECT 1 FROM {table} s WHERE s.service_id = w.service_id AND s.start = w.start)",
        [timezone.now()],
    )
    return int(cursor.rowcount)


def _unstage(cursor: Any, staged: int) -> None:
    """Empty the staging table now: a second write in the same transaction must not see these."""
    if staged:
        cursor.execute("TRUNCATE slot_staging" if staged >= TRUNCATE_FROM else "DELETE FROM slot_staging")


def _insert_generic(rows: Sequence[NewSlot]) -> int:
    ops = connection.ops
    adapt_dt = ops.adapt_datetimefield_value
    adapt_date = ops.adapt_datefield_value
    created_at = adapt_dt(timezone.now())
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
            f"INSERT INTO {_table()} ({_quoted(COLUMNS)}) VALUES ({placeholders}) ON CONFLICT DO NOTHING",  # noqa: S608
            params,
        )
        return max(cursor.rowcount, 0)


def _replace_generic(service_ids: Sequence[Any], after: datetime, rows: Sequence[NewSlot]) -> tuple[int, int]:
    future = Slot.objects.filter(service_id__in=service_ids, start__gt=after).values_list(
        "pk", "service_id", "start", "end"
    )
    wanted = {(r.service_id, r.start, r.end) for r in rows}
    stale = [pk for pk, service_id, start, end in future if (service_id, start, end) not in wanted]
    for i in range(0, len(stale), DELETE_CHUNK):
        Slot.objects.filter(pk__in=stale[i : i + DELETE_CHUNK]).delete()
    return len(stale), (_insert_generic(rows) if rows else 0)
