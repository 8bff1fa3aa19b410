from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modeling import registry


def test_it_round_trips_through_mlflow(
    tmp_path: Path, modeling_result: object, modeling_scorer: object, modeling_data: tuple
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    reg = registry.register_model(
        modeling_result,  # type: ignore[arg-type]
        product_code="test-loan",
        tracking_uri=uri,
        artifact_root=tmp_path / "mlartifacts",
        alias="champion",
        dataset_hash="0" * 64,
        dataset_size=5000,
        tags={"purpose": "test"},
    )
    assert reg.name == "verdict-test-loan"
    assert reg.version == "1"
    assert (tmp_path / "mlartifacts").is_dir()

    loaded = registry.load_model("test-loan", alias="champion", tracking_uri=uri)
    assert loaded.model_hash == reg.sha256 == modeling_scorer.model_hash  # type: ignore[attr-defined]
    assert loaded.model_version == "1"
    assert loaded.interval == modeling_scorer.interval  # type: ignore[attr-defined]

    X = modeling_data[0][:500]
    assert np.array_equal(loaded.score_matrix(X), modeling_scorer.score_matrix(X))  # type: ignore[attr-defined]

    profile = registry.load_profile("test-loan", tracking_uri=uri)
    assert profile == modeling_result.profile  # type: ignore[attr-defined]

    with pytest.raises(Exception):  # noqa: B017 - MLflow raises its own exception type
        registry.load_model("test-loan", alias="challenger", tracking_uri=uri)
