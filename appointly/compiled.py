"""Hot reads compiled once per process, then run with each call's values (docs/adr/0029).

Django builds and compiles a queryset's SQL anew every time it runs: for the booking's locking
reads (an appointment with five related rows, a provider found through an offer) that is most
of what the read costs in Python, more than the database's answer. `Compiled` keeps what does
not change between calls (the SQL text and the compiler's plan of columns and related rows) and
binds only the values:

    _APPOINTMENT = Compiled(lambda pk: Appointment.objects.select_for_update().filter(pk=pk))
    _APPOINTMENT.one(pk=appointment_id)

The rows come back through Django's own iterables (model instances, select_related rows,
prefetches), exactly as from the queryset `build(**values)` returns.

What makes it safe, checked on first use of each shape (the names and types of the values) in
a process; every call then runs on its own thread's connection:
- `build` runs twice with different stand-in values; the two SQL texts must be the same, each
  value must appear among the parameters, and every other parameter must be the same in both.
  A value that changes the SQL (a branch in `build`), or a parameter computed from a value
  (`now + timedelta(...)`) would make one of these differ: the read is refused with
  ValueError, in the first test that runs it. The exception: an int value used as a slice
  bound (`qs[offset : offset + 20]`), which Django writes into the SQL as a number, is bound
  as a parameter of `LIMIT`/`OFFSET` instead (`_bind_slices`).
- Values are UUIDs, strings, ints, datetimes, dates and timedeltas (each can stand in uniquely),
  and non-empty lists of one of them; anything else is a TypeError. None changes the SQL
  (`IS NULL`), and so does an empty list: a call with either runs the queryset as built,
  uncompiled. A list reaches the SQL as one parameter only through `AnyOf` and `Pick` below
  (PostgreSQL arrays); `__in` spells one placeholder per item, so its SQL depends on the length,
  and the check refuses it (the stand-in lists differ in length).
- Only on PostgreSQL, where Django passes these values to the driver as they are (other
  backends turn them into text first, so the stand-ins could not be found): elsewhere every
  call runs the queryset as built.
- `select_for_update` still refuses to run outside a transaction.
"""

from __future__ import annotations

import copy
import random
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from django.db import connections
from django.db.models import BooleanField, Case, Expression, F, Field, Func, Model, Q, QuerySet, UUIDField, Value, When
from django.db.models.lookups import In
from django.db.transaction import TransactionManagementError

_STANDS_IN = (uuid.UUID, str, int, datetime, date, timedelta)
_BINDS = (*_STANDS_IN, list)


@dataclass(frozen=True)
class _Shape:
    alias: str
    sql: str
    constants: tuple[Any, ...]  # the parameters as compiled; the values' positions are refilled
    slots: tuple[tuple[int, str], ...]  # (parameter position, value name)
    template: QuerySet[Any]  # built with stand-ins and compiled: what each call copies
    compiler: Any
    # The select list's converters (backend and field), the same for every call of the shape:
    # Django works them out again on every run (~5 µs a column).
    selected: tuple[Any, ...]
    converters: dict[int, Any]


def _kind(value: Any) -> tuple[type, ...]:
    """What decides a value's SQL: its type, and a list's item type."""
    return (list, type(value[0])) if isinstance(value, list) else (type(value),)


def _stand_in(name: str, value: Any, run: int) -> Any:
    """A value of the same type that nothing else in a query will equal; for a list, a list of
    such items, 1 long in the first run and 3 in the second (so SQL that depends on a list's
    length differs)."""
    r = random.SystemRandom()
    if isinstance(value, list):
        if any(type(item) is not type(value[0]) for item in value):
            raise TypeError(f"Compiled: {name} mixes types")
        return [_stand_in(name, value[0], run) for _ in range(1 + 2 * run)]
    if isinstance(value, bool) or not isinstance(value, _STANDS_IN):
        raise TypeError(
            f"Compiled: {name}={value!r} cannot be bound (UUID, str, int, datetime, date, timedelta, "
            "or a list of one of them)"
        )
    if isinstance(value, uuid.UUID):
        return uuid.uuid4()
    if isinstance(value, str):
        return "compiled-" + secrets.token_hex(12)
    if isinstance(value, int):
        # Inside a 32-bit integer column's range: Django drops a comparison with a number out
        # of its field's range from the SQL (it is always or never true), and so the value.
        return r.randrange(10**8, 2**31 - 1)
    if isinstance(value, datetime):
        return datetime(2999, 1, 1, tzinfo=UTC if value.tzinfo else None) + timedelta(microseconds=r.randrange(10**13))
    if isinstance(value, date):
        return date(2500, 1, 1) + timedelta(days=r.randrange(100_000))
    return timedelta(days=r.randrange(10**5), microseconds=r.randrange(10**6))


class Compiled[M: Model]:
    """A read whose SQL is compiled once (see the module docstring). `build(**values)` returns
    the queryset; `list`, `one` and `first` run it with the values given."""

    def __init__(self, build: Callable[..., QuerySet[M]]) -> None:
        self.build = build
        self._shapes: dict[tuple[tuple[str, tuple[type, ...]], ...], _Shape] = {}
        self._lock = threading.Lock()

    def list(self, **values: Any) -> list[M]:
        return list(self.queryset(**values))

    def first(self, **values: Any) -> M | None:
        rows = self.list(**values)
        return rows[0] if rows else None

    def one(self, **values: Any) -> M:
        """The one row, as `QuerySet.get()` answers it (DoesNotExist, MultipleObjectsReturned)."""
        queryset = self.queryset(**values)
        rows = list(queryset)
        if len(rows) == 1:
            return rows[0]
        model = queryset.model
        if not rows:
            raise model.DoesNotExist(f"{model._meta.object_name} matching {values} does not exist.")  # type: ignore[attr-defined]
        raise model.MultipleObjectsReturned(f"{len(rows)} {model._meta.object_name} rows match {values}")  # type: ignore[attr-defined]

    def queryset(self, **values: Any) -> QuerySet[M]:
        """The queryset to evaluate once (iterate it, or `list()`): bound to the compiled SQL,
        so chaining more onto it (filter, get, slices) would be ignored; use the methods above."""
        if any(v is None or v == [] for v in values.values()):
            return self.build(**values)
        key = tuple(sorted((k, _kind(v)) for k, v in values.items()))
        shape = self._shapes.get(key)
        if shape is None:
            queryset = self.build(**values)
            if connections[queryset.db].vendor != "postgresql":
                return queryset
            with self._lock:
                shape = self._shapes.get(key) or self._shapes.setdefault(key, self._compile(queryset.db, values))
        connection = connections[shape.alias]
        if shape.template.query.select_for_update and connection.get_autocommit():
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        params = list(shape.constants)
        for position, name in shape.slots:
            params[position] = values[name]
        bound = copy.copy(shape.compiler)
        bound.connection = connection  # this thread's
        sql, bound_params = shape.sql, tuple(params)
        bound.as_sql = lambda *args, **kwargs: (sql, bound_params)
        bound.get_converters = partial(_converters, shape, bound.get_converters)
        queryset = shape.template.all()
        queryset.query.get_compiler = lambda *args, **kwargs: bound  # type: ignore[method-assign]
        return queryset

    def _compile(self, alias: str, values: dict[str, Any]) -> _Shape:
        runs = []
        for run in range(2):
            stand_ins = {name: _stand_in(name, value, run) for name, value in values.items()}
            template = self.build(**stand_ins)
            if template.db != alias:
                raise ValueError("Compiled: the database of the read depends on its values")
            compiler = template.query.get_compiler(using=alias)
            sql, params = compiler.as_sql()
            runs.append((stand_ins, template, compiler, sql, list(params)))
        (first, template, compiler, sql, params), (second, _, _, sql_2, params_2) = runs
        sql, params = _bind_slices(sql, params, first)
        sql_2, params_2 = _bind_slices(sql_2, params_2, second)
        if sql != sql_2 or len(params) != len(params_2):
            raise ValueError(f"Compiled: the SQL depends on the values ({sql} / {sql_2})")
        slots, seen = [], set()
        for position, (param, param_2) in enumerate(zip(params, params_2, strict=True)):
            name = _name_of(param, first)
            if name is not None and param_2 == second[name]:
                slots.append((position, name))
                seen.add(name)
            elif param != param_2:
                raise ValueError(
                    f"Compiled: parameter {position} is computed from the values ({param!r} / {param_2!r})"
                )
        if unbound := set(values) - seen:
            raise ValueError(f"Compiled: {sorted(unbound)} never reach the SQL")
        selected = tuple(s[0] for s in compiler.select[0 : compiler.col_count])
        return _Shape(
            alias=alias,
            sql=sql,
            constants=tuple(params),
            slots=tuple(slots),
            template=template,
            compiler=compiler,
            selected=selected,
            converters=compiler.get_converters(list(selected)),
        )


def _converters(shape: _Shape, work_out: Callable[[Any], Any], expressions: Any) -> Any:
    """The shape's converters when asked for its own select list (the same expressions, as a
    copy of its compiler holds them); anything else worked out as Django does."""
    if len(expressions) == len(shape.selected) and all(
        a is b for a, b in zip(expressions, shape.selected, strict=True)
    ):
        return shape.converters
    return work_out(expressions)


_SLICE = re.compile(r"\b(?:LIMIT|OFFSET) (\d+)\b")
_PLACEHOLDER = re.compile(r"%%|%s")


def _bind_slices(sql: str, params: list[Any], stand_ins: dict[str, Any]) -> tuple[str, list[Any]]:
    """A slice's bounds are written into the SQL as numbers (`LIMIT 21 OFFSET 40`): where such
    a number is an int value's stand-in, it becomes a placeholder with the stand-in as its
    parameter, which the slots then find like any other value's. So `qs[offset : offset + 21]`
    is one shape for every offset (the LIMIT, 21, stays written in)."""
    numbers = {str(v): v for v in stand_ins.values() if type(v) is int}
    pieces: list[str] = []
    params = list(params)
    done, bound = 0, 0
    for match in _SLICE.finditer(sql):
        value = numbers.get(match.group(1))
        if value is None:
            continue
        # The parameter's position: the placeholders before it (`%%` is a literal percent sign).
        before = sum(1 for p in _PLACEHOLDER.findall(sql, 0, match.start(1)) if p == "%s")
        params.insert(before + bound, value)
        pieces.append(sql[done : match.start(1)] + "%s")
        done = match.end(1)
        bound += 1
    return "".join(pieces) + sql[done:], params


def _name_of(param: Any, stand_ins: dict[str, Any]) -> str | None:
    """The value whose stand-in this parameter is (stand-ins are random: equal means it)."""
    if isinstance(param, bool) or not isinstance(param, _BINDS):
        return None
    return next((name for name, v in stand_ins.items() if v == param), None)


class AnyOf(Expression):
    """`column = ANY(list)`: a list of keys as one parameter, so one SQL shape however many
    (PostgreSQL); elsewhere the `__in` lookup. `AnyOf("service_id", ids, "uuid")`."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, column: str, items: list[Any], db_type: str) -> None:
        super().__init__()
        self.column: Any = F(column)
        self.items, self.db_type = items, db_type

    def get_source_expressions(self) -> list[Any]:
        return [self.column]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.column,) = exprs

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, Any]:
        return compiler.compile(In(self.column, self.items))

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, Any]:
        sql, params = compiler.compile(self.column)
        return f"{sql} = ANY(%s::{self.db_type}[])", (*params, self.items)


class Pick(Func):
    """The item of `values` at the position of the row's key in `keys` (two lists, two
    parameters, one SQL shape however long: PostgreSQL arrays); elsewhere a CASE.
    `Pick("service_id", ids, "uuid", notices, "integer", IntegerField())`."""

    def __init__(
        self, column: str, keys: list[Any], key_type: str, values: list[Any], value_type: str, output_field: Field
    ) -> None:
        self.keys, self.key_type, self.values, self.value_type = keys, key_type, values, value_type
        fallback = Case(
            *[When(Q(**{column: k}), then=Value(v)) for k, v in zip(keys, values, strict=True)],
            output_field=output_field,
        )
        super().__init__(F(column), fallback, output_field=output_field)

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, Any]:  # type: ignore[override]
        return compiler.compile(self.get_source_expressions()[1])

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, Any]:
        sql, params = compiler.compile(self.get_source_expressions()[0])
        return (
            f"(%s::{self.value_type}[])[array_position(%s::{self.key_type}[], {sql})]",
            (self.values, self.keys, *params),
        )


def as_uuid(value: Any) -> uuid.UUID:
    """A UUID key as a compiled read binds it (an id may come as text: a payment's reference,
    an API argument); not a UUID: ValidationError, as a filter on the key raises."""
    return value if isinstance(value, uuid.UUID) else _UUID_FIELD.to_python(value)


_UUID_FIELD = UUIDField()
