"""The decision hot path does a fixed, small amount of database work (issue 11)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from tests.conftest import application_body

pytestmark = pytest.mark.django_db


def _writes(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"].split()[0].upper() for q in queries.captured_queries]


def test_an_approved_decision_costs_three_inserts_and_nothing_else(api: APIClient, product: Any) -> None:
    api.post("/api/v1/decisions", application_body(reference="warm"), format="json")  # caches warm
    with CaptureQueriesContext(connection) as queries:
        r = api.post("/api/v1/decisions", application_body(reference="B", first_name="Bea"), format="json")
    assert r.status_code == 201 and r.json()["outcome"] == "approve"
    statements = [s for s in _writes(queries) if s not in ("SAVEPOINT", "RELEASE")]
    # application, decision, audit event — no reads at all once the token, product, policy and
    # model are warm in the process.
    assert statements == ["INSERT", "INSERT", "INSERT"], [q["sql"][:80] for q in queries.captured_queries]


def test_a_referred_decision_adds_only_its_review_case(api: APIClient, product: Any) -> None:
    api.post("/api/v1/decisions", application_body(reference="warm"), format="json")
    with CaptureQueriesContext(connection) as queries:
        r = api.post(
            "/api/v1/decisions",
            application_body(reference="K", first_name="Kay", date_of_birth="1990-01-01",
                             annual_income="19000.00", existing_debt="14000.00",
                             monthly_debt_payments="420.00", amount="12000.00", term_months=60),
            format="json",
        )
    assert r.status_code == 201
    statements = [s for s in _writes(queries) if s not in ("SAVEPOINT", "RELEASE")]
    expected = 4 if r.json()["outcome"] == "refer" else 3
    assert len(statements) == expected and set(statements) == {"INSERT"}, [q["sql"][:80] for q in queries.captured_queries]
