"""Reads of the model registry for people (model cards): slow-ish MLflow calls, never on the
decision path."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from config.errors import NotFound


@dataclass
class ModelVersionRow:
    name: str
    version: str
    aliases: list[str]
    created_ms: int
    run_id: str
    auc: float | None = None
    gini: float | None = None


@dataclass
class ModelCard:
    name: str
    version: str
    aliases: list[str]
    run_id: str
    created_ms: int
    sha256: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, dict[str, float]]
    calibration: list[dict[str, float]]
    approval_curve: list[dict[str, float]]
    roc: dict[str, list[list[float]]]
    importance: list[tuple[str, float]]
    monotone: dict[str, int]
    catalogue: list[dict[str, Any]]
    interval: dict[str, Any]
    interval_coverage: float | None
    tracking_uri: str = field(default="")


def _client() -> Any:
    from modeling.registry import _client as registry_client

    return registry_client(settings.MLFLOW_TRACKING_URI)


def model_version_list() -> list[ModelVersionRow]:
    client = _client()
    rows: list[ModelVersionRow] = []
    for rm in client.search_registered_models():
        aliases_by_version: dict[str, list[str]] = {}
        for alias, version in (rm.aliases or {}).items():
            aliases_by_version.setdefault(str(version), []).append(alias)
        for mv in client.search_model_versions(f"name='{rm.name}'"):
            run = client.get_run(mv.run_id)
            rows.append(
                ModelVersionRow(
                    name=rm.name,
                    version=str(mv.version),
                    aliases=sorted(aliases_by_version.get(str(mv.version), [])),
                    created_ms=int(mv.creation_timestamp or 0),
                    run_id=mv.run_id,
                    auc=run.data.metrics.get("xgb_auc"),
                    gini=run.data.metrics.get("xgb_gini"),
                )
            )
    return sorted(rows, key=lambda r: (r.name, -int(r.version)))


def _artifact(run_id: str, path: str) -> dict[str, Any]:
    from modeling.registry import _mlflow

    mlflow = _mlflow()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=tmp)
        except Exception:  # an artefact older versions did not record
            return {}
        return dict(json.loads(Path(local).read_text()))


def model_card(*, name: str, version: str) -> ModelCard:
    client = _client()
    try:
        mv = client.get_model_version(name, version)
    except Exception as e:  # MLflow raises its own RestException for "not found"
        raise NotFound("Model version not found.") from e
    rm = client.get_registered_model(name)
    aliases = sorted(a for a, v in (rm.aliases or {}).items() if str(v) == str(version))
    run = client.get_run(mv.run_id)
    metrics = _artifact(mv.run_id, "verdict/metrics.json")
    features = _artifact(mv.run_id, "verdict/features.json")
    meta = _artifact(mv.run_id, "verdict/meta.json")
    importance = sorted(metrics.get("importance", {}).items(), key=lambda kv: kv[1], reverse=True)
    return ModelCard(
        name=name,
        version=str(version),
        aliases=aliases,
        run_id=mv.run_id,
        created_ms=int(mv.creation_timestamp or 0),
        sha256=meta.get("sha256", (mv.tags or {}).get("sha256", "")),
        tags=dict(run.data.tags),
        params=dict(run.data.params),
        metrics=metrics.get("metrics", {}),
        calibration=metrics.get("calibration", []),
        approval_curve=metrics.get("approval_curve", []),
        roc=metrics.get("roc", {}),
        importance=importance,
        monotone=features.get("monotone", {}),
        catalogue=features.get("catalogue", []),
        interval=meta.get("interval", {}),
        interval_coverage=metrics.get("interval_coverage"),
        tracking_uri=settings.MLFLOW_TRACKING_URI,
    )


def training_data_from_decisions(*, product_code: str) -> tuple[Any, Any, Any, int]:
    """(X, y, timestamps, skipped) from stored decisions whose loans have a reported outcome.

    Features are the vector stored with each decision (exactly what the model saw, in catalogue
    order); the label is bad when the latest report says defaulted. Decisions made under another
    feature-catalogue version are skipped (and counted). Only approved loans have outcomes: a
    model trained here learns from the approved population alone (no reject inference).
    """
    import numpy as np

    from decisioning.models import Decision, LoanOutcome
    from modeling.features import FEATURE_NAMES, FEATURE_VERSION

    latest: dict[Any, str] = {}
    for decision_id, status in (
        LoanOutcome.objects.filter(decision__product__code=product_code)
        .order_by("decision_id", "as_of", "reported_at")
        .values_list("decision_id", "status")
        .iterator(chunk_size=5000)
    ):
        latest[decision_id] = status
    rows, labels, stamps, skipped = [], [], [], 0
    for decision in Decision.objects.filter(pk__in=list(latest)).only("id", "features", "created_at").iterator(chunk_size=2000):
        if decision.features.get("version") != FEATURE_VERSION:
            skipped += 1
            continue
        values = decision.features["values"]
        rows.append([np.nan if values.get(n) is None else float(values[n]) for n in FEATURE_NAMES])
        labels.append(1 if latest[decision.pk] == LoanOutcome.Status.DEFAULTED else 0)
        stamps.append(decision.created_at.timestamp())
    X = np.array(rows, dtype=float).reshape(len(rows), len(FEATURE_NAMES))
    return X, np.array(labels, dtype=np.int8), np.array(stamps, dtype=float), skipped
