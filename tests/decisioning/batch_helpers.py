"""Shared bits of the batch tests (not a test module)."""

from __future__ import annotations

from typing import Any

import numpy as np

from modeling.scoring import IntervalParams
from tests.conftest import application_body

FIRST = ["Grace", "Oliver", "Amelia", "Harry", "Isla", "Jack", "Ava", "Noah", "Mia", "Leo"]


def decide_some(api: Any, n: int = 10) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        body = application_body(
            first_name=FIRST[i % len(FIRST)], last_name=f"Batch{i}", reference=f"B-{i}",
            annual_income=f"{16000 + 6000 * i}.00", amount=f"{2000 + 1800 * i}.00",
            employment_status="self_employed" if i % 3 == 0 else "employed",
        )
        r = api.post("/api/v1/decisions", body, format="json")
        assert r.status_code == 201, r.content
        out.append(r.json())
    return out


class ShiftedScorer:
    """Another model version for what-if tests: the champion's PD plus a fixed shift."""

    def __init__(self, base: Any, *, shift: float, version: str) -> None:
        self._base = base
        self.shift = shift
        self.model_name = base.model_name
        self.model_version = version
        self.model_hash = "shifted"
        self.feature_names = base.feature_names
        self.feature_version = base.feature_version
        self.interval = IntervalParams.degenerate()

    def score_matrix(self, X: np.ndarray) -> np.ndarray:
        return np.clip(self._base.score_matrix(X) + self.shift, 0.0, 1.0)

