"""Exports: JSONL + CSV + manifest, from the CLI, the API and the admin; each is an audit event."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from audit.services import chain_seal
from decisioning.models import Decision
from tests.audit.conftest import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def three(decide_via_api: Any) -> list[Decision]:
    made = [
        decide_via_api(reference=f"APP-{i}", annual_income=f"{40000 + i * 1000}.00")
        for i in range(3)
    ]
    chain_seal()
    return made


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_cli_writes_files_that_match_their_manifest(
    three: list[Decision], tmp_path: Path, capsys: Any
) -> None:
    call_command(
        "export_decisions", "--out", str(tmp_path), "--product", "personal-loan", "--by", "aud@cli"
    )
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    jsonl, csv_bytes = (
        (tmp_path / "decisions.jsonl").read_bytes(),
        (tmp_path / "decisions.csv").read_bytes(),
    )
    assert manifest["files"]["decisions.jsonl"] == {
        "records": 3,
        "bytes": len(jsonl),
        "sha256": _sha(jsonl),
    }
    assert manifest["files"]["decisions.csv"] == {
        "records": 3,
        "bytes": len(csv_bytes),
        "sha256": _sha(csv_bytes),
    }
    assert manifest["chain_head"]["position"] >= 3 and len(manifest["chain_head"]["hash"]) == 64
    records = [json.loads(line) for line in jsonl.decode().splitlines()]
    assert [r["decision_id"] for r in records] == [str(d.pk) for d in three]  # oldest first
    first = records[0]
    assert (
        first["audit_event"]["hash"]
        == AuditEvent.objects.get(
            subject_id=first["decision_id"], event_type="decision.created"
        ).hash
    )
    assert first["rule_results"] and first["signals"] and first["model"]["hash"]
    rows = list(csv.DictReader(io.StringIO(csv_bytes.decode())))
    assert [r["decision_id"] for r in rows] == [r["decision_id"] for r in records]
    assert float(rows[0]["pd"]) == records[0]["pd"]  # repr round-trips exactly
    event = AuditEvent.objects.get(event_type="export.created")
    assert event.subject_id == manifest["export_id"] and event.actor_display == "aud@cli"
    assert (
        event.payload["files"] == manifest["files"] and manifest["audit_event"]["seq"] == event.seq
    )


def test_personal_data_is_left_out_unless_asked_for(three: list[Decision], tmp_path: Path) -> None:
    call_command("export_decisions", "--out", str(tmp_path / "a"))
    call_command("export_decisions", "--out", str(tmp_path / "b"), "--personal-data")
    plain = (tmp_path / "a" / "decisions.jsonl").read_text() + (
        tmp_path / "a" / "decisions.csv"
    ).read_text()
    full = (tmp_path / "b" / "decisions.jsonl").read_text() + (
        tmp_path / "b" / "decisions.csv"
    ).read_text()
    for identifier in ("Grace", "Patel", "1985-04-12", "LS1 4AP"):
        assert identifier not in plain and identifier in full
    assert (
        json.loads((tmp_path / "b" / "manifest.json").read_text())["filters"]["personal_data"]
        is True
    )


def test_filters_by_ids_and_date(three: list[Decision], tmp_path: Path) -> None:
    call_command("export_decisions", "--out", str(tmp_path / "ids"), "--id", str(three[1].pk))
    assert (
        json.loads((tmp_path / "ids" / "manifest.json").read_text())["files"]["decisions.jsonl"][
            "records"
        ]
        == 1
    )
    call_command("export_decisions", "--out", str(tmp_path / "none"), "--to", "2001-01-01")
    assert (
        json.loads((tmp_path / "none" / "manifest.json").read_text())["files"]["decisions.csv"][
            "records"
        ]
        == 0
    )


def test_keyset_pagination_covers_every_decision_once(three: list[Decision]) -> None:
    from audit.exports import ExportFilter, iter_decisions

    seen = [pk for page in iter_decisions(ExportFilter(), chunk=2) for pk in page]
    assert seen == [str(d.pk) for d in three]


def _reference_record(d: Decision, personal: bool) -> dict[str, Any]:
    """The record as the first version of the export built it, from model instances and the
    standard library's JSON: the fast path (values, orjson) must give the same bytes."""
    from decisioning.selectors import final_outcome
    from modeling.features import age_years

    app, case = d.application, getattr(d, "review_case", None)
    event = AuditEvent.objects.filter(
        subject_type="decision", event_type="decision.created", subject_id=str(d.pk)
    ).first()
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


def _awkward_copy(d: Decision, *, big: bool) -> Decision:
    """A copy of `d` whose JSON holds what the fast encoder must handle exactly: floats orjson
    spells differently, integers beyond 64 bits, strings that look like numbers, escapes."""
    import uuid

    from decisioning.models import Application

    app = Application.objects.get(pk=d.application_id)
    app.pk, app.reference = uuid.uuid4(), "AWKWARD"
    Application._base_manager.bulk_create([app])
    copy = Decision.objects.get(pk=d.pk)
    copy.pk, copy.application = uuid.uuid4(), app
    copy.request_id = "generate-7-1e-5"
    copy.explanation = {**copy.explanation, "tiny": [1e-7, -5.5e-05, 0.00012, 1e-10, 1e16]}
    # Quotes and backslashes are escaped with a backslash, which sends orjson's output to the
    # reference encoder; without them, its small floats are rewritten in place.
    note = 'say ":1e-7," \\ "q"' if big else "say :1e-7, [0.00001]"
    copy.signals = [*copy.signals, {"response": {"note": note}}]
    copy.counterfactual = {
        "hint": "0.00001",
        "n": -(2**64) - 1 if big else 7,
        "m": 2**70 if big else 8,
    }
    Decision._base_manager.bulk_create([copy])
    return Decision.objects.select_related("application", "product", "client").get(pk=copy.pk)


@pytest.mark.parametrize("personal", [False, True])
def test_records_are_the_reference_canonical_json_byte_for_byte(
    three: list[Decision], tmp_path: Path, personal: bool
) -> None:
    from audit.canonical import canonical_json

    decisions = [*three, _awkward_copy(three[0], big=False), _awkward_copy(three[1], big=True)]
    args = ["--personal-data"] if personal else []
    call_command("export_decisions", "--out", str(tmp_path), "--no-progress", *args)
    lines = (tmp_path / "decisions.jsonl").read_bytes().splitlines()
    by_id = {json.loads(line)["decision_id"]: line for line in lines}
    assert len(lines) == 5
    for d in decisions:
        assert by_id[str(d.pk)] == canonical_json(_reference_record(d, personal)).encode()


def _unzip(response: Any) -> dict[str, bytes]:
    data = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def test_the_api_streams_a_zip_for_an_auditor(three: list[Decision], auditor: Any) -> None:
    client = signed_in(auditor)
    r = client.post(
        "/audit/api/exports",
        {"decision_ids": [str(three[0].pk), str(three[2].pk)]},
        content_type="application/json",
    )
    assert r.status_code == 200 and r["Content-Type"] == "application/zip"
    files = _unzip(r)
    manifest = json.loads(files["manifest.json"])
    assert manifest["files"]["decisions.jsonl"]["records"] == 2
    assert manifest["files"]["decisions.jsonl"]["sha256"] == _sha(files["decisions.jsonl"])
    assert manifest["files"]["decisions.csv"]["sha256"] == _sha(files["decisions.csv"])
    event = AuditEvent.objects.get(event_type="export.created")
    assert event.actor_id == str(auditor.pk) and event.payload["filters"]["decision_ids"]


def test_the_page_form_posts_to_the_api(three: list[Decision], auditor: Any) -> None:
    client = signed_in(auditor)
    r = client.post("/audit/api/exports", {"product": "personal-loan", "decision_ids": ""})
    assert (
        r.status_code == 200
        and json.loads(_unzip(r)["manifest.json"])["files"]["decisions.csv"]["records"] == 3
    )


@pytest.mark.parametrize("persona", ["manager", "underwriter", "outsider", "analyst"])
def test_the_api_does_not_exist_for_other_roles(
    request: Any, persona: str, three: list[Decision]
) -> None:
    r = signed_in(request.getfixturevalue(persona)).post(
        "/audit/api/exports", {}, content_type="application/json"
    )
    assert r.status_code == 404
    assert not AuditEvent.objects.filter(event_type="export.created").exists()


def test_the_api_refuses_anonymous_and_integration_tokens(api: Any, three: list[Decision]) -> None:
    from django.test import Client

    assert (
        Client().post("/audit/api/exports", {}, content_type="application/json").status_code == 404
    )
    assert api.post("/audit/api/exports", {}, format="json").status_code == 404


def test_the_api_rejects_bad_input(auditor: Any, three: list[Decision]) -> None:
    r = signed_in(auditor).post(
        "/audit/api/exports", {"decision_ids": ["nope"]}, content_type="application/json"
    )
    assert r.status_code == 400 and any(k.startswith("decision_ids") for k in r.json()["errors"])


def test_the_admin_action_exports_the_selection(
    three: list[Decision], auditor: Any, manager: Any
) -> None:
    data = {"action": "export_for_regulator", "_selected_action": [str(d.pk) for d in three[:2]]}
    r = signed_in(auditor).post("/admin/decisioning/decision/", data)
    assert r.status_code == 200 and r["Content-Type"] == "application/zip"
    assert json.loads(_unzip(r)["manifest.json"])["files"]["decisions.jsonl"]["records"] == 2
    refused = signed_in(manager).post("/admin/decisioning/decision/", data, follow=True)
    assert b"Only auditors may export" in refused.content
