"""Inserting new rows on the decision hot path without re-compiling SQL for every call.

`Model.objects.create()` builds and compiles an INSERT through the ORM's query machinery on every
call (about a third of a millisecond of CPU for the decision's three rows: `bench/bench_insert.py`).
`insert_new` does the part that matters — each field's own `pre_save` and `get_db_prep_save`, so
values are converted exactly as the ORM converts them — and executes an INSERT statement built once
per model from its metadata. Short statements with few parameters also stay in psycopg's query
cache, so nothing is parsed twice on the client.

On PostgreSQL several rows go out as one statement — each INSERT a data-modifying CTE of a
`WITH ... SELECT` that returns the auto keys — so one round trip writes them all, as a server-side
prepared statement (parsed and planned once per connection; values bound by the server instead of
quoted into the SQL text by the client), with JSON columns encoded by orjson. (psycopg's pipeline
mode was tried first: its result loop polls a writable socket, so it spins on the CPU for as long
as PostgreSQL takes to answer — 9 % of a worker's CPU under load.) The statement is atomic, and
the foreign keys between the rows hold: Django's constraints are deferred to the commit, and
PostgreSQL checks immediate ones at the end of the statement. A test checks that rows are
column-for-column what the ORM writes (`tests/config`).
Django's error translation applies (an `IntegrityError` is Django's), and statements are recorded
in `connection.queries` when Django records queries; with an execute wrapper installed the plain
Django cursor path runs, so wrappers see every statement.

Only for plain inserts of brand-new instances (the decision, its application, its audit event):
no `pre_save`/`post_save` signals are sent (none of these models has receivers that act on an
insert), and no many-to-many or multi-table inheritance is supported — `_insert_plan` refuses such
models rather than silently writing half a row. Database defaults and triggers still apply.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import json
import logging
import time
import uuid
from typing import Any

import orjson
from django.db import OperationalError, connections, models
from django.db.models.fields import AutoFieldMixin

_sql_logger = logging.getLogger("django.db.backends")


@functools.cache
def _insert_plan(model: type[models.Model], using: str) -> tuple[str, tuple[models.Field[Any, Any], ...], models.Field[Any, Any] | None]:
    meta = model._meta
    if meta.parents or meta.proxy or meta.abstract:
        raise TypeError(f"insert_new does not support {meta.label}: inherited, proxy or abstract model")
    pk = meta.pk
    auto_pk = pk if isinstance(pk, AutoFieldMixin) else None
    fields = tuple(f for f in meta.concrete_fields if f is not auto_pk and not getattr(f, "generated", False))
    quote = connections[using].ops.quote_name
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608 - names from model metadata, values bound
        quote(meta.db_table),
        ", ".join(quote(f.column) for f in fields),
        ", ".join(["%s"] * len(fields)),
    )
    if auto_pk is not None:
        sql += f" RETURNING {quote(auto_pk.column)}"
    return sql, fields, auto_pk


def _orjson_dumps(obj: Any) -> bytes | str:
    """orjson for JSON columns, json.dumps for what orjson refuses (non-str keys, >64-bit ints).
    jsonb stores values, not text, so both spellings of a number store the same row. NaN and
    infinities become null (json.dumps would write NaN, which PostgreSQL refuses)."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj)


_INTEGER_TYPES = frozenset({
    "IntegerField", "BigIntegerField", "SmallIntegerField", "PositiveIntegerField",
    "PositiveBigIntegerField", "PositiveSmallIntegerField", "AutoField", "BigAutoField", "SmallAutoField",
})


def _server_conversion(field: models.Field[Any, Any]) -> Any:
    """What a column's value needs for server-side binding (None: nothing):
    - ints as int8 (and as float8 in float columns): psycopg picks int2/int4/int8 by magnitude, and
      each mix of types would be a prepared statement of its own (the column's assignment cast
      takes int8 into smaller integer columns, range-checked);
    - JSON written with the standard encoder re-targeted at orjson (fields with their own encoder
      keep it)."""
    from psycopg.types.json import Jsonb
    from psycopg.types.numeric import Float8, Int8

    def as_int8(value: Any) -> Any:
        return Int8(value) if type(value) is int else value

    def as_float8(value: Any) -> Any:  # an int in a float column would be bound as an integer
        return Float8(value) if type(value) is int else value

    def as_orjson(value: Any) -> Any:
        if type(value) is Jsonb and value.dumps is json.dumps:
            return Jsonb(value.obj, dumps=_orjson_dumps)
        return value

    target = field.target_field if field.is_relation else field
    if target.get_internal_type() in _INTEGER_TYPES:
        return as_int8
    if isinstance(field, models.JSONField):
        return as_orjson
    if isinstance(target, models.FloatField):
        return as_float8
    return None


def _shortcut(field: models.Field[Any, Any], connection: Any) -> tuple[Any, Any] | None:
    """(test, wrap) for the values whose `get_db_prep_save` on PostgreSQL is the value itself
    (`wrap` None) or the value in the integer wrapper Django's psycopg 3 backend binds it in; None
    when the field is not one of these plain Django classes (its own code then always runs).
    What each test admits is exactly what Django's conversion passes through: a str for a
    CharField, an int (not a bool) for an integer field, an aware datetime, a finite Decimal, a
    UUID for PostgreSQL's native uuid, and a foreign key as its target field's value."""
    if isinstance(field, models.ForeignKey):
        return _shortcut(field.target_field, connection)
    kind = type(field)
    if kind in (models.CharField, models.TextField, models.SlugField):
        return (lambda v: type(v) is str), None
    if kind in (models.AutoField, models.BigAutoField, models.SmallAutoField):  # validate_autopk_value: as is
        return (lambda v: type(v) is int), None
    if kind in (models.IntegerField, models.BigIntegerField, models.SmallIntegerField, models.PositiveIntegerField,
                models.PositiveSmallIntegerField, models.PositiveBigIntegerField):
        wrappers = getattr(connection.ops, "integerfield_type_map", None)  # psycopg 3: Int2/Int4/Int8
        if wrappers is None or field.get_internal_type() not in wrappers:
            return None
        return (lambda v: type(v) is int), wrappers[field.get_internal_type()]
    if kind is models.FloatField:
        return (lambda v: type(v) is float), None
    if kind is models.BooleanField:
        return (lambda v: type(v) is bool), None
    if kind is models.UUIDField and connection.features.has_native_uuid_field:
        return (lambda v: type(v) is uuid.UUID), None
    if kind is models.DateTimeField and not (field.auto_now or field.auto_now_add):
        return (lambda v: type(v) is dt.datetime and v.utcoffset() is not None), None
    if kind is models.DateField and not (field.auto_now or field.auto_now_add):
        return (lambda v: type(v) is dt.date), None
    if kind is models.DecimalField:
        return (lambda v: type(v) is decimal.Decimal and v.is_finite()), None
    return None


@functools.cache
def _columns_postgresql(model: type[models.Model], using: str) -> tuple[tuple[models.Field[Any, Any], str, Any, Any, Any], ...]:
    """Per column: the field, its attribute, the shortcut's (test, wrap) and the server conversion."""
    out = []
    for f in _insert_plan(model, using)[1]:
        shortcut = _shortcut(f, connections[using])
        out.append((f, f.attname, *(shortcut or (None, None)), _server_conversion(f)))
    return tuple(out)


def _row_postgresql(obj: models.Model, connection: Any) -> list[Any]:
    """The bound INSERT parameters of one instance: `get_db_prep_save(pre_save(...))` — without
    Django's conversion calls (~40 % of building them) for values they pass through — then the
    column's server conversion."""
    row = []
    for field, attname, passes, wrap, convert in _columns_postgresql(type(obj), connection.alias):
        if passes is None:
            value = field.get_db_prep_save(field.pre_save(obj, True), connection)
        else:
            value = getattr(obj, attname)  # these classes' pre_save (no auto_now) reads the attribute
            if passes(value):
                value = value if wrap is None else wrap(value)
            else:
                value = field.get_db_prep_save(value, connection)
        row.append(value if convert is None else convert(value))
    return row


def one_statement(using: str = "default") -> bool:
    """Whether `insert_new` writes all its rows in one statement on `using`'s connection now
    (PostgreSQL, no execute wrapper installed). Outside a transaction that statement is then its
    own transaction: every row or none, committed when it returns — so a caller with nothing else
    to write needs no BEGIN and COMMIT (two round trips fewer; the decision hot path)."""
    connection = connections[using]
    return connection.vendor == "postgresql" and not connection.execute_wrappers


def insert_new(*objs: models.Model, using: str = "default") -> None:
    """INSERT each unsaved instance, in order, on `using`'s connection (inside the caller's
    transaction, or — when `one_statement()` — as one autocommitted statement). Auto primary keys
    are read back; afterwards each instance is as after `save()`."""
    connection = connections[using]
    for obj in objs:
        if not obj._state.adding:
            raise ValueError(f"insert_new inserts new rows only; {obj!r} is already saved")
    plans = [_insert_plan(type(obj), using) for obj in objs]
    returned: list[Any] = [None] * len(objs)
    if one_statement(using):
        sql, returning = _combined(tuple(type(obj) for obj in objs), using)
        keys = _execute_prepared(connection, sql, [v for obj in objs for v in _row_postgresql(obj, connection)])
        for position, i in enumerate(returning):
            returned[i] = (keys[position],)
    else:
        with connection.cursor() as cursor:
            for i, (obj, (sql, fields, auto_pk)) in enumerate(zip(objs, plans, strict=True)):
                cursor.execute(sql, [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields])
                if auto_pk is not None:
                    returned[i] = cursor.fetchone()
    for obj, (_, _, auto_pk), row in zip(objs, plans, returned, strict=True):
        if auto_pk is not None:
            setattr(obj, auto_pk.attname, auto_pk.to_python(row[0]))
        obj._state.adding = False
        obj._state.db = using


@functools.cache
def _combined(model_types: tuple[type[models.Model], ...], using: str) -> tuple[str, tuple[int, ...]]:
    """One statement for several INSERTs: `WITH s0 AS (INSERT ...), ... SELECT <auto keys>`, and
    which statements' keys the SELECT returns, in order. (Keyed by the model classes: hashing the
    plans' field tuples would run Field.__hash__ for every column on every decision.)"""
    plans = [_insert_plan(model, using) for model in model_types]
    if len(plans) == 1:
        return plans[0][0], ((0,) if plans[0][2] is not None else ())
    quote = connections[using].ops.quote_name
    ctes, returning = [], []
    for i, (sql, _, auto_pk) in enumerate(plans):
        ctes.append(f"s{i} AS ({sql})")
        if auto_pk is not None:
            returning.append(i)
    # names from model metadata, values bound
    keys = ", ".join(f"(SELECT {quote(plans[i][2].column)} FROM s{i})" for i in returning) or "1"  # noqa: S608
    return f"WITH {', '.join(ctes)} SELECT {keys}", tuple(returning)


@functools.cache
def _cursor_class() -> type:
    """A psycopg cursor that converts each of these few, fixed statements once.

    psycopg caches its %s -> $n conversion only for queries with at most 50 parameters, so the
    combined statement (~60) was re-parsed on every call — a regex split of the whole statement,
    5 % of a worker's CPU under load (py-spy). Same conversion function, memoised."""
    import psycopg
    from psycopg import _queries  # the conversion psycopg itself uses (pinned version)
    from psycopg.pq import ExecStatus

    convert = functools.lru_cache(maxsize=256)(_queries._query2pg_nocache)

    class Query(_queries.PostgresQuery):
        def convert(self, query: Any, vars: Any) -> None:
            self.query, self._want_formats, self._order, self._parts = convert(query, self._tx.encoding)
            self.dump(vars)

    class Cursor(psycopg.Cursor):  # type: ignore[type-arg]
        _query_cls = Query

        def first_row(self) -> tuple[Any, ...] | None:
            """The first row if the statement returned rows, else None — decided as
            `description` decides it, without building a Column object per column (`description`
            was ~5 % of `_execute_prepared`'s CPU, py-spy)."""
            result = self.pgresult
            if result is not None and (result.nfields or result.status == ExecStatus.TUPLES_OK):
                return self.fetchone()
            return None

    return Cursor


def select_one(sql: str, params: list[Any], *, using: str = "default") -> tuple[Any, ...] | None:
    """The first row of a fixed hot-path query (`%s` placeholders), or None. On PostgreSQL a
    server-side prepared statement with its conversion memoised, as `insert_new`'s INSERTs;
    elsewhere, or with an execute wrapper installed, Django's cursor.

    It is a read, so when it is the request's first use of a connection that Django would
    health-check (`CONN_HEALTH_CHECKS`), it *is* the health check: a connection found broken (a
    database restarted or failed over since its last request) is replaced and the read asked again
    once, and a read that succeeds spares the request Django's own `SELECT 1` round trip."""
    connection = connections[using]
    if connection.vendor != "postgresql" or connection.execute_wrappers:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    checks_health = connection.health_check_enabled and not connection.health_check_done
    if not checks_health or connection.in_atomic_block:
        return _execute_prepared(connection, sql, params)
    had_connection = connection.connection is not None
    try:
        row = _execute_prepared(connection, sql, params)
    except OperationalError:
        # Asked again only on a connection that was open and is now found dead; not after a failed
        # connect (a database down would cost two connect timeouts), not after a real error on a
        # live connection (a statement timeout).
        if not had_connection or connection.is_usable():
            raise
        connection.close()  # the next statement connects afresh
        row = _execute_prepared(connection, sql, params)
    connection.health_check_done = True
    return row


def _execute_prepared(connection: Any, sql: str, params: list[Any]) -> tuple[Any, ...] | None:
    """Execute one fixed statement on Django's psycopg connection as a server-side prepared
    statement (its %s conversion memoised) and return its first row, if it returns rows; with
    Django's error translation, and recorded as Django's debug cursor records statements."""
    connection.ensure_connection()
    connection.validate_no_broken_transaction()
    started = time.monotonic()
    with connection.wrap_database_errors, _cursor_class()(connection.connection) as cursor:
        cursor.execute(_encoded(sql), params, prepare=True)
        row = cursor.first_row()
    _record(connection, sql, params, time.monotonic() - started)
    return row


def _record(connection: Any, sql: str, params: Any, duration: float) -> None:
    if connection.queries_logged:  # as Django's debug cursor records and logs its statements
        connection.queries_log.append({"sql": sql, "time": f"{duration:.3f}"})
        _sql_logger.debug(
            "(%.3f) %s; args=%s; alias=%s", duration, sql, params, connection.alias,
            extra={"duration": duration, "sql": sql, "params": params, "alias": connection.alias},
        )


@functools.cache
def _encoded(sql: str) -> bytes:  # the same bytes object each time: its hash is computed once
    return sql.encode()
