from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from decisioning.models import LoanOutcome
from tests.conftest import application_body

pytestmark = pytest.mark.django_db


def _decide(api: APIClient, **overrides: Any) -> dict[str, Any]:
    r = api.post("/api/v1/decisions", application_body(**overrides), format="json")
    assert r.status_code == 201, r.content
    return r.json()


def test_it_reads_a_decision(api: APIClient, product: Any) -> None:
    made = _decide(api)
    r = api.get(f"/api/v1/decisions/{made['id']}")
    assert r.status_code == 200
    assert r.json() == made


def test_it_hides_another_clients_decision(api: APIClient, other_api: APIClient, product: Any) -> None:
    made = _decide(api)
    for path in (f"/api/v1/decisions/{made['id']}", "/api/v1/decisions/not-a-uuid", "/api/v1/decisions/00000000-0000-0000-0000-000000000000"):
        r = other_api.get(path)
        assert r.status_code == 404, path
        assert r.json() == {"code": "not_found", "message": "Decision not found.", "errors": {}}
    r = other_api.post(f"/api/v1/decisions/{made['id']}/outcome", {"status": "repaid", "as_of": str(timezone.now().date())}, format="json")
    assert r.status_code == 404


def test_it_lists_only_own_decisions_with_filters(api: APIClient, other_api: APIClient, product: Any, django_assert_max_num_queries: Any) -> None:
    approved = _decide(api)
    declined = _decide(api, date_of_birth="2012-01-01", reference="APP-2")
    _decide(other_api, reference="OTHER")
    with django_assert_max_num_queries(4):
        r = api.get("/api/v1/decisions")
    assert r.status_code == 200
    assert [d["id"] for d in r.json()["results"]] == [declined["id"], approved["id"]]
    assert r.json()["count"] == 2
    assert [d["id"] for d in api.get("/api/v1/decisions?outcome=decline").json()["results"]] == [declined["id"]]
    assert api.get("/api/v1/decisions?product=credit-card").json()["count"] == 0
    tomorrow = (timezone.now() + dt.timedelta(days=1)).date().isoformat()
    assert api.get(f"/api/v1/decisions?created_from={tomorrow}T00:00:00Z").json()["count"] == 0
    assert api.get("/api/v1/decisions?page_size=1").json()["next"] is not None


@pytest.mark.parametrize(
    "query", ["outcome=maybe", "created_from=yesterday", "page_size=0", "page_size=100000", "colour=red",
              "created_from=2026-01-02T00:00:00Z&created_to=2026-01-01T00:00:00Z", "page=0"],
)
def test_it_rejects_bad_list_filters(api: APIClient, product: Any, query: str) -> None:
    r = api.get(f"/api/v1/decisions?{query}")
    assert r.status_code == 400, r.content
    assert r.json()["code"] == "invalid"


def test_it_answers_404_for_a_page_out_of_range(api: APIClient, product: Any) -> None:
    r = api.get("/api/v1/decisions?page=99")
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


def test_it_records_a_loan_outcome(api: APIClient, product: Any) -> None:
    made = _decide(api)
    today = timezone.now().date()
    r = api.post(
        f"/api/v1/decisions/{made['id']}/outcome",
        {"status": "defaulted", "as_of": str(today), "default_date": str(today), "arrears_months": 3},
        format="json",
    )
    assert r.status_code == 201, r.content
    assert r.json()["status"] == "defaulted"
    outcome = LoanOutcome.objects.get()
    assert outcome.is_bad and outcome.arrears_months == 3
    assert AuditEvent.objects.filter(event_type="loan_outcome.reported", subject_id=made["id"]).count() == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"status": "defaulted", "as_of": "TODAY"}, "default_date"),
        ({"status": "lost", "as_of": "TODAY"}, "status"),
        ({"status": "repaid", "as_of": "2999-01-01"}, "as_of"),
        ({"status": "repaid", "as_of": "2000-01-01"}, "as_of"),
        ({"status": "repaid"}, "as_of"),
        ({"status": "repaid", "as_of": "TODAY", "extra": 1}, "extra"),
    ],
)
def test_it_rejects_bad_outcome_reports(api: APIClient, product: Any, payload: dict[str, Any], field: str) -> None:
    made = _decide(api)
    payload = {k: (str(timezone.now().date()) if v == "TODAY" else v) for k, v in payload.items()}
    r = api.post(f"/api/v1/decisions/{made['id']}/outcome", payload, format="json")
    assert r.status_code == 400, r.content
    assert field in r.json()["errors"]
    assert LoanOutcome.objects.count() == 0


def test_it_refuses_outcomes_for_declined_applications(api: APIClient, product: Any) -> None:
    made = _decide(api, date_of_birth="2012-01-01")
    r = api.post(f"/api/v1/decisions/{made['id']}/outcome", {"status": "repaid", "as_of": str(timezone.now().date())}, format="json")
    assert r.status_code == 409
    assert r.json()["code"] == "not_approved"


def test_it_lists_active_products(api: APIClient, product: Any) -> None:
    from decisioning.models import Product

    Product.objects.create(code="closed-card", name="Closed", is_active=False)
    r = api.get("/api/v1/products")
    assert r.status_code == 200
    assert [p["code"] for p in r.json()] == ["personal-loan"]


def test_it_refuses_applications_for_an_inactive_product(api: APIClient, product: Any) -> None:
    product.is_active = False
    product.save()
    r = api.post("/api/v1/decisions", application_body(), format="json")
    assert r.status_code == 400
    assert r.json()["code"] == "product_inactive"


@pytest.mark.usefixtures("clean_counters")
def test_it_throttles_per_client_with_retry_after(api: APIClient, other_api: APIClient, product: Any, settings: Any) -> None:
    from rest_framework.settings import api_settings

    from decisioning.throttling import ClientRateThrottle

    old = ClientRateThrottle.THROTTLE_RATES
    ClientRateThrottle.THROTTLE_RATES = {**api_settings.DEFAULT_THROTTLE_RATES, "client": "3/min"}
    try:
        codes = [api.get("/api/v1/products").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = api.get("/api/v1/products")
        assert r.json()["code"] == "throttled" and int(r["Retry-After"]) > 0
        assert other_api.get("/api/v1/products").status_code == 200  # per client, not global
    finally:
        ClientRateThrottle.THROTTLE_RATES = old


def test_unknown_api_paths_answer_json_404(api: APIClient) -> None:
    r = api.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


def test_it_refuses_wrong_methods(api: APIClient, product: Any) -> None:
    r = api.delete("/api/v1/decisions")
    assert r.status_code == 405
    assert r.json()["code"] == "method_not_allowed"
