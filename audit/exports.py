"""Decision exports for regulators: JSONL + CSV + a manifest, streamed with flat memory.

One pass over the decisions, in keyset-paginated chunks ordered by (created_at, id); each chunk
is turned into JSONL lines and CSV rows and dropped. The manifest records what was asked for,
how many records each file holds, each file's SHA-256 and the sealed chain head at the start,
and the export itself is written to the audit chain (`export.created`) with the same content.

By default the direct identifiers of applicants (names, date of birth, postcode) are left out —
each record still carries the identity hash and the age at decision; an export for a complaint
or a regulator's request that needs them asks for `personal_data` explicitly, and the manifest
and the audit event say that it did.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from audit.canonical import canonical_json_of_loaded
from audit.models import AuditEvent
from audit.selectors import chain_head
from audit.services import Actor, audit_record
from decisioning.models import Decision
from decisioning.selectors import final_outcome
from modeling.features import age_years

FORMAT = "verdict-decision-export/1"
JSONL_NAME, CSV_NAME, MANIFEST_NAME = "decisions.jsonl", "decisions.csv", "manifest.json"
CHUNK = 1000

CSV_COLUMNS = [
    "decision_id",
    "created_at",
    "product",
    "client",
    "outcome",
    "final_outcome",
    "pd",
    "pd_lower",
    "pd_upper",
    "approved_amount",
    "reason_codes",
    "ruleset_version",
    "feature_version",
    "model_name",
    "model_version",
    "model_hash",
    "degraded",
    "requested_amount",
    "term_months",
    "purpose",
    "annual_income",
    "age_at_decision",
    "identity_hash",
    "review_status",
    "audit_event_seq",
    "audit_event_position",
    "audit_event_hash",
]
PERSONAL_COLUMNS = ["first_name", "last_name", "date_of_birth", "postcode"]


@dataclass(frozen=True, slots=True)
class ExportFilter:
    date_from: dt.datetime | None = None
    date_to: dt.datetime | None = None
    product: str | None = None
    decision_ids: tuple[str, ...] = ()
    personal_data: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
            "product": self.product,
            "decision_ids": list(self.decision_ids),
            "personal_data": self.personal_data,
        }


@dataclass
class FileStats:
    name: str
    records: int = 0
    bytes: int = 0
    sha256: Any = field(default_factory=hashlib.sha256)

    def add(self, data: bytes, records: int = 0) -> bytes:
        self.sha256.update(data)
        self.bytes += len(data)
        self.records += records
        return data

    def as_dict(self) -> dict[str, Any]:
        return {"records": self.records, "bytes": self.bytes, "sha256": self.sha256.hexdigest()}


def export_queryset(f: ExportFilter) -> QuerySet[Decision]:
    qs = Decision.objects.all()
    if f.date_from:
        qs = qs.filter(created_at__gte=f.date_from)
    if f.date_to:
        qs = qs.filter(created_at__lt=f.date_to)
    if f.product:
        qs = qs.filter(product__code=f.product)
    if f.decision_ids:
        qs = qs.filter(pk__in=list(f.decision_ids))
    return qs.order_by("created_at", "id")


#: The JSON columns, read as text and decoded with orjson (`canonical_json_of_loaded`): Django's
#: JSONField decodes them with the standard library, which was a third of the export's time.
JSON_COLUMNS = ("reasons", "rule_results", "features", "signals", "explanation", "counterfactual")
_APPLICATION_FIELDS = (
    "reference",
    "identity_hash",
    "date_of_birth",
    "uk_resident",
    "residential_status",
    "months_at_address",
    "employment_status",
    "months_in_employment",
    "annual_income",
    "monthly_expenditure",
    "existing_debt",
    "monthly_debt_payments",
    "dependants",
    "requested_amount",
    "term_months",
    "purpose",
    "bankrupt_or_iva",
    "submitted_at",
    "first_name",
    "last_name",
    "postcode",
)
_DECIMAL_APPLICATION_FIELDS = frozenset(
    {
        "annual_income",
        "monthly_expenditure",
        "existing_debt",
        "monthly_debt_payments",
        "requested_amount",
    }
)
_FIELDS = (
    "id",
    "created_at",
    "product__code",
    "client__name",
    "outcome",
    "pd",
    "pd_lower",
    "pd_upper",
    "approved_amount",
    "ruleset_version",
    "feature_version",
    "model_name",
    "model_version",
    "model_hash",
    "degraded",
    "request_id",
    "request_hash",
    "review_case__id",
    "review_case__status",
    "review_case__final_outcome",
    "review_case__decided_at",
    *(f"application__{name}" for name in _APPLICATION_FIELDS),
    *(f"{name}_text" for name in JSON_COLUMNS),
)
_ROW = {name: i for i, name in enumerate(_FIELDS)}
Row = tuple[Any, ...]


def iter_rows(f: ExportFilter, *, chunk: int = CHUNK) -> Iterator[tuple[list[Row], dict[str, Any]]]:
    """Pages of decisions as plain tuples (`_FIELDS`), with their `decision.created` events.

    Keyset-paginated on (created_at, id): each page is one index range scan however deep the
    export is, one query for the decisions (application, product, client and review case
    joined) and one for their events, and only one page is in memory.
    """
    base = export_queryset(f).annotate(
        **{f"{name}_text": Cast(name, TextField()) for name in JSON_COLUMNS}
    )
    last: tuple[dt.datetime, uuid.UUID] | None = None
    created, pk = _ROW["created_at"], _ROW["id"]
    while True:
        qs = base
        if last is not None:
            # The plain range makes it an index range scan; the OR alone is not sargable and
            # would re-scan everything before the cursor on every page (quadratic).
            qs = qs.filter(created_at__gte=last[0]).filter(
                Q(created_at__gt=last[0]) | Q(created_at=last[0], id__gt=last[1])
            )
        rows = list(qs.values_list(*_FIELDS)[:chunk])
        if not rows:
            return
        events = {
            subject_id: (seq, position, digest)
            for subject_id, seq, position, digest in AuditEvent.objects.filter(
                subject_type="decision",
                event_type="decision.created",
                subject_id__in=[str(r[pk]) for r in rows],
            )
            .order_by("seq")
            .values_list("subject_id", "seq", "position", "hash")
        }
        yield rows, events
        last = (rows[-1][created], rows[-1][pk])


def iter_decisions(f: ExportFilter, *, chunk: int = CHUNK) -> Iterator[list[str]]:
    """The exported decision ids, page by page (what `iter_rows` walks)."""
    for rows, _events in iter_rows(f, chunk=chunk):
        yield [str(r[_ROW["id"]]) for r in rows]


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError(f"not canonical-JSON serialisable: {value!r}")
    return value


def _record(
    row: Row,
    event: tuple[int, int | None, str | None] | None,
    personal: bool,
    loads: Callable[[str], Any] = json.loads,
) -> dict[str, Any]:
    """One decision as the JSONL record (the format is `FORMAT`; see docs/audit.md)."""
    r = _ROW
    app_value = {name: row[r[f"application__{name}"]] for name in _APPLICATION_FIELDS}
    created_at: dt.datetime = row[r["created_at"]]
    application: dict[str, Any] = {
        "reference": app_value["reference"],
        "identity_hash": app_value["identity_hash"],
        "age_at_decision": age_years(app_value["date_of_birth"], created_at.date()),
        "uk_resident": app_value["uk_resident"],
        "residential_status": app_value["residential_status"],
        "months_at_address": app_value["months_at_address"],
        "employment_status": app_value["employment_status"],
        "months_in_employment": app_value["months_in_employment"],
        "dependants": app_value["dependants"],
        "term_months": app_value["term_months"],
        "purpose": app_value["purpose"],
        "bankrupt_or_iva": app_value["bankrupt_or_iva"],
        "submitted_at": app_value["submitted_at"].isoformat(),
    }
    for name in _DECIMAL_APPLICATION_FIELDS:
        application[name] = str(app_value[name])
    if personal:
        application.update(
            first_name=app_value["first_name"],
            last_name=app_value["last_name"],
            date_of_birth=app_value["date_of_birth"].isoformat(),
            postcode=app_value["postcode"],
        )
    outcome = row[r["outcome"]]
    has_case = row[r["review_case__id"]] is not None
    case_outcome = row[r["review_case__final_outcome"]]
    final = final_outcome(
        decision=SimpleNamespace(  # type: ignore[arg-type]  # what the selector reads
            outcome=outcome,
            review_case=SimpleNamespace(final_outcome=case_outcome) if has_case else None,
        )
    )
    decided_at = row[r["review_case__decided_at"]]
    approved = row[r["approved_amount"]]
    model_name = row[r["model_name"]]
    record = {
        "decision_id": str(row[r["id"]]),
        "created_at": created_at.isoformat(),
        "product": row[r["product__code"]],
        "client": row[r["client__name"]],
        "outcome": outcome,
        "final_outcome": final,
        "pd": _finite(row[r["pd"]]),
        "pd_lower": _finite(row[r["pd_lower"]]),
        "pd_upper": _finite(row[r["pd_upper"]]),
        "approved_amount": None if approved is None else str(approved),
        "ruleset_version": row[r["ruleset_version"]],
        "feature_version": row[r["feature_version"]],
        "model": {
            "name": model_name,
            "version": row[r["model_version"]],
            "hash": row[r["model_hash"]],
        }
        if model_name
        else None,
        "degraded": row[r["degraded"]],
        "request_id": row[r["request_id"]],
        "request_hash": row[r["request_hash"]],
        "application": application,
        "review": {
            "status": row[r["review_case__status"]],
            "final_outcome": case_outcome or None,
            "decided_at": decided_at.isoformat() if decided_at else None,
        }
        if has_case
        else None,
        "audit_event": {"seq": event[0], "position": event[1], "hash": event[2]} if event else None,
    }
    for name in JSON_COLUMNS:
        text = row[r[f"{name}_text"]]
        record[name] = None if text is None else loads(text)
    return record


def _csv_row(rec: dict[str, Any], personal: bool) -> list[Any]:
    app, model, event = rec["application"], rec["model"] or {}, rec["audit_event"] or {}
    row = [
        rec["decision_id"],
        rec["created_at"],
        rec["product"],
        rec["client"],
        rec["outcome"],
        rec["final_outcome"] or "",
        _num(rec["pd"]),
        _num(rec["pd_lower"]),
        _num(rec["pd_upper"]),
        rec["approved_amount"] or "",
        " ".join(r["code"] for r in rec["reasons"]),
        rec["ruleset_version"],
        rec["feature_version"],
        model.get("name", ""),
        model.get("version", ""),
        model.get("hash", ""),
        "true" if rec["degraded"] else "false",
        app["requested_amount"],
        app["term_months"],
        app["purpose"],
        app["annual_income"],
        app["age_at_decision"],
        app["identity_hash"],
        (rec["review"] or {}).get("status", ""),
        event.get("seq", ""),
        event.get("position") or "",
        event.get("hash") or "",
    ]
    if personal:
        row += [app["first_name"], app["last_name"], app["date_of_birth"], app["postcode"]]
    return row


def _num(value: float | None) -> str:
    return "" if value is None else repr(value)  # repr: the shortest string that round-trips


def render_chunks(f: ExportFilter, *, chunk: int = CHUNK) -> Iterator[tuple[bytes, bytes, int]]:
    """(JSONL bytes, CSV bytes, records) per page; the first item carries the CSV header.

    Each page is rendered into two buffers and handed over whole (about 7 MB of JSONL for
    1,000 decisions), so files are written and hashed in large blocks.
    """
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(
        CSV_COLUMNS + (PERSONAL_COLUMNS if f.personal_data else [])
    )
    yield b"", header.getvalue().encode(), 0
    personal = f.personal_data
    pk = _ROW["id"]
    for rows, events in iter_rows(f, chunk=chunk):
        lines: list[bytes] = []
        cs = io.StringIO()
        writer = csv.writer(cs, lineterminator="\n")
        for row in rows:
            build = partial(_record, row, events.get(str(row[pk])), personal)
            record, line = canonical_json_of_loaded(build)
            lines.append(line)
            writer.writerow(_csv_row(record, personal))
        lines.append(b"")
        yield b"\n".join(lines), cs.getvalue().encode(), len(rows)


def _manifest(
    export_id: str,
    f: ExportFilter,
    actor: Actor,
    started: dt.datetime,
    head: tuple[int, str],
    files: Iterable[FileStats],
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "export_id": export_id,
        "generated_at": started.isoformat(),
        "generated_by": {"type": actor.type, "id": actor.id, "display": actor.display},
        "filters": f.as_dict(),
        "files": {s.name: s.as_dict() for s in files},
        "chain_head": {"position": head[0], "hash": head[1]},
    }


def _record_export(manifest: dict[str, Any], actor: Actor) -> dict[str, Any]:
    with transaction.atomic():
        event = audit_record(
            actor=actor,
            event_type="export.created",
            subject_type="export",
            subject_id=manifest["export_id"],
            payload=manifest,
        )
    return {**manifest, "audit_event": {"seq": event.seq}}


def export_to_directory(
    *,
    f: ExportFilter,
    directory: Path,
    actor: Actor,
    chunk: int = CHUNK,
    progress: Callable[[int], object] | None = None,
) -> dict[str, Any]:
    """Write decisions.jsonl, decisions.csv and manifest.json into `directory` (the CLI).

    `progress(n)` is called after each page with the number of decisions it wrote.
    """
    directory.mkdir(parents=True, exist_ok=True)
    export_id, started, head = uuid.uuid4().hex, timezone.now(), chain_head()
    jstats, cstats = FileStats(JSONL_NAME), FileStats(CSV_NAME)
    with (directory / JSONL_NAME).open("wb") as jf, (directory / CSV_NAME).open("wb") as cf:
        for jl, cs, n in render_chunks(f, chunk=chunk):
            jf.write(jstats.add(jl, n))
            cf.write(cstats.add(cs, n))
            if progress is not None and n:
                progress(n)
    manifest = _record_export(
        _manifest(export_id, f, actor, started, head, (jstats, cstats)), actor
    )
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


class _Pipe:
    """A write-only sink the zip writes into and the response generator drains."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        out = bytes(self.buffer)
        self.buffer.clear()
        return out


def export_zip_stream(*, f: ExportFilter, actor: Actor, chunk: int = CHUNK) -> Iterator[bytes]:
    """A zip (decisions.jsonl, decisions.csv, manifest.json) produced while it is sent.

    The CSV is spooled to a temporary file while the JSONL streams (one database pass, so both
    files hold exactly the same decisions), then copied into the zip; memory stays flat.
    """
    import tempfile

    export_id, started, head = uuid.uuid4().hex, timezone.now(), chain_head()
    jstats, cstats = FileStats(JSONL_NAME), FileStats(CSV_NAME)
    pipe = _Pipe()
    with tempfile.TemporaryFile() as spool, zipfile.ZipFile(pipe, "w", zipfile.ZIP_DEFLATED) as zf:  # type: ignore[arg-type]
        with zf.open(JSONL_NAME, "w", force_zip64=True) as entry:
            for jl, cs, n in render_chunks(f, chunk=chunk):
                entry.write(jstats.add(jl, n))
                spool.write(cstats.add(cs, n))
                if len(pipe.buffer) > 1 << 16:
                    yield pipe.drain()
        yield pipe.drain()
        spool.seek(0)
        with zf.open(CSV_NAME, "w", force_zip64=True) as entry:
            for block in iter(lambda: spool.read(1 << 20), b""):
                entry.write(block)
                yield pipe.drain()
        manifest = _record_export(
            _manifest(export_id, f, actor, started, head, (jstats, cstats)), actor
        )
        zf.writestr(MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    yield pipe.drain()


def export_filename(started: dt.datetime | None = None) -> str:
    return f"verdict-decisions-{(started or timezone.now()).strftime('%Y%m%dT%H%M%SZ')}.zip"
