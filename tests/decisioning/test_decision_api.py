from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from audit.models import AuditEvent
from decisioning.models import Application, Decision
from reviews.models import ReviewCase
from tests.conftest import application_body

pytestmark = pytest.mark.django_db

URL = "/api/v1/decisions"


def test_it_decides_an_application(api: APIClient, product: Any) -> None:
    r = api.post(URL, application_body(), format="json")
    assert r.status_code == 201, r.json()
    data = r.json()
    assert data["outcome"] in ("approve", "refer", "decline")
    assert 0.0 <= data["pd"] <= 1.0
    assert data["pd_interval"]["lower"] <= data["pd"] <= data["pd_interval"]["upper"]
    assert data["ruleset_version"] == "builtin-1"
    assert data["model"] == {"name": "verdict-personal-loan", "version": "1"}
    assert data["feature_version"] == "fc-1"
    decision = Decision.objects.get(pk=data["id"])
    assert decision.request_id and r["X-Request-ID"] == decision.request_id
    assert len(decision.rule_results) == 10
    assert {s["signal_type"] for s in decision.signals} == {"bureau", "kyc", "sanctions", "fraud"}
    assert AuditEvent.objects.filter(event_type="decision.created", subject_id=data["id"]).count() == 1


def test_it_approves_a_strong_applicant_and_declines_a_hard_gate(api: APIClient, product: Any) -> None:
    strong = api.post(URL, application_body(), format="json").json()
    assert strong["outcome"] == "approve", strong
    assert strong["final_outcome"] == "approve"
    assert strong["approved_amount"] == "5000.00"

    minor = api.post(URL, application_body(date_of_birth="2012-01-01", reference="APP-2"), format="json").json()
    assert minor["outcome"] == "decline"
    assert [r["code"] for r in minor["reasons"]] == ["UNDER_18"]
    assert minor["reasons"][0]["description"] == "You need to be 18 or over to apply."


def test_it_refers_into_the_review_queue(api: APIClient, product: Any) -> None:
    # Heavy existing debt and a large loan on a modest income: not a hard gate, but risky.
    body = application_body(
        annual_income="19000.00", existing_debt="14000.00", monthly_debt_payments="420.00",
        monthly_expenditure="700.00", amount="12000.00", term_months=60, months_in_employment=3,
        employment_status="self_employed", residential_status="rent", months_at_address=4,
    )
    outcomes = []
    for i in range(12):
        body["applicant"]["first_name"] = f"Ref{i}"
        body["reference"] = f"REF-{i}"
        outcomes.append(api.post(URL, body, format="json").json())
    referred = [o for o in outcomes if o["outcome"] == "refer"]
    assert referred, [o["outcome"] for o in outcomes]
    case = ReviewCase.objects.get(decision_id=referred[0]["id"])
    assert case.status == ReviewCase.Status.OPEN
    assert referred[0]["review"] == {"status": "open", "final_outcome": None, "decided_at": None}
    assert referred[0]["final_outcome"] is None


def test_it_returns_the_same_decision_for_the_same_idempotency_key(api: APIClient, product: Any) -> None:
    first = api.post(URL, application_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post(URL, application_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201 and again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert first.json()["id"] == again.json()["id"]
    assert Decision.objects.count() == 1 and Application.objects.count() == 1
    assert AuditEvent.objects.filter(event_type="decision.created").count() == 1


def test_it_refuses_a_reused_key_with_another_payload(api: APIClient, product: Any) -> None:
    api.post(URL, application_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    r = api.post(URL, application_body(amount="6000.00"), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert r.status_code == 422
    assert r.json()["code"] == "idempotency_key_reused"
    assert Decision.objects.count() == 1


def test_it_scopes_idempotency_keys_per_client(api: APIClient, other_api: APIClient, product: Any) -> None:
    a = api.post(URL, application_body(), format="json", HTTP_IDEMPOTENCY_KEY="same")
    b = other_api.post(URL, application_body(), format="json", HTTP_IDEMPOTENCY_KEY="same")
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


@pytest.mark.django_db(transaction=True)
def test_it_never_creates_two_decisions_for_concurrent_duplicates(integration: Any, product: Any) -> None:
    if connection.vendor == "sqlite":
        pytest.skip("SQLite serialises writers; the race needs a concurrent database")
    barrier = threading.Barrier(4)
    results: list[Any] = []

    def send() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {integration[1]}")
        barrier.wait()
        results.append(client.post(URL, application_body(), format="json", HTTP_IDEMPOTENCY_KEY="race"))
        connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in results).count(201) == 1
    assert {r.json()["id"] for r in results} == {results[0].json()["id"]}
    assert Decision.objects.count() == 1


INVALID = [
    ("missing applicant", lambda b: b.pop("applicant"), "applicant"),
    ("bad date", lambda b: b["applicant"].update(date_of_birth="12/04/1985"), "applicant.date_of_birth"),
    ("future birth", lambda b: b["applicant"].update(date_of_birth="2999-01-01"), "applicant.date_of_birth"),
    ("negative income", lambda b: b["applicant"].update(annual_income="-1"), "applicant.annual_income"),
    ("float-ish money", lambda b: b["applicant"].update(annual_income="12.345"), "applicant.annual_income"),
    ("unknown enum", lambda b: b["loan"].update(purpose="yacht"), "loan.purpose"),
    ("bad postcode", lambda b: b["applicant"].update(postcode="12345"), "applicant.postcode"),
    ("unknown top field", lambda b: b.update(pd=0.01), "pd"),
    ("unknown nested field", lambda b: b["applicant"].update(score=999), "applicant.score"),
    ("wrong type", lambda b: b["loan"].update(term_months="many"), "loan.term_months"),
    ("unknown product", lambda b: b.update(product="mortgage"), "product"),
    ("over product max", lambda b: b["loan"].update(amount="90000.00"), "requested_amount"),
    ("term outside product", lambda b: b["loan"].update(term_months=6), "term_months"),
]


@pytest.mark.parametrize(("label", "mutate", "field"), INVALID, ids=[i[0] for i in INVALID])
def test_it_rejects_invalid_bodies_with_field_errors(api: APIClient, product: Any, label: str, mutate: Any, field: str) -> None:
    body = application_body()
    mutate(body)
    r = api.post(URL, body, format="json")
    assert r.status_code == 400, r.content
    data = r.json()
    assert data["code"] == "invalid"
    assert field in data["errors"], data
    assert Decision.objects.count() == 0 and AuditEvent.objects.filter(event_type="decision.created").count() == 0


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "malformed_json"),
        (b"[1, 2]", "application/json", 400, "invalid"),
        (b"", "application/json", 400, "invalid"),
        (b'{"a": NaN}', "application/json", 400, "malformed_json"),
        (b"product=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b'{"x": "' + b"a" * 40000 + b'"}', "application/json", 413, "payload_too_large"),
        (b"\xff\xfe\x00", "application/json", 400, "malformed_json"),
    ],
)
def test_it_rejects_malformed_requests_cleanly(api: APIClient, product: Any, content: bytes, content_type: str, status: int, code: str) -> None:
    r = api.generic("POST", URL, content, content_type=content_type)
    assert r.status_code == status, r.content
    assert r.json()["code"] == code


def test_it_rejects_a_bad_idempotency_key(api: APIClient, product: Any) -> None:
    r = api.post(URL, application_body(), format="json", HTTP_IDEMPOTENCY_KEY="has space")
    assert r.status_code == 400
    assert "Idempotency-Key" in r.json()["errors"]


def test_it_requires_a_token(product: Any) -> None:
    r = APIClient().post(URL, application_body(), format="json")
    assert r.status_code == 401
    assert r.json()["code"] == "not_authenticated"
    assert r["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("header", ["Token nope", "Token", "Token a b", "Bearer nope"])
def test_it_refuses_bad_tokens(product: Any, header: str) -> None:
    r = APIClient().get(URL, HTTP_AUTHORIZATION=header)
    assert r.status_code == 401
    assert r.json()["code"] == "authentication_failed"


def test_it_refuses_a_revoked_token(integration: Any, product: Any) -> None:
    from audit.services import Actor
    from decisioning import services

    client, raw = integration
    services.api_token_revoke(token=client.tokens.get(), actor=Actor.system("test"))
    r = APIClient().get(URL, HTTP_AUTHORIZATION=f"Token {raw}")
    assert r.status_code == 401
    assert AuditEvent.objects.filter(event_type="api_token.revoked").count() == 1


def test_it_refuses_staff_sessions_on_the_api(client: Any, manager: Any, product: Any) -> None:
    client.force_login(manager)
    r = client.get(URL)
    assert r.status_code == 401
