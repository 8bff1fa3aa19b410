"""Writing a chunk's results: `bulk_create`, or PostgreSQL COPY (psycopg 3 `cursor.copy`, one
text block per chunk built column by column).

Both run inside the caller's transaction (the one that also finishes the chunk), so a chunk's
results are all there or none are. Plain inserts only, never upserts: the (batch, item) unique
constraint turns a second write of an item into an error, never into a silent replacement.
COPY is the default on PostgreSQL (bench/bench_batch.py measures both).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from decisioning.batches.engine import ChunkResults, ItemResult
from decisioning.models import BatchResult

COLUMNS = (
    "batch_id", "item", "reference", "application_id", "outcome", "pd", "pd_lower", "pd_upper",
    "approved_amount", "reasons", "original_outcome", "original_pd", "error",
)


def default_method() -> str:
    return "copy" if connection.vendor == "postgresql" else "bulk"


def store(batch_id: int, results: ChunkResults | Sequence[ItemResult], *, method: str | None = None) -> None:
    if not isinstance(results, ChunkResults):
        results = ChunkResults.from_items(results)
    method = method or default_method()
    if method == "copy" and connection.vendor == "postgresql":
        _copy(batch_id, results)
    else:
        _bulk(batch_id, results)


def _bulk(batch_id: int, results: ChunkResults) -> None:
    BatchResult.objects.bulk_create(
        [
            BatchResult(
                batch_id=batch_id, item=r.item, reference=r.reference[:64],
                application_id=r.application_id, outcome=r.outcome, pd=r.pd, pd_lower=r.pd_lower,
                pd_upper=r.pd_upper, approved_amount=r.approved_amount, reasons=r.reasons,
                original_outcome=r.original_outcome, original_pd=r.original_pd, error=r.error,
            )
            for r in results.items()
        ],
        batch_size=2000,
    )


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
NULL = "\\N"


def _text(values: list[str] | list[str | None], limit: int | None = None) -> list[str]:
    """COPY text format: backslash, tab, newline and carriage return escaped; None as \\N."""
    vals = [v if v is None or limit is None else v[:limit] for v in values]
    joined = "".join(v for v in vals if v is not None)
    if any(ch in joined for ch in "\\\t\n\r"):
        vals = [None if v is None else v.translate(_ESCAPES) for v in vals]
    return [NULL if v is None else v for v in vals]


def _floats(values: list[float | None]) -> list[str]:
    # repr is the shortest string that reads back as the same double (PostgreSQL float8 too).
    return [NULL if v is None else repr(v) for v in values]


def copy_text(batch_id: int, r: ChunkResults) -> str:
    """The chunk as one COPY text block, built column by column (a join per row, no per-value
    Python call on the common columns)."""
    n = len(r)
    columns = [
        [str(batch_id)] * n,
        list(map(str, r.item)),
        _text(r.reference, 64),
        [NULL if v is None else v for v in r.application_id],
        _text(r.outcome),
        _floats(r.pd),
        _floats(r.pd_lower),
        _floats(r.pd_upper),
        [NULL if v is None else str(v) for v in r.approved_amount],
        _text(r.reasons),
        _text(r.original_outcome),
        _floats(r.original_pd),
        _text(r.error),
    ]
    return "".join(line + "\n" for line in map("\t".join, zip(*columns, strict=True)))


def _copy(batch_id: int, results: ChunkResults) -> None:
    table = BatchResult._meta.db_table
    connection.ensure_connection()
    # The raw psycopg 3 cursor: same connection, so the same transaction as the chunk's finish.
    sql = f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN"
    with connection.connection.cursor() as cur, cur.copy(sql) as copy:
        copy.write(copy_text(batch_id, results).encode())
