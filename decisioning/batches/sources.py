"""Where a batch's applications come from, streamed chunk by chunk (memory flat in batch size).

- stored: decisions of a product in a date range, by keyset pages of their ids; each item is
  re-decided from its stored application and stored signal responses as of its decision date
  (exactly what replay and impact simulation use), and compared with its original decision;
- upload: a CSV of API-shaped applications (one row per line, the API's field names; validated
  by the API's own serializers); chunks remember the byte offset of their first row;
- generated: `modeling.synthetic.generate`, seeded per chunk, so a re-run chunk regenerates
  exactly the same applications.

Uploaded and generated applications get the deterministic simulators' signals: a batch never
calls a live provider (cost, rate limits and the bureau's footprint on the applicant's file).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from decisioning.batches.engine import BatchItem
from decisioning.models import Batch, BatchChunk, Decision
from decisioning.signals.gateway import signals_from_stored, simulated_signals
from decisioning.snapshots import application_data

APPLICANT_COLUMNS = (
    "first_name", "last_name", "date_of_birth", "postcode", "uk_resident", "residential_status",
    "months_at_address", "employment_status", "months_in_employment", "annual_income",
    "monthly_expenditure", "existing_debt", "monthly_debt_payments", "dependants", "bankrupt_or_iva",
)
LOAN_COLUMNS = ("amount", "term_months", "purpose")
CSV_COLUMNS = ("reference", *APPLICANT_COLUMNS, *LOAN_COLUMNS)
REQUIRED_COLUMNS = frozenset(CSV_COLUMNS) - {"reference", "bankrupt_or_iva"}
GENERATED_WINDOW = dt.timedelta(days=30)

_APPLICATION_FIELDS = (
    "first_name", "last_name", "date_of_birth", "postcode", "uk_resident", "residential_status",
    "months_at_address", "employment_status", "months_in_employment", "annual_income",
    "monthly_expenditure", "existing_debt", "monthly_debt_payments", "dependants",
    "requested_amount", "term_months", "purpose", "bankrupt_or_iva", "submitted_at", "reference",
)


@dataclass(frozen=True, slots=True)
class ChunkSpec:
    start: int
    size: int
    after_key: str = ""
    last_key: str = ""
    byte_offset: int | None = None


class CsvHeaderError(ValueError):
    pass


def uploads_dir() -> Path:
    path = Path(settings.VAR_DIR) / "batches"
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_csv_header(header: list[str]) -> None:
    names = [h.strip() for h in header]
    unknown = sorted(set(names) - set(CSV_COLUMNS))
    missing = sorted(REQUIRED_COLUMNS - set(names))
    problems = []
    if unknown:
        problems.append(f"unknown columns: {', '.join(unknown)}")
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if len(set(names)) != len(names):
        problems.append("duplicate columns")
    if problems:
        raise CsvHeaderError("; ".join(problems))


# ---- selection and planning ----------------------------------------------------------------------


def stored_selection(batch: Batch) -> Any:
    qs = Decision.objects.filter(product_id=batch.product_id)
    if batch.client_id is not None:
        qs = qs.filter(client_id=batch.client_id)
    if batch.date_from is not None:
        qs = qs.filter(created_at__gte=batch.date_from)
    if batch.date_to is not None:
        qs = qs.filter(created_at__lt=batch.date_to)
    return qs


def plan(batch: Batch) -> Iterator[ChunkSpec]:
    """The chunks of the batch's selection, produced without holding the selection in memory."""
    size = batch.chunk_size
    if batch.source == Batch.Source.GENERATED:
        n = batch.generate_count or 0
        for start in range(0, n, size):
            yield ChunkSpec(start=start, size=min(size, n - start))
    elif batch.source == Batch.Source.STORED:
        qs = stored_selection(batch).order_by("pk")
        after: Any = None
        start = 0
        while True:
            page = qs if after is None else qs.filter(pk__gt=after)
            keys = list(page.values_list("pk", flat=True)[:size])
            if not keys:
                return
            yield ChunkSpec(start=start, size=len(keys), after_key="" if after is None else str(after),
                            last_key=str(keys[-1]))
            start += len(keys)
            after = keys[-1]
    else:
        with open(batch.upload_path, "rb") as f:
            f.readline()  # header
            start, offset, rows, first = 0, f.tell(), 0, None
            for line in iter(f.readline, b""):
                if not line.strip():
                    offset += len(line)
                    continue
                if first is None:
                    first = offset
                rows += 1
                offset += len(line)
                if rows == size:
                    yield ChunkSpec(start=start, size=rows, byte_offset=first)
                    start, rows, first = start + rows, 0, None
            if rows:
                yield ChunkSpec(start=start, size=rows, byte_offset=first)


# ---- loading one chunk ---------------------------------------------------------------------------


def load_items(batch: Batch, chunk: BatchChunk) -> tuple[list[BatchItem], list[tuple[int, str, str]]]:
    """The chunk's items, and the rows that could not even be read as applications
    ((item, reference, error) — stored as error results)."""
    if batch.source == Batch.Source.GENERATED:
        return _generated(batch, chunk), []
    if batch.source == Batch.Source.STORED:
        return _stored(batch, chunk)
    return _uploaded(batch, chunk)


def _generated(batch: Batch, chunk: BatchChunk) -> list[BatchItem]:
    from modeling.synthetic import generate

    end = dt.datetime.combine(batch.as_of, dt.time(), tzinfo=dt.UTC)
    cases = generate(chunk.size, seed=batch.seed * 1_000_003 + chunk.seq, start=end - GENERATED_WINDOW, end=end)
    return [
        BatchItem(
            item=chunk.start + i,
            app=c.app,
            signals=c.signals,
            as_of=c.app.submitted_at.date() if c.app.submitted_at else batch.as_of,
            reference=f"GEN-{batch.pk}-{chunk.start + i}",
        )
        for i, c in enumerate(cases)
    ]


def _stored(batch: Batch, chunk: BatchChunk) -> tuple[list[BatchItem], list[tuple[int, str, str]]]:
    qs = stored_selection(batch).order_by("pk").select_related("application").only(
        "pk", "outcome", "pd", "signals", "created_at", "application_id",
        *(f"application__{name}" for name in _APPLICATION_FIELDS),
    )
    if chunk.after_key:
        qs = qs.filter(pk__gt=chunk.after_key)
    qs = qs.filter(pk__lte=chunk.last_key)
    items: list[BatchItem] = []
    failed: list[tuple[int, str, str]] = []
    for i, d in enumerate(qs[: chunk.size]):
        n = chunk.start + i
        reference = d.application.reference
        try:
            app = application_data(d.application)
            signals = signals_from_stored(d.signals)
        except (ValueError, TypeError, KeyError) as e:  # a malformed stored row: counted, not fatal
            failed.append((n, reference, f"{type(e).__name__}: {e}"[:300]))
            continue
        items.append(
            BatchItem(
                item=n, app=app, signals=signals, as_of=d.created_at.astimezone(dt.UTC).date(),
                reference=reference, application_id=str(d.application_id),
                original_outcome=d.outcome, original_pd=d.pd,
            )
        )
    return items, failed


def _csv_rows(batch: Batch, chunk: BatchChunk) -> list[dict[str, str]]:
    with open(batch.upload_path, "rb") as f:
        header = next(csv.reader([f.readline().decode("utf-8-sig")]))
        f.seek(chunk.byte_offset or 0)
        lines: list[str] = []
        while len(lines) < chunk.size:
            line = f.readline()
            if not line:
                break
            if line.strip():
                lines.append(line.decode("utf-8"))
    names = [h.strip() for h in header]
    return [dict(zip(names, row, strict=False)) for row in csv.reader(io.StringIO("".join(lines)))]


def request_body_from_row(row: dict[str, str], *, product: str) -> dict[str, Any]:
    """A CSV row as the API's request body (empty optional cells left out)."""
    applicant = {k: row[k] for k in APPLICANT_COLUMNS if k in row and not (k == "bankrupt_or_iva" and row[k] == "")}
    loan = {k: row[k] for k in LOAN_COLUMNS if k in row}
    return {"product": product, "reference": row.get("reference", ""), "applicant": applicant, "loan": loan}


def _uploaded(batch: Batch, chunk: BatchChunk) -> tuple[list[BatchItem], list[tuple[int, str, str]]]:
    from config.errors import ApplicationError
    from decisioning.apis import DecisionCreateIn, application_from_input
    from decisioning.services import _product_limits_check

    now = dt.datetime.combine(batch.as_of, dt.time(12), tzinfo=dt.UTC)
    items: list[BatchItem] = []
    failed: list[tuple[int, str, str]] = []
    for i, row in enumerate(_csv_rows(batch, chunk)):
        n = chunk.start + i
        reference = (row.get("reference") or "")[:64]
        data_in = DecisionCreateIn(data=request_body_from_row(row, product=batch.product.code))
        if not data_in.is_valid():
            failed.append((n, reference, _flatten(data_in.errors)[:300]))
            continue
        app = application_from_input(data_in.validated_data)
        try:
            _product_limits_check(product=batch.product, app=app)
        except ApplicationError as e:
            failed.append((n, reference, _flatten(e.errors) or e.message))
            continue
        items.append(BatchItem(item=n, app=app, signals=simulated_signals(app, now=now),
                               as_of=batch.as_of, reference=reference))
    return items, failed


def _flatten(errors: Any, prefix: str = "") -> str:
    if isinstance(errors, dict):
        return "; ".join(_flatten(v, f"{prefix}{k}.") for k, v in errors.items())
    if isinstance(errors, list):
        return f"{prefix.rstrip('.')}: " + " ".join(str(e) for e in errors if not isinstance(e, (dict, list)))
    return f"{prefix.rstrip('.')}: {errors}"
