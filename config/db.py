"""Inserting new rows on the decision hot path without re-compiling SQL for every call.

`Model.objects.create()` builds and compiles an INSERT through the ORM's query machinery on every
call (about a third of a millisecond of CPU for the decision's three rows: `bench/bench_insert.py`).
`insert_new` does the part that matters — each field's own `pre_save` and `get_db_prep_save`, so
values are converted exactly as the ORM converts them — and executes an INSERT statement built once
per model from its metadata. Short statements with few parameters also stay in psycopg's query
cache, so nothing is parsed twice on the client.

Only for plain inserts of brand-new instances (the decision, its application, its audit event):
no `pre_save`/`post_save` signals are sent (none of these models has receivers that act on an
insert), and no many-to-many or multi-table inheritance is supported — `_insert_plan` refuses such
models rather than silently writing half a row. Database defaults and triggers still apply.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import connections, models
from django.db.models.fields import AutoFieldMixin


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


def insert_new(*objs: models.Model, using: str = "default") -> None:
    """INSERT each unsaved instance, in order, on `using`'s connection (inside the caller's
    transaction). Auto primary keys are read back; afterwards each instance is as after `save()`."""
    connection = connections[using]
    with connection.cursor() as cursor:
        for obj in objs:
            if not obj._state.adding:
                raise ValueError(f"insert_new inserts new rows only; {obj!r} is already saved")
            sql, fields, auto_pk = _insert_plan(type(obj), using)
            params = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
            cursor.execute(sql, params)
            if auto_pk is not None:
                row = cursor.fetchone()
                setattr(obj, auto_pk.attname, auto_pk.to_python(row[0]) if row else cursor.lastrowid)
            obj._state.adding = False
            obj._state.db = using
