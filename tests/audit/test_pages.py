"""Auditor pages: read-only, `audit.view_audit` only (auditors, risk managers); 404 for others."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from audit.models import VerificationRun
from audit.services import chain_seal
from decisioning.models import Decision
from tests.audit.conftest import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def decision(decide_via_api: Any) -> Decision:
    made = decide_via_api()
    chain_seal()
    return made


def pages(decision: Decision) -> list[str]:
    return [
        "/audit/",
        f"/audit/decisions/{decision.pk}/",
        f"/audit/decisions/{decision.pk}/pdf",
        f"/audit/decisions/{decision.pk}/replay",
        f"/audit/decisions/?id={decision.pk}",
    ]


def test_anonymous_users_are_sent_to_sign_in(decision: Decision) -> None:
    for url in pages(decision):
        r = Client().get(url)
        assert r.status_code == 302 and "/accounts/login/" in r["Location"], url
    assert Client().post("/audit/verify").status_code == 302


@pytest.mark.parametrize("persona", ["underwriter", "senior", "analyst", "outsider"])
def test_other_roles_get_not_found(request: Any, persona: str, decision: Decision) -> None:
    client = signed_in(request.getfixturevalue(persona))
    for url in pages(decision):
        assert client.get(url).status_code == 404, url
    assert client.post("/audit/verify").status_code == 404
    assert not VerificationRun.objects.exists()


@pytest.mark.parametrize("persona", ["auditor", "manager"])
def test_auditors_and_risk_managers_read_every_page(
    request: Any, persona: str, decision: Decision, django_assert_max_num_queries: Any
) -> None:
    client = signed_in(request.getfixturevalue(persona))
    for url in pages(decision):
        r = client.get(url)
        assert r.status_code in (200, 302), url
    r = client.get("/audit/")
    assert b'href="/audit/"' in r.content  # the nav item
    with django_assert_max_num_queries(30):
        client.get(f"/audit/decisions/{decision.pk}/")


def test_an_unknown_or_malformed_decision_is_not_found(auditor: Any) -> None:
    client = signed_in(auditor)
    assert client.get("/audit/decisions/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert client.get("/audit/decisions/nope/").status_code == 404
    assert client.get("/audit/decisions/?id=nope").status_code == 404


def test_the_dossier_shows_the_evidence_and_the_proof(auditor: Any, decision: Decision) -> None:
    from audit.selectors import decision_created_event

    r = signed_in(auditor).get(f"/audit/decisions/{decision.pk}/")
    html = r.content.decode()
    proof = decision_created_event(decision_id=str(decision.pk))
    assert proof is not None and proof.hash and proof.hash in html
    for expected in (
        "Every rule result",
        "sanctions_hit",
        "Features and their lineage",
        "debt_to_income",
        "Signals",
        "sim-bureau",
        decision.model_hash,
        repr(decision.pd),
        "<svg",
        "Grace",
    ):
        assert expected in html, expected


def test_the_dossier_pdf_is_a_pdf(auditor: Any, decision: Decision) -> None:
    r = signed_in(auditor).get(f"/audit/decisions/{decision.pk}/pdf")
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    assert r.content.startswith(b"%PDF") and len(r.content) > 5000


def test_both_charts_render_in_the_pdf(decision: Decision) -> None:
    import io

    from fpdf import FPDF

    from audit.dossier import dossier_build
    from audit.pdf import svg_for_pdf

    d = dossier_build(decision=decision)
    pdf = FPDF()
    pdf.add_page()
    empty = len(bytes(pdf.output()))
    pdf = FPDF()
    pdf.add_page()
    for svg in (d.pd_chart, d.contributions_chart):
        pdf.image(io.BytesIO(svg_for_pdf(svg).encode()), w=180)  # raises if fpdf2 cannot draw it
    # Both charts became vector drawing operations in the page, not nothing.
    assert len(bytes(pdf.output())) > empty + 1000


def test_the_replay_page_says_identical(
    auditor: Any, decision: Decision, trained_scorer: Any
) -> None:
    from modeling.serving import set_scorer_version
    from tests.conftest import PRODUCT_CODE

    set_scorer_version(PRODUCT_CODE, "1", trained_scorer)
    client = signed_in(auditor)
    page = client.get(f"/audit/decisions/{decision.pk}/replay")
    assert b'id="replay-run"' in page.content and b"not been replayed yet" in page.content
    r = client.post(f"/audit/decisions/{decision.pk}/replay")
    assert b'id="replay-result">Identical' in r.content
    assert b'id="replay-history"' in r.content and auditor.get_full_name().encode() in r.content


def test_running_a_replay_needs_the_permission_and_csrf(
    decision: Decision, underwriter: Any, auditor: Any
) -> None:
    from audit.models import AuditEvent

    url = f"/audit/decisions/{decision.pk}/replay"
    assert signed_in(underwriter).post(url).status_code == 404
    assert Client().post(url).status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(auditor)
    assert strict.post(url).status_code == 403
    assert not AuditEvent.objects.filter(event_type="decision.replayed").exists()


def test_an_auditor_runs_a_verification_and_sees_it(
    auditor: Any, decision: Decision, django_capture_on_commit_callbacks: Any
) -> None:
    client = signed_in(auditor)
    with django_capture_on_commit_callbacks(execute=True):  # the worker (eager here) runs it
        client.post("/audit/verify")
    r = client.get("/audit/")
    run = VerificationRun.objects.get()
    assert run.status == "passed" and run.requested_by == auditor and run.source == "web"
    assert b'id="verification-status">Intact' in r.content
    assert b"Verify the chain now" in r.content
    assert client.get("/audit/verify").status_code == 405  # a change needs POST (and CSRF)


def test_the_pages_change_nothing(auditor: Any, decision: Decision) -> None:
    from audit.models import AuditEvent

    before = AuditEvent.objects.count()
    client = signed_in(auditor)
    for url in pages(decision):
        client.get(url)
    assert AuditEvent.objects.count() == before
