"""Several writes of one change sent as one statement (docs/adr/0028).

A booking's writes are a handful of small INSERTs and UPDATEs of different tables (the
appointment, its time claim, its events); each was a round trip, and round trips, not the
database's work, are what a booking costs (ADR 0022). On PostgreSQL, `Writes.send()` joins
them into one statement of data-modifying WITH queries, each compiled by Django's own
compilers (so pre-save values, converters and the bulk INSERT form are the ORM's):

    WITH w0 AS (INSERT INTO appointment ...), w1 AS (INSERT INTO claim ...) INSERT INTO event ...

What that means for callers:
- All of them run or none does, in the caller's transaction; a constraint one of them breaks
  raises IntegrityError for the statement, as its own INSERT would have.
- They see the same snapshot and no write sees another's rows, so none may depend on another
  (a foreign key between them is checked at commit: ours are DEFERRABLE INITIALLY DEFERRED).
- Nothing is read back: ids the database makes (an AutoField) stay None on the instances.
- No signals (as with `bulk_create` and `update`).

Elsewhere (SQLite, the development default) the same writes run one after the other through
`bulk_create` and `update`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections
from django.db.models import AutoField, Model, QuerySet
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery, UpdateQuery


def insert_new(objs: Sequence[Model], *, returning: str, using: str = "default") -> list[Any]:
    """INSERT the rows that break no unique constraint, leave out the others, and answer which
    went in (their `returning` field), in one statement: `INSERT ... ON CONFLICT DO NOTHING
    RETURNING` on PostgreSQL, `INSERT OR IGNORE ... RETURNING` on SQLite (3.35+). A row that a
    concurrent transaction is inserting under the same key waits for it, then is left out if
    it committed. (`bulk_create(ignore_conflicts=True)` cannot say which went in.) On SQLite,
    OR IGNORE also leaves out a row that breaks a NOT NULL or CHECK constraint, as
    `bulk_create(ignore_conflicts=True)` does there."""
    if not objs:
        return []
    query = _insert_query(objs, using, OnConflict.IGNORE)
    field = type(objs[0])._meta.get_field(returning)
    rows = query.get_compiler(using=using).execute_sql(returning_fields=[field])
    _saved(objs, using)
    return [row[0] for row in rows]


def insert(objs: Sequence[Model], *, writes: Writes | None = None, ignore_conflicts: bool = False) -> None:
    """INSERT these new rows now (`bulk_create`), or add them to the change's `writes`, which
    its caller sends: what a service that writes rows of its own offers its callers."""
    if writes is not None:
        writes.insert(objs, ignore_conflicts=ignore_conflicts)
    elif objs:
        type(objs[0])._default_manager.bulk_create(objs, ignore_conflicts=ignore_conflicts)


def update_returning(queryset: QuerySet[Any], **values: Any) -> list[Any]:
    """`queryset.update(**values)` that answers the rows it changed, as they are after it
    (`UPDATE ... RETURNING`, PostgreSQL and SQLite 3.35+): one statement where reading, locking
    and writing a row took two. Each row is locked by the UPDATE as `select_for_update` would."""
    model, using = queryset.model, queryset.db
    compiler = _update_query(queryset, values).get_compiler(using=using)
    sql, params = compiler.as_sql()
    fields = _columns(model)
    cols = [f.get_col(model._meta.db_table) for f in fields]
    returning = ", ".join(compiler.compile(col)[0] for col in cols)
    with connections[using].cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {returning}", params)
        rows: Any = cursor.fetchall()
    if converters := compiler.get_converters(cols):
        rows = compiler.apply_converters(rows, converters)
    return [model.from_db(using, [f.attname for f in fields], list(row)) for row in rows]


def _update_query(queryset: QuerySet[Any], values: dict[str, Any]) -> Any:
    """The UPDATE `queryset.update(**values)` would send (its own table only)."""
    query: Any = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    if query.related_updates:
        raise ValueError("only the queryset's own table is updated here")
    return query


def _insert_query(objs: Sequence[Model], using: str, on_conflict: OnConflict | None = None) -> InsertQuery:
    """The INSERT of these new rows of one model, as `bulk_create` builds it (all rows with their
    primary key set, or none)."""
    model = type(objs[0])
    opts = model._meta
    fields = _columns(model)
    if isinstance(opts.pk, AutoField) and objs[0].pk is None:
        fields = [f for f in fields if f is not opts.pk]
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="bulk_create")  # type: ignore[attr-defined]
    query = InsertQuery(model, on_conflict=on_conflict)
    query.insert_values(fields, list(objs))
    return query


def _columns(model: type[Model]) -> list[Any]:
    """The columns an INSERT writes and a RETURNING reads: every stored, non-generated field."""
    return [f for f in model._meta.concrete_fields if not f.generated]


def _saved(objs: Sequence[Model], using: str) -> None:
    """Once written: the instances are saved rows, as `bulk_create` leaves them."""
    for obj in objs:
        obj._state.adding, obj._state.db = False, using


class Writes:
    """Collect writes, then `send()` them: one statement on PostgreSQL, in order elsewhere."""

    def __init__(self, using: str = "default") -> None:
        self.using = using
        self._compiled: list[Callable[[], tuple[str, Sequence[Any]]]] = []
        self._run: list[Callable[[], object]] = []
        self._new: tuple[Sequence[Model], str] | None = None
        self._inserted: list[Sequence[Model]] = []

    def insert(self, objs: Sequence[Model], *, ignore_conflicts: bool = False) -> None:
        """INSERT these new rows of one model (all with their primary key set, or none);
        `ignore_conflicts`: rows that break a unique constraint are left out."""
        if not objs:
            return
        on_conflict = OnConflict.IGNORE if ignore_conflicts else None
        manager = type(objs[0])._default_manager.using(self.using)
        self._inserted.append(objs)
        self._compiled.append(
            lambda: self._statement(_insert_query(objs, self.using, on_conflict).get_compiler(using=self.using))
        )
        self._run.append(lambda: manager.bulk_create(objs, ignore_conflicts=ignore_conflicts))

    def update(self, queryset: QuerySet[Any], **values: Any) -> None:
        """`queryset.update(**values)`."""
        self._compiled.append(lambda: self._statement(_update_query(queryset, values).get_compiler(using=self.using)))
        self._run.append(lambda: queryset.update(**values))

    def insert_new(self, objs: Sequence[Model], *, returning: str) -> None:
        """`insert_new()` as the last of these writes: `send()` answers which rows went in."""
        if self._new is not None:
            raise ValueError("one insert_new per statement")
        self._new = (objs, returning)
        self._inserted.append(objs)

    def send(self) -> list[Any]:
        """Run the writes; the `returning` values of the `insert_new` rows that went in."""
        connection = connections[self.using]
        new = self._new if self._new is not None and self._new[0] else None
        if connection.vendor != "postgresql" or len(self._run) + (new is not None) <= 1:
            for run in self._run:
                run()
            return insert_new(new[0], returning=new[1], using=self.using) if new is not None else []
        parts = [compile_() for compile_ in self._compiled]
        compiler = None
        if new is not None:
            objs, returning = new
            compiler = _insert_query(objs, self.using, OnConflict.IGNORE).get_compiler(using=self.using)
            compiler.returning_fields = [type(objs[0])._meta.get_field(returning)]
            parts.append(self._statement(compiler))
        *first, (last_sql, last_params) = parts
        sql = "WITH " + ", ".join(f"w{i} AS ({part})" for i, (part, _) in enumerate(first)) + " " + last_sql
        params = [p for _, ps in first for p in ps] + list(last_params)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            answered = [row[0] for row in cursor.fetchall()] if compiler is not None else []
        for objs in self._inserted:
            _saved(objs, self.using)
        return answered

    @staticmethod
    def _statement(compiler: Any) -> tuple[str, Sequence[Any]]:
        compiled = compiler.as_sql()
        if isinstance(compiled, list):  # an INSERT compiler answers a list of statements
            (sql, params), *more = compiled
            if more:  # PostgreSQL makes one bulk INSERT of any number of rows
                raise ValueError("one statement per write")
            return sql, params
        return compiled
