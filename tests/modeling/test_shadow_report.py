"""The shadow report: its statistics, the gate it feeds, the page, the JSON endpoint, the command."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from io import StringIO
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.services import Actor
from decisioning import services as decisioning_services
from decisioning.models import Decision, LoanOutcome
from modeling import selectors, services, serving
from modeling import shadow_stats as st
from modeling.models import PromotionGate
from modeling.synthetic import generate
from tests.conftest import PRODUCT_CODE

# ---- statistics (no database) ---------------------------------------------------------------------


def _delong_by_pairs(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """DeLong's variance from its definition (all positive x negative pairs): the reference."""
    pos, neg = np.where(y == 1)[0], np.where(y == 0)[0]

    def psi(s: np.ndarray) -> np.ndarray:
        d = s[pos][:, None] - s[neg][None, :]
        return (d > 0) + 0.5 * (d == 0)

    pa, pb = psi(a), psi(b)
    v10 = np.vstack([pa.mean(axis=1), pb.mean(axis=1)])
    v01 = np.vstack([pa.mean(axis=0), pb.mean(axis=0)])
    s = np.cov(v10) / len(pos) + np.cov(v01) / len(neg)
    return float(pb.mean() - pa.mean()), float(s[0, 0] + s[1, 1] - 2 * s[0, 1])


def test_delong_matches_its_definition_and_auc_matches_sklearn() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    a = np.round(y * 0.6 + rng.normal(size=300), 2)  # rounded: ties exercise the midranks
    b = np.round(y * 0.3 + rng.normal(size=300), 2)
    out = st.delong(y, a, b)
    diff, var = _delong_by_pairs(y, a, b)
    assert out is not None
    assert out.auc_champion == pytest.approx(
        roc_auc_score(y, a)
    ) and out.auc_challenger == pytest.approx(roc_auc_score(y, b))
    assert out.difference == pytest.approx(diff) and out.se**2 == pytest.approx(var)
    assert out.difference < 0 and out.p_value < 0.05 and out.ci_high < 0


@pytest.mark.parametrize(
    ("y", "expected"),
    [(np.array([1, 1, 1]), None), (np.array([0, 1, 0]), None)],  # one class, or a single bad
)
def test_delong_needs_both_classes(y: np.ndarray, expected: Any) -> None:
    assert st.delong(y, np.array([0.1, 0.2, 0.3]), np.array([0.3, 0.2, 0.1])) is expected


def test_identical_models_agree_completely() -> None:
    rng = np.random.default_rng(1)
    y, a = rng.integers(0, 2, 100), rng.random(100)
    out = st.delong(y, a, a.copy())
    assert out is not None and out.difference == 0 and out.p_value == 1.0
    assert st.score_psi(a, a.copy()) == pytest.approx(0.0)
    assert st.flip_matrix(["approve", "refer"], ["decline", "refer"]) == [
        [0, 0, 1],
        [0, 1, 0],
        [0, 0, 0],
    ]


# ---- the report over stored decisions -----------------------------------------------------------


class Shifted:
    """A challenger: the champion's score plus `shift`, or, with `noise`, a PD unrelated to risk."""

    def __init__(self, base: Any, version: str, shift: float = 0.0, noise: bool = False) -> None:
        self._base, self.model_version, self._shift, self._noise = base, version, shift, noise
        self.model_name, self.model_hash = base.model_name, f"{version:0>64}"

    def score(self, vector: Any) -> Any:
        s = self._base.score(vector)
        pd = min(1.0, s.pd + self._shift)
        if self._noise:  # deterministic per applicant, unrelated to the label
            pd = (abs(hash(vector.values[:6])) % 1000) / 1000 * 0.07
        return dataclasses.replace(
            s,
            model_version=self.model_version,
            model_hash=self.model_hash,
            pd=pd,
            pd_lower=min(pd, s.pd_lower),
            pd_upper=max(pd, s.pd_upper),
        )

    def pd_only(self, vectors: Any) -> list[float]:
        return [self.score(v).pd for v in vectors]


def _decide_many(
    product: Any, integration: Any, n: int, capture: Any, seed: int = 4
) -> list[Decision]:
    from decisioning.payloads import request_body

    client, _ = integration
    end = timezone.now()
    out = []
    with capture(execute=True):
        for i, case in enumerate(generate(n, seed=seed, start=end - dt.timedelta(days=1), end=end)):
            out.append(
                decisioning_services.decision_create(
                    client=client,
                    product=product,
                    application=case.app,
                    reference=f"R-{i}",
                    request_body=request_body(case.app, product=PRODUCT_CODE, reference=f"R-{i}"),
                ).decision
            )
    return out


@pytest.fixture
def shadowed(
    db: Any,
    product: Any,
    integration: Any,
    manager: Any,
    trained_scorer: Any,
    django_capture_on_commit_callbacks: Any,
) -> dict[str, Any]:
    serving.set_scorer_version(PRODUCT_CODE, "2", Shifted(trained_scorer, "2"))
    serving.set_scorer_version(PRODUCT_CODE, "3", Shifted(trained_scorer, "3", shift=0.5))
    serving.set_scorer_version(PRODUCT_CODE, "4", Shifted(trained_scorer, "4", noise=True))
    start = timezone.now() - dt.timedelta(seconds=1)
    for v in ("2", "3", "4"):
        services.challenger_start(
            product=product, version=v, actor=Actor.for_user(manager), now=start
        )
    PromotionGate.objects.create(product=product, min_volume=60, min_matured=40)
    decisions = _decide_many(product, integration, 100, django_capture_on_commit_callbacks)
    # Outcomes at maturity, drawn from the champion's own PD (so the champion does rank risk).
    rng = np.random.default_rng(8)
    for d in decisions:
        if d.pd is not None:
            bad = rng.random() < min(0.95, d.pd * 4)
            LoanOutcome.objects.create(
                decision=d,
                status="defaulted" if bad else "repaid",
                as_of=d.created_at.date(),
                default_date=d.created_at.date() if bad else None,
                reported_at=d.created_at,
                reported_by=integration[0],
            )
    return {"start": start, "decisions": decisions, "later": start + dt.timedelta(days=15)}


def test_the_twin_passes_the_gate_after_the_window(shadowed: Any, product: Any) -> None:
    before = selectors.shadow_report(product=product, version="2")
    assert [c.key for c in before.gate.checks if not c.passed] == ["window_days"]
    r = selectors.shadow_report(product=product, version="2", now=shadowed["later"])
    assert r.volume == r.decisions == 100 and r.coverage == 1.0
    assert (
        r.agreement_rate == 1.0 and r.psi == pytest.approx(0.0) and r.pearson == pytest.approx(1.0)
    )
    assert r.flip_matrix[0][0] + r.flip_matrix[1][1] + r.flip_matrix[2][2] == 100
    assert r.auc is not None and r.auc.difference == 0 and r.matured >= 40
    assert sum(b["n"] for b in r.bands_champion) == r.matured
    assert r.gate.passed, r.gate.failures()


def test_a_breached_metric_blocks_the_gate(shadowed: Any, product: Any) -> None:
    r = selectors.shadow_report(product=product, version="3", now=shadowed["later"])
    failed = {c.key for c in r.gate.checks if not c.passed}
    assert failed == {"psi", "approval_rate_change", "agreement_rate"}
    assert r.approval_rate_challenger == 0.0 and r.flip_matrix[0][2] > 0  # approve -> decline flips


def test_a_significantly_worse_auc_blocks_the_gate(shadowed: Any, product: Any) -> None:
    gate = PromotionGate.objects.get(product=product)
    gate.max_psi, gate.max_approval_rate_change, gate.min_agreement_rate = 99, 1, 0
    gate.save()
    r = selectors.shadow_report(product=product, version="4", now=shadowed["later"])
    assert r.auc is not None and r.auc.difference < 0 and r.auc.p_value < 0.05
    assert [c.key for c in r.gate.checks if not c.passed] == ["auc"]


def test_the_gate_refuses_promotion_with_its_reasons(
    shadowed: Any, product: Any, manager: Any
) -> None:
    from config.errors import Conflict

    with pytest.raises(Conflict) as e:
        services.model_promote(
            product=product,
            version="3",
            actor=Actor.for_user(manager),
            rationale="Looks promising to me",
            now=shadowed["later"],
        )
    assert e.value.code == "gate_not_met" and "PSI" in e.value.message
    with pytest.raises(Exception, match="Say why"):
        services.model_promote(
            product=product, version="2", actor=Actor.for_user(manager), rationale="ok"
        )


def test_the_report_page_and_its_json(
    shadowed: Any, client: Any, manager: Any, auditor: Any, analyst: Any, underwriter: Any
) -> None:
    url, api = f"/models/shadow/{PRODUCT_CODE}/4/", f"/models/api/shadow/{PRODUCT_CODE}/4"
    assert client.get(url).status_code == 302  # anonymous: to the login page
    assert client.get(api).status_code in (401, 403, 404)
    client.force_login(underwriter)
    assert client.get(url).status_code == 404 and client.get(api).status_code == 404
    client.force_login(auditor)
    page = client.get(url).content.decode()
    assert "Outcomes at maturity" in page and "DeLong" in page and "<svg" in page
    assert "Promote v4" not in page  # auditors read; only risk managers act
    assert (
        client.post(f"/models/shadow/{PRODUCT_CODE}/4/promote", {"rationale": "x" * 20}).status_code
        == 403
    )
    client.force_login(analyst)
    body = client.get(api).json()
    assert body["volume"] == 100 and body["outcomes"]["auc_test"]["method"] == "DeLong (paired)"
    assert set(body["approval_rate"]) == {
        "ruleset_version",
        "cutoffs",
        "outcome",
        "pd_at_current_cutoff",
    }
    assert client.get(f"/models/api/shadow/{PRODUCT_CODE}/99").status_code == 404
    client.force_login(manager)
    assert "Promote v4" in client.get(url).content.decode()
    assert "Bad rate by PD band" in client.get(url).content.decode()


def test_the_api_token_of_an_integration_cannot_read_it(shadowed: Any, api: Any) -> None:
    assert api.get(f"/models/api/shadow/{PRODUCT_CODE}/2").status_code in (401, 403, 404)


def test_the_command_prints_the_report(shadowed: Any) -> None:
    out = StringIO()
    call_command(
        "shadow_report",
        product=PRODUCT_CODE,
        model_version="2",
        now=shadowed["later"].isoformat(),
        stdout=out,
    )
    text = out.getvalue()
    assert "gate     MET" in text and "DeLong" in text
    out = StringIO()
    call_command("shadow_report", product=PRODUCT_CODE, model_version="3", json=True, stdout=out)
    assert json.loads(out.getvalue())["gate"]["passed"] is False
