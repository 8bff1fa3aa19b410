from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema: dict) -> list[tuple[str, str, dict]]:
    return [
        (path, method, op) for path, item in schema["paths"].items() for method, op in item.items()
    ]


def test_the_schema_covers_the_api(schema: dict) -> None:
    ops = {(p, m) for p, m, _ in _operations(schema)}
    assert ops == {
        ("/api/v1/decisions", "get"),
        ("/api/v1/decisions", "post"),
        ("/api/v1/decisions/{decision_id}", "get"),
        ("/api/v1/decisions/{decision_id}/outcome", "post"),
        ("/api/v1/products", "get"),
        ("/api/v1/batches", "post"),
        ("/api/v1/batches/{batch_id}", "get"),
        ("/api/v1/batches/{batch_id}/results", "get"),
    }


def test_every_operation_has_examples_and_declares_its_errors(schema: dict) -> None:
    for path, method, op in _operations(schema):
        responses = op["responses"]
        assert {"401", "429", "503"} <= set(responses), (path, method)
        ok = next(code for code in responses if code.startswith("2"))
        media = next(iter(responses[ok]["content"].values()))  # JSON, or CSV for batch results
        assert media.get("examples"), (path, method)
        if "requestBody" in op:
            body = next(iter(op["requestBody"]["content"].values()))
            assert body.get("examples"), (path, method)
            assert "400" in responses, (path, method)
        if "{decision_id}" in path or "{batch_id}" in path:
            assert "404" in responses, (path, method)


def test_schema_and_docs_are_served_without_auth(client: Client) -> None:
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    # Every asset is local (drf-spectacular-sidecar): nothing is fetched from a CDN.
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html


def test_the_schema_generates_without_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    """Name clashes between serializers silently corrupt the schema (and fail check --deploy)."""
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_the_schema_states_what_the_server_enforces(schema: dict) -> None:
    """What schemathesis found under-declared (tests/security/test_api_fuzz.py fuzzes the rest)."""
    from decisioning.api_fields import AMOUNT_PATTERN, MONEY_PATTERN

    components = schema["components"]["schemas"]
    inputs = [name for name in components if name.endswith("InRequest")]
    assert inputs and all(components[n].get("additionalProperties") is False for n in inputs), (
        inputs
    )
    applicant = components["ApplicantInRequest"]["properties"]
    for money in ("annual_income", "monthly_expenditure", "existing_debt", "monthly_debt_payments"):
        assert applicant[money]["pattern"] == MONEY_PATTERN
    assert components["LoanInRequest"]["properties"]["amount"]["pattern"] == AMOUNT_PATTERN
    assert applicant["postcode"]["pattern"].startswith("^[A-Za-z]{1,2}[0-9]")
    header = next(
        p
        for p in schema["paths"]["/api/v1/decisions"]["post"]["parameters"]
        if p["name"] == "Idempotency-Key"
    )
    assert header["schema"]["pattern"] == r"^[\x21-\x7e]{1,128}$"


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("0", True),
        ("52000.00", True),
        ("9999999999.99", True),
        ("1.5", True),
        ("-1", False),
        ("", False),
        (".", False),
        ("1.", False),
        ("1e3", False),
        ("12345678901", False),
    ],
)
def test_the_money_pattern_matches_what_the_money_field_accepts(value: str, ok: bool) -> None:
    import re

    from decisioning.api_fields import MONEY_PATTERN, MoneyField

    field = MoneyField()
    try:
        field.run_validation(value)
        accepted = True
    except Exception:
        accepted = False
    assert bool(re.match(MONEY_PATTERN, value)) is ok
    assert accepted is ok, value  # the server and its schema agree
