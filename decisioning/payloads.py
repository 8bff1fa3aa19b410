"""The API request body for an application (used by the demo, batch tools and benchmarks)."""

from __future__ import annotations

from typing import Any

from decisioning.engine.types import ApplicationData
from modeling.synthetic import to_payload

LOAN_FIELDS = {"requested_amount": "amount", "term_months": "term_months", "purpose": "purpose"}


def request_body(app: ApplicationData, *, product: str, reference: str = "") -> dict[str, Any]:
    flat = to_payload(app)
    loan = {LOAN_FIELDS[k]: flat.pop(k) for k in list(LOAN_FIELDS)}
    return {"product": product, "reference": reference, "applicant": flat, "loan": loan}
