"""An underwriter signs in, finds a case referred through the API in the review queue, reads its
reasons on the case page, and signs out."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect
from rest_framework.test import APIClient

from reviews.models import ReviewCase
from tests.conftest import application_body
from tests.e2e.support import screenshot, sign_in

pytestmark = pytest.mark.e2e

# Heavy debt and a large loan on a modest income: no hard gate, but risky enough to refer
# (the body of tests/decisioning/test_decision_api.py::test_it_refers_into_the_review_queue).
RISKY = {
    "annual_income": "19000.00",
    "existing_debt": "14000.00",
    "monthly_debt_payments": "420.00",
    "monthly_expenditure": "700.00",
    "amount": "12000.00",
    "term_months": 60,
    "months_in_employment": 3,
    "employment_status": "self_employed",
    "residential_status": "rent",
    "months_at_address": 4,
}


@pytest.fixture
def referred(api: APIClient, product: Any) -> tuple[dict[str, Any], ReviewCase]:
    """A decision referred through the API, and its review case."""
    body = application_body(**RISKY)
    for i in range(12):
        body["applicant"]["first_name"] = f"Ref{i}"
        body["reference"] = f"E2E-REF-{i}"
        r = api.post("/api/v1/decisions", body, format="json")
        assert r.status_code == 201, r.content
        if r.json()["outcome"] == "refer":
            decision = r.json()
            assert decision["reasons"], decision
            return decision, ReviewCase.objects.get(decision_id=decision["id"])
    pytest.fail("none of 12 risky applications was referred")


def test_it_shows_a_referred_case_to_an_underwriter(
    underwriter: User, referred: tuple[dict[str, Any], ReviewCase], page: Any, live_server: Any
) -> None:
    decision, case = referred

    sign_in(page, "uma", "pw-uma")
    expect(page).to_have_url(f"{live_server.url}/reviews/")
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    row = page.locator("tbody tr", has_text=decision["reference"])
    expect(row).to_have_count(1)
    screenshot(page, "review-queue")

    row.get_by_role("link", name=f"#{case.pk}").click()
    expect(page).to_have_url(f"{live_server.url}/reviews/cases/{case.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Case #{case.pk}")
    reasons = page.locator("h3:has-text('Reasons') + ul > li")
    expect(reasons).to_have_count(len(decision["reasons"]))
    for reason in decision["reasons"]:
        expect(reasons.filter(has_text=reason["code"])).to_contain_text(reason["description"])
    screenshot(page, "review-case")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live_server.url}/accounts/login/")
    page.goto("/reviews/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/reviews/$"))
