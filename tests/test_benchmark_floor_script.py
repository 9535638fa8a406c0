"""The floor benchmark's pgbench script: what differs between captured bookings becomes a
variable, what they share stays literal, and bookings that sent other statements are refused."""

from __future__ import annotations

import pytest

from benchmarks.floor import pgbench_script


def test_values_that_differ_become_variables_and_shared_ones_stay() -> None:
    # Given two bookings' statements as psycopg wrote them (quoted, cast, E'' and numbers)
    first = [
        "BEGIN",
        'SELECT "t"."id" FROM "t" WHERE "t"."id" = 7 AND "t"."at" > \'2026-11-30 09:00:00+00:00\'::timestamptz LIMIT 1',
        'INSERT INTO "e" SELECT * FROM UNNEST((\'{1,2}\')::int2[], ( E\'{"a\\\\"b"}\'::jsonb[])::jsonb[])',
        "COMMIT",
    ]
    second = [line.replace("= 7", "= 8").replace("09:00", "09:30") for line in first]
    # When the script is made
    script, names, values = pgbench_script([first, second])
    # Then the id and the time are variables read per booking, the rest is as sent
    assert names == ["fv1", "fv2"]
    assert values == [
        ["7", "'2026-11-30 09:00:00+00:00'::timestamptz"],
        ["8", "'2026-11-30 09:30:00+00:00'::timestamptz"],
    ]
    lines = script.splitlines()
    assert lines[0] == "SELECT fv1, fv2 FROM floor_values WHERE n = (SELECT nextval('floor_next')) \\gset"
    assert lines[1] == "BEGIN;"
    assert lines[2] == 'SELECT "t"."id" FROM "t" WHERE "t"."id" = :fv1 AND "t"."at" > :fv2 LIMIT 1;'
    assert lines[3] == first[2] + ";"
    assert lines[4] == "COMMIT;"


def test_bookings_that_sent_other_statements_cannot_be_replayed() -> None:
    with pytest.raises(SystemExit, match="booking 1 sent other statements"):
        pgbench_script([["SELECT 1"], ["SELECT 1", "SELECT 2"]])


def test_for_prepared_statements_variables_are_parameters_with_their_casts_kept() -> None:
    # Given two bookings that differ in a quoted time, an E'' string and a number
    first = ['UPDATE "t" SET "at" = \'2026-11-30 09:00:00+00:00\'::timestamptz, "d" = E\'a\\\\b\'\'c\' WHERE "id" = 7']
    second = ['UPDATE "t" SET "at" = \'2026-12-01 09:00:00+00:00\'::timestamptz, "d" = E\'x\\\\y\' WHERE "id" = 8']
    # When the script is made for pgbench's prepared protocol
    script, names, values = pgbench_script([first, second], prepared=True)
    # Then the values are the parameters themselves (unquoted, unescaped) and the casts stay
    assert names == ["fv1", "fv2", "fv3"]
    assert script.splitlines()[1] == 'UPDATE "t" SET "at" = :fv1::timestamptz, "d" = :fv2 WHERE "id" = :fv3;'
    assert values[0] == ["2026-11-30 09:00:00+00:00", "a\\b'c", "7"]
    assert values[1] == ["2026-12-01 09:00:00+00:00", "x\\y", "8"]
