"""Monitoring fixtures: a training profile of the session's model, and decisions stored as rows
straight from generated applications (features and PD computed by the same catalogue and model
the pipeline uses — fast enough to make hundreds per test)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from django.db import transaction
from django.test import Client

from decisioning.models import Application, Decision, IntegrationClient, Product
from modeling.features import CATALOGUE, FEATURE_NAMES
from modeling.profile import build_profile
from modeling.synthetic import DriftSpec, SyntheticCase, generate, training_data
from monitoring import tasks
from monitoring.baseline import baseline_store
from tests.webhook_receiver import Receiver

TRAIN_END = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
CATEGORICAL = [s.name for s in CATALOGUE if s.dtype == "categorical"]
_seq = itertools.count(1)


@pytest.fixture(scope="session")
def baseline_profile(trained_scorer: Any) -> dict[str, Any]:
    """The training profile as `modeling.training` builds it: catalogue features of a development
    sample and the model's PD on it, bins frozen by quantile."""
    cases = generate(2000, seed=11, start=TRAIN_END - dt.timedelta(days=365), end=TRAIN_END)
    X, _, _ = training_data(cases)
    return build_profile(X, list(FEATURE_NAMES), trained_scorer.score_matrix(X), categorical=CATEGORICAL)


def live_cases(n: int, *, seed: int, income: float = 1.0) -> list[SyntheticCase]:
    drift = DriftSpec(income_multiplier=income) if income != 1.0 else None
    return generate(n, seed=seed, start=TRAIN_END, end=TRAIN_END + dt.timedelta(days=1), drift=drift)


def outcome_for(pd: float) -> str:
    return "approve" if pd <= 0.06 else ("decline" if pd > 0.25 else "refer")


def store_decisions(
    *,
    product: Product,
    client: IntegrationClient,
    cases: Sequence[SyntheticCase],
    scorer: Any,
    start: dt.datetime,
    end: dt.datetime,
    latency_ms: Callable[[int], float] = lambda i: 12.0 + (i % 7),
    model_version: str = "1",
) -> list[Decision]:
    """Decision rows for `cases`, spread evenly over [start, end)."""
    X, _, _ = training_data(list(cases))
    pd = scorer.score_matrix(X)
    step = (end - start) / max(1, len(cases))
    apps, decisions = [], []
    for i, (case, row, p) in enumerate(zip(cases, X, pd, strict=True)):
        n = next(_seq)
        at = start + step * i
        a = case.app
        fields = {f.name: getattr(a, f.name) for f in dataclasses.fields(a) if f.name not in ("submitted_at",)}
        app = Application(
            client=client, product=product, reference=f"MON-{n}",
            identity_hash=hashlib.sha256(a.identity_key().encode()).hexdigest(),
            submitted_at=at, **fields,
        )
        apps.append(app)
        decisions.append(
            Decision(
                application=app, client=client, product=product, outcome=outcome_for(float(p)), pd=float(p),
                approved_amount=a.requested_amount if outcome_for(float(p)) == "approve" else None,
                features={"version": "fc-1", "values": {k: (None if np.isnan(v) else float(v)) for k, v in zip(FEATURE_NAMES, row, strict=True)}},
                ruleset_version="builtin-1", feature_version="fc-1", model_name="verdict-personal-loan",
                model_version=model_version, latency_ms=latency_ms(i), request_id=f"mon-{n}",
                request_hash=f"{n:064d}", created_at=at,
            )
        )
    # Row by row: the append-only managers refuse bulk_create (it would bypass the services).
    with transaction.atomic():
        for app, decision in zip(apps, decisions, strict=True):
            app.save(force_insert=True)
            decision.application = app
            decision.save(force_insert=True)
    return decisions


@pytest.fixture
def with_baseline(product: Product, baseline_profile: dict[str, Any]) -> Product:
    baseline_store(product=product, model_version="1", profile=baseline_profile, source="tests")
    return product


@pytest.fixture
def store(
    with_baseline: Product, integration: tuple[IntegrationClient, str], trained_scorer: Any
) -> Callable[..., list[Decision]]:
    def factory(cases: Sequence[SyntheticCase], start: dt.datetime, end: dt.datetime, **kw: Any) -> list[Decision]:
        return store_decisions(product=with_baseline, client=integration[0], cases=cases, scorer=trained_scorer,
                               start=start, end=end, **kw)

    return factory


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver("/hooks/alerts") as r:
        yield r


@pytest.fixture(autouse=True)
def _no_backoff_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks, "BACKOFF_BASE_S", 0)


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def money(x: str) -> Decimal:
    return Decimal(x)
