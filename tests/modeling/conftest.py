"""Fixtures of the modelling tests: one generated sample and one small model per session.

Small on purpose (5k rows, 50 trees, 3 bootstraps) so the whole modelling suite stays fast.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def modeling_cases() -> list[Any]:
    from modeling.synthetic import generate

    return generate(5000, seed=5, start=START, end=END)


@pytest.fixture(scope="session")
def modeling_data(modeling_cases: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from modeling.synthetic import training_data

    return training_data(modeling_cases)


@pytest.fixture(scope="session")
def modeling_result(modeling_data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> Any:
    from modeling.features import FEATURE_NAMES
    from modeling.training import train

    X, y, _ = modeling_data
    return train(
        X, y, feature_names=FEATURE_NAMES, seed=5, params={"n_estimators": 50}, n_bootstrap=3
    )


@pytest.fixture(scope="session")
def modeling_scorer(modeling_result: Any) -> Any:
    from modeling.training import scorer_from_result

    return scorer_from_result(modeling_result, model_name="verdict-test", model_version="1")
