"""Writing a chunk's results: `bulk_create`, or PostgreSQL COPY (psycopg 3 `cursor.copy`).

Both run inside the caller's transaction (the one that also finishes the chunk), so a chunk's
results are all there or none are. Plain inserts only, never upserts: the (batch, item) unique
constraint turns a second write of an item into an error, never into a silent replacement.
COPY is the default on PostgreSQL (bench/bench_batch.py measures both).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from decisioning.batches.engine import ItemResult
from decisioning.models import BatchResult

COLUMNS = (
    "batch_id", "item", "reference", "application_id", "outcome", "pd", "pd_lower", "pd_upper",
    "approved_amount", "reasons", "original_outcome", "original_pd", "error",
)


def default_method() -> str:
    return "copy" if connection.vendor == "postgresql" else "bulk"


def store(batch_id: int, results: Sequence[ItemResult], *, method: str | None = None) -> None:
    method = method or default_method()
    if method == "copy" and connection.vendor == "postgresql":
        _copy(batch_id, results)
    else:
        _bulk(batch_id, results)


def _bulk(batch_id: int, results: Sequence[ItemResult]) -> None:
    BatchResult.objects.bulk_create(
        [
            BatchResult(
                batch_id=batch_id, item=r.item, reference=r.reference[:64],
                application_id=r.application_id, outcome=r.outcome, pd=r.pd, pd_lower=r.pd_lower,
                pd_upper=r.pd_upper, approved_amount=r.approved_amount, reasons=r.reasons,
                original_outcome=r.original_outcome, original_pd=r.original_pd, error=r.error,
            )
            for r in results
        ],
        batch_size=2000,
    )


def _copy(batch_id: int, results: Sequence[ItemResult]) -> None:
    table = BatchResult._meta.db_table
    connection.ensure_connection()
    # The raw psycopg 3 cursor: same connection, so the same transaction as the chunk's finish.
    sql = f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN"
    with connection.connection.cursor() as cur, cur.copy(sql) as copy:
        for r in results:
            copy.write_row((
                batch_id, r.item, r.reference[:64], r.application_id, r.outcome, r.pd,
                r.pd_lower, r.pd_upper, r.approved_amount, r.reasons, r.original_outcome,
                r.original_pd, r.error,
            ))
