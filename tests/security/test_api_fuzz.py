"""schemathesis against the live OpenAPI schema (`/api/schema/`), in-process on the WSGI app.

Every operation of the integration API is called with generated valid (positive) and invalid
(negative) requests, authenticated as an integration client, and every response is checked:
no 5xx, a status code, content type, headers and body the schema declares, valid data accepted,
invalid data refused with a 4xx, a missing token refused with 401.

Bounded and deterministic: Hypothesis is derandomised (the same examples every run) and each
operation gets at most MAX_EXAMPLES examples per mode, so the whole module stays well under a
minute on either database. Path ids are replaced by ids of real rows of the calling client, so
the bodies of `POST …/outcome` reach validation instead of a 404 on a random id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.test import APIClient
from schemathesis.core.mutations import OperatorKind
from schemathesis.generation.meta import CoverageScenario
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from config.wsgi import application
from tests.conftest import application_body

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 15

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
schema.config.generation.update(
    modes=["positive", "negative"],
    max_examples=MAX_EXAMPLES,
    deterministic=True,
    database="none",
)


#: Rules a static schema cannot state, per operation: the fields whose 400 a valid-by-schema
#: request may still get. Any other 400 on valid data fails the test (an under-declared schema).
DATA_DEPENDENT: dict[str, set[str]] = {
    # Dates relative to today or to the decision: not after today, not before the decision.
    "POST /api/v1/decisions/{decision_id}/outcome": {"as_of", "default_date"},
    "POST /api/v1/decisions": {"applicant.date_of_birth"},
    # Cross-field: the period must not be empty.
    "GET /api/v1/decisions": {"created_to"},
    # Cross-field by `source`; versions that must exist.
    "POST /api/v1/batches": {"count", "file", "date_from", "ruleset_version", "model_version"},
}


#: DRF's fields coerce JSON scalars: a boolean field takes `0`/`1`/`"true"`/`"no"`, an integer
#: field `"36"` or `36.0`, a string field a number. The same serializers validate uploaded CSV
#: rows and rule-set test cases, where every cell is a string, so the API keeps that leniency;
#: a non-scalar (object, array, null) of the wrong type is still refused.
LENIENT = True


def valid_data_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis' positive_data_acceptance, less the data-dependent rules listed above."""
    if (
        response.status_code == 422
        and response.json().get("code") == "idempotency_key_reused"
        and case.operation.label == "POST /api/v1/decisions"
    ):
        return None  # a generated Idempotency-Key that an earlier example used with another body
    if response.status_code == 400 and case.meta.generation.mode.is_positive:
        fields = set(response.json().get("errors") or {})
        if fields and fields <= DATA_DEPENDENT.get(case.operation.label, set()):
            return None
    return positive_data_acceptance(ctx, response, case)


def _scalar_type_changes(case: Any) -> bool:
    """True if the case is invalid only because scalars have another JSON type (e.g. `0` for a
    boolean, `"36"` or `36.0` for an integer, a number for a string)."""
    data = case.meta.phase.data
    paths: list[list[str]] = []
    if getattr(data, "scenario", None) == CoverageScenario.INCORRECT_TYPE and data.location:
        parts = data.location.strip("/").split("/")
        paths.append([parts[i + 1] for i, p in enumerate(parts[:-1]) if p == "properties"])
    elif data.mutations and all(m.operator == OperatorKind.CHANGE_TYPE for m in data.mutations):
        paths.extend([str(k) for k in m.path] for m in data.mutations)
    else:
        return False
    for path in paths:
        value: Any = case.body
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return False
            value = value[key]
        if value is None or isinstance(value, dict | list):
            return False
    return bool(paths)


def invalid_data_rejected(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis' negative_data_rejection, less DRF's scalar coercions (see LENIENT)."""
    if response.status_code < 300 and LENIENT and _scalar_type_changes(case):
        return None
    return negative_data_rejection(ctx, response, case)


@pytest.fixture
def fuzz_state(
    product: Any,
    integration: tuple[Any, str],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> Iterator[dict[str, str]]:
    """The calling client's token, and ids of its rows for the path parameters."""
    # The product takes every amount and term the schema allows, so that valid bodies reach the
    # pipeline instead of stopping at the product's own (stored, not schema-level) limits.
    product.min_amount, product.max_amount = 1, 10_000_000
    product.min_term_months, product.max_term_months = 1, 600
    product.save()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {integration[1]}")
    made = api.post("/api/v1/decisions", application_body(), format="json")
    assert made.status_code == 201 and made.json()["outcome"] == "approve", made.content
    with django_capture_on_commit_callbacks(execute=True):
        batch = api.post(
            "/api/v1/batches",
            {"product": product.code, "source": "generated", "count": 3, "chunk_size": 100},
            format="json",
        )
    assert batch.status_code == 202, batch.content
    assert api.get(f"/api/v1/batches/{batch.json()['id']}").json()["status"] == "done"
    # schemathesis calls the real WSGI handler, whose request_started/finished signals close the
    # database connection, and with it the test's transaction; Django's test client disconnects
    # that handler for the same reason (and reconnects it after each request: hence only now).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield {
        "token": integration[1],
        "decision_id": made.json()["id"],
        "batch_id": str(batch.json()["id"]),
        "product": product.code,
    }
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_conforms_to_its_schema(case: Any, fuzz_state: dict[str, str]) -> None:
    for name in ("decision_id", "batch_id"):
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = fuzz_state[name]
    if (
        case.meta.generation.mode.is_positive
        and isinstance(case.body, dict)
        and "product" in case.body
    ):
        case.body["product"] = fuzz_state["product"]
    case.call_and_validate(
        headers={"Authorization": f"Token {fuzz_state['token']}"},
        excluded_checks=[positive_data_acceptance, negative_data_rejection],
        additional_checks=[valid_data_accepted, invalid_data_rejected],
    )
