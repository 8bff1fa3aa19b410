"""Issue 8, "must show", end to end on a real (temporary) MLflow registry: train a challenger,
send shadow traffic through the decision API, read the report, be refused promotion before the
window closes, promote after it, see the next decision name the new champion, and find in the
audit trail who promoted and why. Then roll back in one action."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from decisioning.payloads import request_body
from modeling import registry, serving
from modeling.models import ModelAssignment, PromotionGate, ShadowScore
from modeling.synthetic import generate

pytestmark = pytest.mark.django_db

PRODUCT = "personal-loan"


@pytest.fixture
def mlflow_registry(settings: Any, tmp_path: Path) -> Any:
    """A registry of this test's own; no injected scorer, so serving loads from MLflow."""
    settings.MLFLOW_TRACKING_URI = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings.MLFLOW_ARTIFACT_ROOT = str(tmp_path / "mlartifacts")
    settings.MODEL_REFRESH_SECONDS = 0  # no background refresh thread: the promotion refreshes
    serving.forget()
    yield settings.MLFLOW_TRACKING_URI
    serving.forget()


def _register(result: Any, alias: str | None, settings: Any) -> registry.RegisteredModel:
    return registry.register_model(
        result,
        product_code=PRODUCT,
        tracking_uri=settings.MLFLOW_TRACKING_URI,
        artifact_root=settings.MLFLOW_ARTIFACT_ROOT,
        alias=alias,
        dataset_hash="0" * 64,
        dataset_size=1,
    )


def _traffic(n: int, seed: int) -> list[dict[str, Any]]:
    end = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)  # fixed: the same applicants every run
    cases = generate(n, seed=seed, start=end - dt.timedelta(days=1), end=end)
    return [
        request_body(c.app, product=PRODUCT, reference=f"SH-{seed}-{i}")
        for i, c in enumerate(cases)
    ]


def test_it_shadows_reports_gates_promotes_and_rolls_back(
    api: APIClient,
    client: Any,
    product: Any,
    manager: Any,
    modeling_result: Any,
    modeling_data: Any,
    mlflow_registry: str,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from modeling.features import FEATURE_NAMES
    from modeling.training import train

    champion = _register(modeling_result, "champion", settings)
    # Train a challenger: same history, different seed and a shallower tree shape.
    X, y, _ = modeling_data
    challenger_result = train(
        X,
        y,
        feature_names=FEATURE_NAMES,
        seed=17,
        params={"n_estimators": 50, "max_depth": 3},
        n_bootstrap=2,
    )
    challenger = _register(challenger_result, None, settings)
    # 14-day default window. PSI between two models on 48 decisions is noise: this test is about
    # the window, so the PSI limit is opened (test_shadow_report covers a PSI breach).
    PromotionGate.objects.create(product=product, min_volume=40, max_psi=5.0)

    started = timezone.now()
    call_command(
        "shadow_model",
        product=PRODUCT,
        model_version=challenger.version,
        by=manager.username,
        rationale="Shallower trees, retrained on 2025",
    )
    assert (
        registry.alias_version(PRODUCT, alias="challenger", tracking_uri=mlflow_registry)
        == challenger.version
    )

    # Shadow traffic through the real API; the challenger never changes an outcome.
    with django_capture_on_commit_callbacks(execute=True):
        responses = [api.post("/api/v1/decisions", b, format="json") for b in _traffic(48, seed=23)]
    assert all(r.status_code == 201 for r in responses)
    assert {r.json()["model"]["version"] for r in responses} == {champion.version}
    rows = ShadowScore.objects.filter(model_version=challenger.version)
    assert rows.count() == 48
    for r in responses[:10]:
        d = r.json()
        shadow = rows.get(decision_id=d["id"])
        assert (
            shadow.champion_outcome == d["outcome"] and shadow.champion_version == champion.version
        )

    # The report, on the page (risk manager) and as JSON.
    page = client
    page.force_login(manager)
    html = page.get(f"/models/shadow/{PRODUCT}/{challenger.version}/").content.decode()
    for needle in ("Flip matrix", "Promotion gate", "<svg", "PSI", "Agreement", "Promote v"):
        assert needle in html
    report = page.get(f"/models/api/shadow/{PRODUCT}/{challenger.version}").json()
    assert report["volume"] == 48 and report["coverage"] == 1.0
    assert sum(map(sum, report["flip_matrix"]["counts"])) == 48
    assert report["gate"]["passed"] is False
    failed = {c["key"] for c in report["gate"]["checks"] if not c["passed"]}
    assert failed == {"window_days"}, report["gate"]

    # Refused before the window closes (the form on the report page) — and the refusal is audited.
    r = page.post(
        f"/models/shadow/{PRODUCT}/{challenger.version}/promote",
        {"rationale": "Better separation in shadow"},
        follow=True,
    )
    assert "promotion gate is not met" in r.content.decode()
    assert (
        registry.alias_version(PRODUCT, alias="champion", tracking_uri=mlflow_registry)
        == champion.version
    )
    assert AuditEvent.objects.filter(event_type="model.promotion_refused").count() == 1

    # After the window (injected clock): promoted.
    later = started + dt.timedelta(days=14, minutes=1)
    call_command(
        "promote_model",
        product=PRODUCT,
        model_version=challenger.version,
        by=manager.username,
        rationale="Gini +0.01 in shadow; agreement within policy",
        now=later.isoformat(),
    )
    assert (
        registry.alias_version(PRODUCT, alias="champion", tracking_uri=mlflow_registry)
        == challenger.version
    )
    current = ModelAssignment.objects.get(product=product, role="champion", ended_at__isnull=True)
    assert (current.model_version, current.previous_version) == (
        challenger.version,
        champion.version,
    )

    # The very next decision in this process names the new champion.
    nxt = api.post("/api/v1/decisions", _traffic(1, seed=99)[0], format="json").json()
    assert nxt["model"] == {"name": f"verdict-{PRODUCT}", "version": challenger.version}

    # The audit trail says who promoted, why, from and to what, and on which gate evidence.
    event = AuditEvent.objects.get(event_type="model.promoted")
    assert event.actor_type == "user" and event.actor_id == str(manager.pk)
    assert event.actor_display == manager.get_full_name()
    assert event.payload["rationale"] == "Gini +0.01 in shadow; agreement within policy"
    assert (event.payload["from_version"], event.payload["to_version"]) == (
        champion.version,
        challenger.version,
    )
    assert event.payload["gate"]["passed"] is True and event.payload["gate"]["volume"] == 48

    # One action rolls back (the page form), audited.
    r = page.post(
        f"/models/shadow/{PRODUCT}/rollback", {"rationale": "Complaints from brokers"}, follow=True
    )
    assert r.status_code == 200
    assert (
        registry.alias_version(PRODUCT, alias="champion", tracking_uri=mlflow_registry)
        == champion.version
    )
    back = api.post("/api/v1/decisions", _traffic(1, seed=98)[0], format="json").json()
    assert back["model"]["version"] == champion.version
    rolled = AuditEvent.objects.get(event_type="model.rolled_back")
    assert rolled.payload["to_version"] == champion.version and rolled.actor_id == str(manager.pk)
