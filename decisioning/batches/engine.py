"""Deciding a chunk of applications at once: the vectorised half of the decision path.

Per chunk: one `build_matrix` (the catalogue's own functions), one `score_matrix` on float32 rows
(exactly the rows `XGBoostScorer.score` predicts on, so the PD is bit-identical), the band-lookup
interval, then `resolve` — the one outcome logic — per row with a `ScoreResult` carrying that PD.

Batches carry no explanations: `contributions` and model reasons are empty (approximate SHAP is
~0.25 ms a row, more than everything else here together). A refer or decline therefore lists its
rule and system reasons but not the model's top factors; outcome, PD and interval are the same as
`decide` gives. Counterfactual hints are off too.

Framework-free: imports nothing from Django.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import numpy as np

from decisioning.engine.pipeline import resolve
from decisioning.engine.policy import Policy
from decisioning.engine.types import ApplicationData, FeatureVector, ScoreResult, Signals
from modeling.features import FEATURE_NAMES, FEATURE_VERSION, build_matrix

OUTCOMES = ("approve", "refer", "decline")
#: Score-shift histogram edges (PD points, new minus original).
SHIFT_EDGES = (-0.10, -0.05, -0.02, -0.005, 0.005, 0.02, 0.05, 0.10)


class MatrixScorer(Protocol):
    model_name: str
    model_version: str
    model_hash: str
    feature_names: tuple[str, ...]
    feature_version: str

    @property
    def interval(self) -> Any: ...  # IntervalParams

    def score_matrix(self, X: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One application of a batch, with what it is compared against when it was decided before."""

    item: int
    app: ApplicationData
    signals: Signals
    as_of: dt.date
    reference: str = ""
    application_id: str | None = None
    original_outcome: str = ""
    original_pd: float | None = None


@dataclass(frozen=True, slots=True)
class ItemResult:
    item: int
    reference: str
    application_id: str | None
    outcome: str
    pd: float | None
    pd_lower: float | None
    pd_upper: float | None
    approved_amount: Decimal | None
    reasons: str
    original_outcome: str
    original_pd: float | None
    error: str = ""


@dataclass
class ChunkStats:
    """What the batch summary is made of; chunk stats add up (stored per chunk, merged at the end)."""

    count: int = 0
    errors: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    flips: Counter[str] = field(default_factory=Counter)  # "before>after" for stored items
    compared: int = 0
    pd_sum: float = 0.0
    pd_n: int = 0
    original_pd_sum: float = 0.0
    shift_sum: float = 0.0
    shift_abs_sum: float = 0.0
    shift_n: int = 0
    shift_hist: list[int] = field(default_factory=lambda: [0] * (len(SHIFT_EDGES) + 1))

    def add(self, r: ItemResult) -> None:
        self.count += 1
        if r.error:
            self.errors += 1
            return
        self.outcomes[r.outcome] += 1
        if r.pd is not None:
            self.pd_sum += r.pd
            self.pd_n += 1
        if r.original_outcome:
            self.compared += 1
            self.flips[f"{r.original_outcome}>{r.outcome}"] += 1
        if r.pd is not None and r.original_pd is not None:
            shift = r.pd - r.original_pd
            self.original_pd_sum += r.original_pd
            self.shift_sum += shift
            self.shift_abs_sum += abs(shift)
            self.shift_n += 1
            self.shift_hist[int(np.searchsorted(SHIFT_EDGES, shift, side="right"))] += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count, "errors": self.errors, "outcomes": dict(self.outcomes),
            "flips": dict(self.flips), "compared": self.compared, "pd_sum": self.pd_sum,
            "pd_n": self.pd_n, "original_pd_sum": self.original_pd_sum, "shift_sum": self.shift_sum,
            "shift_abs_sum": self.shift_abs_sum, "shift_n": self.shift_n, "shift_hist": self.shift_hist,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ChunkStats:
        s = cls()
        for k, v in d.items():
            if k in ("outcomes", "flips"):
                setattr(s, k, Counter(v))
            else:
                setattr(s, k, v)
        return s

    def merge(self, other: ChunkStats) -> None:
        for name in ("count", "errors", "compared", "pd_sum", "pd_n", "original_pd_sum",
                     "shift_sum", "shift_abs_sum", "shift_n"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.outcomes.update(other.outcomes)
        self.flips.update(other.flips)
        self.shift_hist = [a + b for a, b in zip(self.shift_hist, other.shift_hist, strict=True)]

    def summary(self) -> dict[str, Any]:
        """Outcome distribution, flips against the original decisions, score shift."""
        decided = self.count - self.errors
        flipped = sum(n for k, n in self.flips.items() if k.split(">")[0] != k.split(">")[1])
        labels = [f"< {SHIFT_EDGES[0]:+.3f}"] + [
            f"{a:+.3f} .. {b:+.3f}" for a, b in itertools.pairwise(SHIFT_EDGES)
        ] + [f">= {SHIFT_EDGES[-1]:+.3f}"]
        return {
            "count": self.count,
            "errors": self.errors,
            "outcomes": {o: self.outcomes.get(o, 0) for o in OUTCOMES},
            "outcome_rates": {o: (self.outcomes.get(o, 0) / decided if decided else 0.0) for o in OUTCOMES},
            "mean_pd": self.pd_sum / self.pd_n if self.pd_n else None,
            "compared": self.compared,
            "flipped": flipped,
            "flip_rate": flipped / self.compared if self.compared else None,
            "flip_matrix": {b: {a: self.flips.get(f"{b}>{a}", 0) for a in OUTCOMES} for b in OUTCOMES},
            "score_shift": {
                "n": self.shift_n,
                "mean_original_pd": self.original_pd_sum / self.shift_n if self.shift_n else None,
                "mean_shift": self.shift_sum / self.shift_n if self.shift_n else None,
                "mean_abs_shift": self.shift_abs_sum / self.shift_n if self.shift_n else None,
                "histogram": dict(zip(labels, self.shift_hist, strict=True)),
            },
        }


@dataclass
class Timings:
    """Seconds spent per stage (the benchmark reports them)."""

    load: float = 0.0
    features: float = 0.0
    scoring: float = 0.0
    rules: float = 0.0
    storage: float = 0.0

    def add(self, other: Timings) -> None:
        for k in ("load", "features", "scoring", "rules", "storage"):
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def as_dict(self) -> dict[str, float]:
        return {k: round(getattr(self, k), 6) for k in ("load", "features", "scoring", "rules", "storage")}


def _columns(scorer: MatrixScorer) -> list[int] | None:
    """Column order of the scorer's features in the catalogue matrix (None: identical)."""
    if scorer.feature_version != FEATURE_VERSION:
        raise ValueError(
            f"feature version {FEATURE_VERSION} does not match model's {scorer.feature_version}"
        )
    if tuple(scorer.feature_names) == FEATURE_NAMES:
        return None
    index = {name: i for i, name in enumerate(FEATURE_NAMES)}
    return [index[name] for name in scorer.feature_names]


def decide_items(
    items: Sequence[BatchItem],
    *,
    policy: Policy,
    scorer: MatrixScorer | None,
    timings: Timings | None = None,
) -> list[ItemResult]:
    """Decide a chunk: vectorised features and scores, `resolve` per row. A row that cannot be
    decided (malformed stored data) is an error result, never a crash of the chunk."""
    timings = timings if timings is not None else Timings()
    if not items:
        return []
    t0 = time.perf_counter()
    X = build_matrix([(it.app, it.signals, it.as_of) for it in items])
    t1 = time.perf_counter()
    pds: list[float] | None = None
    if scorer is not None:
        cols = _columns(scorer)
        Xs = (X if cols is None else X[:, cols]).astype(np.float32)
        pds = scorer.score_matrix(Xs).tolist()
        # The scalar interval, not `interval_matrix`: numpy's log/exp can differ from math's in
        # the last bit, and a batch must give exactly what `decide` gives (~1 us a row).
        interval = scorer.interval.interval
        bounds = [interval(p) for p in pds]
    t2 = time.perf_counter()
    rows = X.tolist()
    out: list[ItemResult] = []
    for i, it in enumerate(items):
        vector = FeatureVector(version=FEATURE_VERSION, names=FEATURE_NAMES, values=tuple(rows[i]))
        score = None
        if scorer is not None and pds is not None:
            score = ScoreResult(
                model_name=scorer.model_name, model_version=scorer.model_version,
                model_hash=scorer.model_hash, pd=pds[i], pd_lower=bounds[i][0], pd_upper=bounds[i][1],
                contributions=(),
            )
        try:
            r = resolve(it.app, signals=it.signals, policy=policy, features=vector, score=score)
        except (ValueError, TypeError, KeyError, ArithmeticError, AssertionError) as e:
            out.append(ItemResult(it.item, it.reference, it.application_id, "", None, None, None,
                                  None, "", it.original_outcome, it.original_pd,
                                  error=f"{type(e).__name__}: {e}"[:300]))
            continue
        pd_value = r.pd if r.pd is None or not math.isnan(r.pd) else None
        out.append(
            ItemResult(
                item=it.item,
                reference=it.reference,
                application_id=it.application_id,
                outcome=r.outcome.value,
                pd=pd_value,
                pd_lower=r.pd_lower,
                pd_upper=r.pd_upper,
                approved_amount=r.approved_amount,
                reasons=" ".join(rc.code for rc in r.reasons)[:400],
                original_outcome=it.original_outcome,
                original_pd=it.original_pd,
            )
        )
    t3 = time.perf_counter()
    timings.features += t1 - t0
    timings.scoring += t2 - t1
    timings.rules += t3 - t2
    return out
