"""The floor of issue 11's cost target: one bare model predict plus one insert of a decision row.

One implementation, measured two ways by `bench/load.py`:
- in a process of its own (`python -m bench.floor measure`), back to back and at 100/s;
- served (`bench/floor_wsgi.py`): the same server, worker and thread settings and the same load
  generator as the decision API, each request one predict and one insert — so the decision API's
  latency at 100/s is compared with the floor's under the same conditions: loopback HTTP, the
  server's hand-off to a Python thread, a PostgreSQL connection per thread.

The insert goes into `bench_floor_decision`, a real, logged table with the decision table's
columns, indexes and defaults (a TEMP table would skip the WAL and the commit's fsync), created
before the floor is measured and dropped after (`python -m bench.floor create|drop`). The row is a
stored decision's, with fresh unique values per insert, the JSON columns sent as text.

Needs Django set up on the bench database (bench/load.py's environment).
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from typing import Any

TABLE = "bench_floor_decision"


def create_table() -> None:
    """The floor's table; and, on a database with no decision yet, one decision through the API's
    code (Django's test client, the bench token) for the floor's row to copy."""
    from django.db import connection

    from decisioning.models import Decision

    if not Decision.objects.exists():
        from bench.load import inprocess_decider

        inprocess_decider(1, prefix="FLOOR")()
    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
        cur.execute(f"CREATE TABLE {TABLE} (LIKE decisioning_decision INCLUDING ALL)")


def drop_table() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {TABLE}")


class Floor:
    """Call it once per floor operation: a bare predict (the champion's PD for one feature vector)
    and one autocommitted insert of a decision-shaped row. Safe to call from several threads (each
    uses its own Django connection; the row template is copied per call)."""

    def __init__(self) -> None:
        import datetime as dt

        from django.db import connection

        from decisioning.models import Decision, Product
        from decisioning.signals.gateway import simulated_signals
        from modeling.features import build_vector
        from modeling.serving import get_scorer
        from modeling.synthetic import generate

        product = Product.objects.get(code="personal-loan")
        scorer, error = get_scorer(product.code)
        if scorer is None:
            raise RuntimeError(f"no champion for the floor: {error}")
        now = dt.datetime.now(dt.UTC)
        case = generate(1, seed=99, start=now - dt.timedelta(days=1), end=now)[0]
        self.scorer = scorer
        self.vector = build_vector(case.app, simulated_signals(case.app, now=now), as_of=now.date())
        columns = [f.column for f in Decision._meta.concrete_fields]
        with connection.cursor() as cur:
            cur.execute("SELECT " + ",".join(columns) + " FROM decisioning_decision LIMIT 1")
            stored = cur.fetchone()
        if stored is None:
            raise RuntimeError("the floor copies a stored decision's row: run create_table() first")
        self.row = [json.dumps(v) if isinstance(v, dict | list) else v for v in stored]
        # unique per insert: the ids, and the Idempotency-Key per client
        self.unique = [columns.index("id"), columns.index("application_id"), columns.index("idempotency_key")]
        placeholders = ",".join(["%s"] * len(columns))
        # names from model metadata, values bound
        self.sql = f"INSERT INTO {TABLE} ({','.join(columns)}) VALUES ({placeholders})"
        self.connection = connection  # Django's proxy: each thread's own connection

    def __call__(self) -> None:
        self.scorer.pd_only([self.vector])
        row = list(self.row)
        id_index, app_index, key_index = self.unique
        row[id_index], row[app_index] = uuid.uuid4(), uuid.uuid4()
        row[key_index] = f"floor-{row[id_index].hex}"
        with self.connection.cursor() as cur:
            cur.execute(self.sql, row)


def measure(paced_seconds: float) -> dict[str, Any]:
    """The floor back to back, and with `paced_seconds` at 100/s for that long: a paced insert's
    tail is the disk's commit (fsync) tail, which bounds every committed decision's P99 here."""
    from bench.service import measure_calls

    return measure_calls(Floor(), back_to_back=500, paced_seconds=paced_seconds)


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    action = sys.argv[1] if len(sys.argv) > 1 else "measure"
    if action == "create":
        create_table()
    elif action == "drop":
        drop_table()
    elif action == "measure":
        create_table()
        try:
            print(json.dumps(measure(float(os.environ.get("FLOOR_PACED_SECONDS", "0")))))
        finally:
            drop_table()
    else:
        sys.exit(f"unknown action {action!r}: create, drop or measure")
