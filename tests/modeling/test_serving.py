"""Serving: the champion is loaded once, a promotion takes effect without a restart, and a
missing or corrupt model refuses to serve (decisions refer, readiness fails)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from modeling import registry, serving
from tests.conftest import application_body

pytestmark = pytest.mark.django_db


def _register(result: Any, alias: str | None) -> registry.RegisteredModel:
    return registry.register_model(
        result, product_code="personal-loan", tracking_uri=settings.MLFLOW_TRACKING_URI,
        artifact_root=settings.MLFLOW_ARTIFACT_ROOT, alias=alias, dataset_hash="0" * 64, dataset_size=1,
    )


@pytest.fixture
def registry_only(settings: Any, tmp_path: Path) -> Any:
    """An empty MLflow registry of this test's own, and no injected test scorer: the pipeline
    must load from the registry."""
    settings.MLFLOW_TRACKING_URI = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings.MLFLOW_ARTIFACT_ROOT = str(tmp_path / "mlartifacts")
    serving.forget()
    yield
    serving.forget()


def test_a_promotion_takes_effect_without_a_restart(api: APIClient, product: Any, modeling_result: Any, registry_only: Any, settings: Any) -> None:
    first = _register(modeling_result, "champion")
    d1 = api.post("/api/v1/decisions", application_body(reference="A"), format="json").json()
    assert d1["model"] == {"name": "verdict-personal-loan", "version": first.version}

    second = _register(modeling_result, None)
    registry.set_alias("personal-loan", version=second.version, alias="champion", tracking_uri=settings.MLFLOW_TRACKING_URI)
    # The loaded model keeps serving until the periodic check notices the alias moved …
    settings.MODEL_REFRESH_SECONDS = 0.05
    time.sleep(0.1)
    api.post("/api/v1/decisions", application_body(reference="B", first_name="Bea"), format="json")
    deadline = time.monotonic() + 20
    while serving.get_scorer("personal-loan")[0].model_version != second.version and time.monotonic() < deadline:
        time.sleep(0.1)
    # … after which decisions name the new version, with no restart.
    d3 = api.post("/api/v1/decisions", application_body(reference="C", first_name="Cal"), format="json").json()
    assert d3["model"]["version"] == second.version


def test_refresh_is_a_no_op_when_the_alias_did_not_move(product: Any, modeling_result: Any, registry_only: Any) -> None:
    _register(modeling_result, "champion")
    assert serving.get_scorer("personal-loan")[0] is not None
    assert serving.refresh("personal-loan") is False


def test_no_model_means_refer_and_not_ready(api: APIClient, client: Any, product: Any, registry_only: Any) -> None:
    r = api.post("/api/v1/decisions", application_body(), format="json")
    assert r.status_code == 201
    d = r.json()
    assert d["outcome"] == "refer" and d["model"] is None and d["degraded"] is True
    assert "MODEL_UNAVAILABLE" in [x["code"] for x in d["reasons"]]
    assert client.get("/readyz").status_code == 503


def test_a_corrupt_model_file_is_refused(product: Any, modeling_result: Any, registry_only: Any) -> None:
    _register(modeling_result, "champion")
    files = list(Path(settings.MLFLOW_ARTIFACT_ROOT).rglob("model.ubj"))
    assert files
    for path in files:
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    scorer, error = serving.get_scorer("personal-loan")
    assert scorer is None and "SHA-256" in error
