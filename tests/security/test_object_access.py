"""Object-level access and mass assignment, beyond the per-URL matrix.

Already covered elsewhere (not repeated here): another client's decision, outcome and batch are
404 (tests/decisioning/test_decision_reads.py, test_batch_api.py); `pd` and nested unknown
fields in a decision request are refused (test_decision_api.py); reviewer identity and outcome
fields smuggled into review forms are ignored (tests/reviews/test_review_views.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from decisioning.models import Decision, LoanOutcome
from tests.conftest import application_body
from tests.reviews.conftest import make_decision

pytestmark = pytest.mark.django_db

MISSING = "00000000-0000-4000-8000-000000000000"


def test_another_clients_objects_answer_exactly_like_missing_ones(
    api: APIClient,
    other_api: APIClient,
    product: Any,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    decision = api.post("/api/v1/decisions", application_body(), format="json").json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        batch = api.post(
            "/api/v1/batches",
            {"product": product.code, "source": "generated", "count": 3, "chunk_size": 100},
            format="json",
        ).json()["id"]
    outcome = {"status": "repaid", "as_of": str(Decision.objects.get().created_at.date())}
    calls = [
        ("get", "/api/v1/decisions/{}", decision, None),
        ("post", "/api/v1/decisions/{}/outcome", decision, outcome),
        ("get", "/api/v1/batches/{}", batch, None),
        ("get", "/api/v1/batches/{}/results", batch, None),
    ]
    for method, path, own, body in calls:
        theirs = getattr(other_api, method)(path.format(own), body, format="json")
        missing = getattr(other_api, method)(
            path.format(MISSING if "decisions" in path else 999999), body, format="json"
        )
        assert theirs.status_code == missing.status_code == 404, path
        assert theirs.json() == missing.json(), path  # nothing tells "exists" from "missing"
        assert getattr(api, method)(path.format(own), body, format="json").status_code in (200, 201)
    assert LoanOutcome.objects.count() == 1  # only the owner's report was recorded


INJECTED = {
    "/api/v1/decisions": [
        "outcome",
        "final_outcome",
        "score",
        "pd",
        "reviewer",
        "approved_amount",
        "client",
    ],
    "/api/v1/decisions/{id}/outcome": ["decision_id", "reported_by", "reported_at", "client"],
    "/api/v1/batches": ["status", "total", "done", "errors", "client", "summary"],
}


@pytest.mark.parametrize(
    ("path", "field"), [(p, f) for p, fields in INJECTED.items() for f in fields]
)
def test_server_owned_fields_in_api_bodies_are_refused(
    api: APIClient, product: Any, path: str, field: str
) -> None:
    if path == "/api/v1/decisions":
        body: dict[str, Any] = application_body()
    elif path == "/api/v1/batches":
        body = {"product": product.code, "source": "generated", "count": 5}
    else:
        made = api.post("/api/v1/decisions", application_body(), format="json").json()
        path = path.format(id=made["id"])
        body = {"status": "repaid", "as_of": made["created_at"][:10]}
    before = (Decision.objects.count(), LoanOutcome.objects.count())
    body[field] = "approve" if field.endswith("outcome") else 1
    r = api.post(path, body, format="json")
    assert r.status_code == 400, r.content
    assert r.json()["errors"] == {field: ["Unknown field."]}
    assert (Decision.objects.count(), LoanOutcome.objects.count()) == before


def test_an_underwriter_cannot_open_a_decision_the_queue_does_not_offer(
    integration: Any, product: Any, underwriter: Any
) -> None:
    """The appeal page is for declined decisions; an approved one is "not found" to underwriters,
    as it is in the queue and its search."""
    client, _token = integration
    approved = make_decision(client=client, product=product, outcome="approve", pd=0.02)
    declined = make_decision(client=client, product=product, outcome="decline", pd=0.4)
    referred = make_decision(client=client, product=product, outcome="refer")
    browser = Client()
    browser.force_login(underwriter)
    assert browser.get(f"/reviews/decisions/{approved.pk}/appeal").status_code == 404
    assert (
        browser.post(
            f"/reviews/decisions/{approved.pk}/appeal", {"rationale": "x" * 40}
        ).status_code
        == 404
    )
    assert browser.get(f"/reviews/decisions/{declined.pk}/appeal").status_code == 200
    # A referred decision already has its case: the appeal URL leads there, nowhere else.
    assert (
        browser.get(f"/reviews/decisions/{referred.pk}/appeal")["Location"]
        == f"/reviews/cases/{referred.review_case.pk}/"
    )
