from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.conftest import application_body

pytestmark = pytest.mark.django_db

RISKY = dict(
    annual_income="24000.00", existing_debt="9000.00", monthly_debt_payments="300.00",
    monthly_expenditure="800.00", amount="20000.00", term_months=36, months_in_employment=8,
    residential_status="rent", months_at_address=10,
)


def _decide(api: APIClient, **overrides: Any) -> dict[str, Any]:
    r = api.post("/api/v1/decisions", application_body(**overrides), format="json")
    assert r.status_code == 201, r.content
    return r.json()


def test_a_hint_is_given_for_a_non_approval_and_keeps_its_promise(api: APIClient, product: Any) -> None:
    hinted = []
    for i in range(15):
        d = _decide(api, first_name=f"Cf{i}", reference=f"CF-{i}", **RISKY)
        if d["outcome"] != "approve" and d["counterfactual"]:
            hinted.append(d)
    assert hinted, "no declined/referred application got a hint"
    for d in hinted[:3]:
        hint = d["counterfactual"]
        assert hint["input"] in ("amount", "term_months")
        change = {"amount": hint["to"]} if hint["input"] == "amount" else {"term_months": int(hint["to"])}
        body = {**RISKY, **change}
        first_name = d["reference"].replace("CF-", "Cf")
        again = _decide(api, first_name=first_name, reference=d["reference"] + "-again", **body)
        # Same applicant, the suggested change: the outcome is the one the hint promised.
        assert again["outcome"] == hint["outcome"], (hint, again["outcome"])


def test_no_hint_for_an_approval_or_a_hard_gate(api: APIClient, product: Any) -> None:
    assert _decide(api)["counterfactual"] is None
    minor = _decide(api, date_of_birth="2012-01-01", reference="MINOR")
    assert minor["outcome"] == "decline" and minor["counterfactual"] is None
