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
from django.db.models.functions import TruncDate

from decisioning.batches.engine import BatchItem
from decisioning.engine.types import (
    ApplicationData,
    EmploymentStatus,
    LoanPurpose,
    ResidentialStatus,
    Signals,
)
from decisioning.models import Batch, BatchChunk, Decision
from decisioning.signals.convert import SIGNAL_TYPES, from_response
from decisioning.signals.gateway import signals_from_stored
from decisioning.signals.simulated import simulate_many

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


# The stored decision and its application as one row of plain values (no model instances).
_STORED_VALUES = (
    "pk", "outcome", "pd", "signals", "as_of", "application_id",
    *(f"application__{name}" for name in _APPLICATION_FIELDS),
)
_ENUMS = {
    "residential_status": ResidentialStatus,
    "employment_status": EmploymentStatus,
    "purpose": LoanPurpose,
}
_ENUM_VALUES = {name: {m.value: m for m in enum} for name, enum in _ENUMS.items()}
_RECORD_KEYS = ("provider", "provider_version", "signal_type", "ok", "response", "response_sha256",
                "latency_ms", "fetched_at", "cache_hit")
_CACHED_SIGNALS = frozenset(SIGNAL_TYPES) - {"bureau"}  # few distinct answers; the bureau's are all different
_signal_cache: dict[tuple[Any, ...], Any] = {}


def _enum(name: str, value: Any) -> Any:
    member = _ENUM_VALUES[name].get(value)
    return member if member is not None else _ENUMS[name](value)  # raises ValueError as the model does


def _typed_signal(signal_type: str, response: dict[str, Any]) -> Any:
    """`from_response`, remembered for the signal types with few distinct answers (the typed
    signals are immutable, so rows may share one). The key carries each value's type: 1, 1.0 and
    True are equal in Python but not to `from_response`."""
    if signal_type not in _CACHED_SIGNALS:
        return from_response(signal_type, response)
    try:
        key = (signal_type, *((k, type(v), v) for k, v in response.items()))
        hit = _signal_cache.get(key)
    except TypeError:  # an unhashable value: malformed, let from_response say so
        return from_response(signal_type, response)
    if hit is None:
        hit = from_response(signal_type, response)
        if len(_signal_cache) > 50_000:
            _signal_cache.clear()
        _signal_cache[key] = hit
    return hit


def stored_signals(stored: Any) -> Signals:
    """`signals_from_stored` for a batch: the same typed signals, without rebuilding the
    provenance records (`Signals.records`; nothing in a batch reads them). Any stored list
    `signals_from_stored` would reject is handed to it, so it raises exactly the same error."""
    try:
        values: dict[str, Any] = dict.fromkeys(SIGNAL_TYPES)
        for item in stored:
            for key in _RECORD_KEYS:
                item[key]
            response = item["response"]
            if type(response) is not dict:
                dict(response)
            dt.datetime.fromisoformat(item["fetched_at"])
            if item["ok"]:
                values[item["signal_type"]] = _typed_signal(item["signal_type"], response)
        return Signals(**values)
    except Exception:  # malformed: the reference implementation gives the error
        return signals_from_stored(stored)


def _stored(batch: Batch, chunk: BatchChunk) -> tuple[list[BatchItem], list[tuple[int, str, str]]]:
    """One keyset page (the chunk's id range) read as value tuples and turned straight into the
    engine's items: no model instance per row (`application_data` + `signals_from_stored` gave the
    same applications and signals at ~3x the CPU; tests compare them)."""
    qs = stored_selection(batch).order_by("pk")
    if chunk.after_key:
        qs = qs.filter(pk__gt=chunk.after_key)
    qs = qs.filter(pk__lte=chunk.last_key)
    # The decision date computed by the database: Django's timestamptz loader is pure Python
    # (~4 us a value); `submitted_at` still comes through it, as `application_data` gets it.
    rows = qs.annotate(as_of=TruncDate("created_at", tzinfo=dt.UTC)).values_list(*_STORED_VALUES)[: chunk.size]
    items: list[BatchItem] = []
    failed: list[tuple[int, str, str]] = []
    for i, row in enumerate(rows):
        n = chunk.start + i
        (_pk, outcome, pd, stored, as_of, application_id,
         first_name, last_name, date_of_birth, postcode, uk_resident, residential_status,
         months_at_address, employment_status, months_in_employment, annual_income,
         monthly_expenditure, existing_debt, monthly_debt_payments, dependants,
         requested_amount, term_months, purpose, bankrupt_or_iva, submitted_at, reference) = row
        try:
            app = ApplicationData(
                first_name=first_name,
                last_name=last_name,
                date_of_birth=date_of_birth,
                postcode=postcode,
                uk_resident=uk_resident,
                residential_status=_enum("residential_status", residential_status),
                months_at_address=months_at_address,
                employment_status=_enum("employment_status", employment_status),
                months_in_employment=months_in_employment,
                annual_income=annual_income,
                monthly_expenditure=monthly_expenditure,
                existing_debt=existing_debt,
                monthly_debt_payments=monthly_debt_payments,
                dependants=dependants,
                requested_amount=requested_amount,
                term_months=term_months,
                purpose=_enum("purpose", purpose),
                bankrupt_or_iva=bankrupt_or_iva,
                submitted_at=submitted_at,
            )
            signals = stored_signals(stored)
        except (ValueError, TypeError, KeyError) as e:  # a malformed stored row: counted, not fatal
            failed.append((n, reference, f"{type(e).__name__}: {e}"[:300]))
            continue
        items.append(
            BatchItem(
                item=n, app=app, signals=signals, as_of=as_of,
                reference=reference, application_id=str(application_id),
                original_outcome=outcome, original_pd=pd,
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
    """Each row validated by the API's own serializers — through `StrictSerializer.validated`, the
    field tree built once and reused (a serializer instance per row deep-copies every declared field:
    ~1 ms a row), so the accepted values and the error messages are the API's — then the product's
    limits, then the simulators' signals for all valid rows at once (`simulate_many`: the same
    values as `simulated_signals`, without its per-row provenance records, which a batch does not
    keep)."""
    from rest_framework.exceptions import ValidationError

    from config.errors import ApplicationError
    from decisioning.apis import DecisionCreateIn, application_from_input
    from decisioning.services import _product_limits_check

    valid: list[tuple[int, str, ApplicationData]] = []
    failed: list[tuple[int, str, str]] = []
    product = batch.product
    for i, row in enumerate(_csv_rows(batch, chunk)):
        n = chunk.start + i
        reference = (row.get("reference") or "")[:64]
        try:
            data = DecisionCreateIn.validated(request_body_from_row(row, product=product.code))
        except ValidationError as e:
            failed.append((n, reference, _flatten(e.detail)[:300]))
            continue
        app = application_from_input(data)
        try:
            _product_limits_check(product=product, app=app)
        except ApplicationError as e:
            failed.append((n, reference, _flatten(e.errors) or e.message))
            continue
        valid.append((n, reference, app))
    apps = [app for _, _, app in valid]
    bureau, kyc, sanctions, fraud = simulate_many(apps)
    items = [
        BatchItem(item=n, app=app, signals=Signals(bureau=b, kyc=k, sanctions=s, fraud=f),
                  as_of=batch.as_of, reference=reference)
        for (n, reference, app), b, k, s, f in zip(valid, bureau, kyc, sanctions, fraud, strict=True)
    ]
    return items, failed


def _flatten(errors: Any, prefix: str = "") -> str:
    if isinstance(errors, dict):
        return "; ".join(_flatten(v, f"{prefix}{k}.") for k, v in errors.items())
    if isinstance(errors, list):
        return f"{prefix.rstrip('.')}: " + " ".join(str(e) for e in errors if not isinstance(e, (dict, list)))
    return f"{prefix.rstrip('.')}: {errors}"
