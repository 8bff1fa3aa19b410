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
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.canonical import canonical_json
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


def iter_decisions(
    f: ExportFilter, *, chunk: int = CHUNK
) -> Iterator[list[tuple[Decision, AuditEvent | None]]]:
    """Chunks of (decision, its `decision.created` event), keyset-paginated: each query is an
    index range scan however deep the export is, and only one chunk is ever in memory."""
    base = export_queryset(f).select_related("application", "product", "client", "review_case")
    last: tuple[dt.datetime, uuid.UUID] | None = None
    while True:
        qs = base
        if last is not None:
            # The plain range makes it an index range scan; the OR alone is not sargable and
            # would re-scan everything before the cursor on every chunk (quadratic).
            qs = qs.filter(created_at__gte=last[0]).filter(
                Q(created_at__gt=last[0]) | Q(created_at=last[0], id__gt=last[1])
            )
        decisions = list(qs[:chunk])
        if not decisions:
            return
        events = {
            e.subject_id: e
            for e in AuditEvent.objects.filter(
                subject_type="decision",
                event_type="decision.created",
                subject_id__in=[str(d.pk) for d in decisions],
            ).only("seq", "position", "hash", "subject_id")
        }
        yield [(d, events.get(str(d.pk))) for d in decisions]
        last = (decisions[-1].created_at, decisions[-1].pk)


def _record(d: Decision, event: AuditEvent | None, personal: bool) -> dict[str, Any]:
    app = d.application
    case = getattr(d, "review_case", None)
    application: dict[str, Any] = {
        "reference": app.reference,
        "identity_hash": app.identity_hash,
        "age_at_decision": age_years(app.date_of_birth, d.created_at.date()),
        "uk_resident": app.uk_resident,
        "residential_status": app.residential_status,
        "months_at_address": app.months_at_address,
        "employment_status": app.employment_status,
        "months_in_employment": app.months_in_employment,
        "annual_income": str(app.annual_income),
        "monthly_expenditure": str(app.monthly_expenditure),
        "existing_debt": str(app.existing_debt),
        "monthly_debt_payments": str(app.monthly_debt_payments),
        "dependants": app.dependants,
        "requested_amount": str(app.requested_amount),
        "term_months": app.term_months,
        "purpose": app.purpose,
        "bankrupt_or_iva": app.bankrupt_or_iva,
        "submitted_at": app.submitted_at.isoformat(),
    }
    if personal:
        application.update(
            first_name=app.first_name,
            last_name=app.last_name,
            date_of_birth=app.date_of_birth.isoformat(),
            postcode=app.postcode,
        )
    return {
        "decision_id": str(d.pk),
        "created_at": d.created_at.isoformat(),
        "product": d.product.code,
        "client": d.client.name,
        "outcome": d.outcome,
        "final_outcome": final_outcome(decision=d),
        "pd": d.pd,
        "pd_lower": d.pd_lower,
        "pd_upper": d.pd_upper,
        "approved_amount": None if d.approved_amount is None else str(d.approved_amount),
        "reasons": d.reasons,
        "rule_results": d.rule_results,
        "features": d.features,
        "signals": d.signals,
        "explanation": d.explanation,
        "counterfactual": d.counterfactual,
        "ruleset_version": d.ruleset_version,
        "feature_version": d.feature_version,
        "model": {"name": d.model_name, "version": d.model_version, "hash": d.model_hash}
        if d.model_name
        else None,
        "degraded": d.degraded,
        "request_id": d.request_id,
        "request_hash": d.request_hash,
        "application": application,
        "review": {
            "status": case.status,
            "final_outcome": case.final_outcome or None,
            "decided_at": case.decided_at.isoformat() if case.decided_at else None,
        }
        if case
        else None,
        "audit_event": {"seq": event.seq, "position": event.position, "hash": event.hash}
        if event
        else None,
    }


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
    """(JSONL bytes, CSV bytes, records) per chunk; the first item carries the CSV header."""
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(
        CSV_COLUMNS + (PERSONAL_COLUMNS if f.personal_data else [])
    )
    yield b"", header.getvalue().encode(), 0
    for rows in iter_decisions(f, chunk=chunk):
        jl, cs = io.StringIO(), io.StringIO()
        writer = csv.writer(cs, lineterminator="\n")
        for d, event in rows:
            rec = _record(d, event, f.personal_data)
            jl.write(canonical_json(rec))
            jl.write("\n")
            writer.writerow(_csv_row(rec, f.personal_data))
        yield jl.getvalue().encode(), cs.getvalue().encode(), len(rows)


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
    *, f: ExportFilter, directory: Path, actor: Actor, chunk: int = CHUNK
) -> dict[str, Any]:
    """Write decisions.jsonl, decisions.csv and manifest.json into `directory` (the CLI)."""
    directory.mkdir(parents=True, exist_ok=True)
    export_id, started, head = uuid.uuid4().hex, timezone.now(), chain_head()
    jstats, cstats = FileStats(JSONL_NAME), FileStats(CSV_NAME)
    with (directory / JSONL_NAME).open("wb") as jf, (directory / CSV_NAME).open("wb") as cf:
        for jl, cs, n in render_chunks(f, chunk=chunk):
            jf.write(jstats.add(jl, n))
            cf.write(cstats.add(cs, n))
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
