"""Review fixtures: decisions made directly as rows (fast, and any shape a test needs), cases opened
the way the pipeline opens them, and a client signed in as each persona."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from audit.services import Actor, audit_record
from decisioning.engine.policy import BUILTIN_POLICY
from decisioning.models import Application, Decision, IntegrationClient, Product
from reviews.models import ReviewCase
from reviews.services import case_build

_seq = itertools.count(1)


def rule_results(fired: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [
        {
            "rule_id": r.id,
            "rule_version": r.version,
            "name": r.name,
            "fired": r.id in fired,
            "action": r.action.value,
            "reason_code": r.reason_code,
            "inputs": dict.fromkeys(r.reads),
            "error": "",
            "parameter": r.parameter,
        }
        for r in BUILTIN_POLICY.rules
    ]


def make_decision(
    *,
    client: IntegrationClient,
    product: Product,
    outcome: str = "refer",
    amount: str = "5000.00",
    pd: float | None = 0.12,
    reference: str | None = None,
    fired: tuple[str, ...] = (),
    reasons: tuple[str, ...] | None = None,
    identity: str = "identity-1",
    created_at: dt.datetime | None = None,
    counterfactual: dict[str, Any] | None = None,
) -> Decision:
    """A decision row as the pipeline would store it, plus its `decision.created` audit event and,
    when referred, its review case."""
    now = created_at or timezone.now()
    n = next(_seq)
    if reasons is None:
        by_rule = {r.id: r.reason_code for r in BUILTIN_POLICY.rules}
        reasons = tuple(by_rule[f] for f in fired) or (
            ("PD_REFER_BAND",) if outcome == "refer" else ()
        )
    with transaction.atomic():
        app = Application.objects.create(
            client=client,
            product=product,
            reference=reference or f"APP-{n:04d}",
            first_name="Grace",
            last_name="Patel",
            date_of_birth=dt.date(1985, 4, 12),
            postcode="LS1 4AP",
            uk_resident=True,
            residential_status="rent",
            months_at_address=14,
            employment_status="employed",
            months_in_employment=30,
            annual_income=Decimal("32000"),
            monthly_expenditure=Decimal("900"),
            existing_debt=Decimal("4000"),
            monthly_debt_payments=Decimal("150"),
            dependants=1,
            requested_amount=Decimal(amount),
            term_months=36,
            purpose="car",
            identity_hash=identity,
            submitted_at=now,
        )
        decision = Decision.objects.create(
            application=app,
            client=client,
            product=product,
            outcome=outcome,
            pd=pd,
            pd_lower=None if pd is None else max(0.0, pd - 0.02),
            pd_upper=None if pd is None else pd + 0.02,
            reasons=[{"code": c, "description": c.lower(), "source": "rule"} for c in reasons],
            rule_results=rule_results(fired),
            features={"version": "fc-1", "values": {}},
            signals=[
                {
                    "provider": "sim",
                    "provider_version": "1",
                    "signal_type": "bureau",
                    "ok": True,
                    "response": {"ccj_count_6y": 0},
                    "response_sha256": "",
                    "latency_ms": 1.0,
                    "fetched_at": now.isoformat(),
                    "cache_hit": False,
                    "error": "",
                }
            ],
            explanation={
                "contributions": [
                    ["debt_to_income", 0.41],
                    ["months_in_employment", -0.22],
                    ["bias", -2.0],
                    ["credit_score", 0.13],
                ],
                "model_reasons": [],
            },
            counterfactual=counterfactual,
            ruleset_version="builtin-1",
            feature_version="fc-1",
            model_name="verdict-personal-loan",
            model_version="1",
            latency_ms=3.0,
            request_id=f"req-{n}",
            request_hash=f"{n:064d}",
            created_at=now,
        )
        case = case_build(decision=decision, now=now) if outcome == "refer" else None
        if case is not None:
            case.save(force_insert=True)
        audit_record(
            actor=Actor.for_client(client),
            event_type="decision.created",
            subject_type="decision",
            subject_id=str(decision.pk),
            payload={"outcome": outcome, "review_case_id": case.pk if case else None},
            occurred_at=now,
        )
    return decision


@pytest.fixture
def make(integration: tuple[IntegrationClient, str], product: Product) -> Callable[..., Decision]:
    def factory(**kwargs: Any) -> Decision:
        kwargs.setdefault("client", integration[0])
        kwargs.setdefault("product", product)
        return make_decision(**kwargs)

    return factory


@pytest.fixture
def case(make: Callable[..., Decision]) -> ReviewCase:
    """A referred case below the four-eyes amount, unassigned."""
    return make().review_case


@pytest.fixture
def big_case(make: Callable[..., Decision]) -> ReviewCase:
    """A referred case above the product's four-eyes amount (£15,000 by default)."""
    return make(amount="20000.00").review_case


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def as_uma(underwriter: Any) -> Client:
    return signed_in(underwriter)


@pytest.fixture
def as_sam(senior: Any) -> Client:
    return signed_in(senior)


@pytest.fixture
def as_auditor(auditor: Any) -> Client:
    return signed_in(auditor)


def fresh(case: ReviewCase) -> ReviewCase:
    return ReviewCase.objects.get(pk=case.pk)
