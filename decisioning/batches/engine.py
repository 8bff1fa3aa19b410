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
import logging
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import numpy as np

from decisioning.batches import columns
from decisioning.engine.pipeline import resolve
from decisioning.engine.policy import Policy
from decisioning.engine.types import (
    ApplicationData,
    FeatureVector,
    Outcome,
    RuleAction,
    ScoreResult,
    Signals,
)
from decisioning.rules.vectorised import SIGNAL_NAMES, VECTOR_POLICIES, evaluate_chunk
from modeling.features import (
    FEATURE_NAMES,
    FEATURE_VERSION,
    build_matrix,
    build_vector,
    rule_context,
)
from modeling.scoring import IntervalParams

logger = logging.getLogger(__name__)

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


STAGES = ("load", "features", "scoring", "rules", "storage")


@dataclass
class Timings:
    """Seconds per stage: wall time (attributes) and this process's CPU time (`cpu`). On a busy
    machine wall time includes waiting for a core; CPU time does not (the benchmark reports both)."""

    load: float = 0.0
    features: float = 0.0
    scoring: float = 0.0
    rules: float = 0.0
    storage: float = 0.0
    cpu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    @staticmethod
    def now() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    def stop(self, stage: str, since: tuple[float, float]) -> tuple[float, float]:
        """Add the time since `since` to `stage`; returns the new mark."""
        mark = self.now()
        setattr(self, stage, getattr(self, stage) + mark[0] - since[0])
        self.cpu[stage] = self.cpu.get(stage, 0.0) + mark[1] - since[1]
        return mark

    def add(self, other: Timings) -> None:
        for k in STAGES:
            setattr(self, k, getattr(self, k) + getattr(other, k))
            self.cpu[k] = self.cpu.get(k, 0.0) + other.cpu.get(k, 0.0)

    def as_dict(self) -> dict[str, Any]:
        return {**{k: round(getattr(self, k), 6) for k in STAGES},
                "cpu": {k: round(self.cpu.get(k, 0.0), 6) for k in STAGES}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Timings:
        return cls(**{k: float(d.get(k, 0.0)) for k in STAGES},
                   cpu={k: float((d.get("cpu") or {}).get(k, 0.0)) for k in STAGES})


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


def intervals(params: Any, pd: np.ndarray) -> list[tuple[float, float]]:
    """`params.interval(p)` for every PD, bit for bit: the band lookup and the arithmetic in numpy,
    `math.log`/`math.exp` per value (numpy's may differ from libm's in the last bit; this is why
    `interval_matrix` is not used). Checked against the scalar on the first row."""
    values = pd.tolist()
    if not isinstance(params, IntervalParams) or not values:
        return [params.interval(p) for p in values]
    band = np.searchsorted(np.asarray(params.band_edges, dtype=np.float64), pd, side="right")
    p = np.where(pd < 1e-9, 1e-9, pd)  # _logit: min(max(p, 1e-9), 1 - 1e-9)
    p = np.where(p > 1.0 - 1e-9, 1.0 - 1e-9, p)
    log, exp = math.log, math.exp
    with np.errstate(all="ignore"):
        x = np.array([log(v) if v > 0 else math.nan for v in (p / (1.0 - p)).tolist()])
        lo_x = x + np.asarray(params.lower_logit, dtype=np.float64)[band]
        hi_x = x + np.asarray(params.upper_logit, dtype=np.float64)[band]
        lo = 1.0 / (1.0 + np.array([exp(v) for v in (-lo_x).tolist()]))
        hi = 1.0 / (1.0 + np.array([exp(v) for v in (-hi_x).tolist()]))
    lower = np.where(pd < lo, pd, lo)  # min(lo, pd)
    upper = np.where(pd > hi, pd, hi)  # max(hi, pd)
    out = list(zip(lower.tolist(), upper.tolist(), strict=True))
    if out[0] != params.interval(values[0]) or np.isnan(pd).any():
        return [params.interval(v) for v in values]
    return out


def _decide_row(it: BatchItem, policy: Policy, vector: FeatureVector, score: ScoreResult | None) -> ItemResult:
    """One row through `resolve` (the per-row path: rows the vectorised path leaves alone)."""
    try:
        r = resolve(it.app, signals=it.signals, policy=policy, features=vector, score=score)
    except (ValueError, TypeError, KeyError, ArithmeticError, AssertionError) as e:
        return ItemResult(it.item, it.reference, it.application_id, "", None, None, None,
                          None, "", it.original_outcome, it.original_pd,
                          error=f"{type(e).__name__}: {e}"[:300])
    pd_value = r.pd if r.pd is None or not math.isnan(r.pd) else None
    return ItemResult(
        item=it.item, reference=it.reference, application_id=it.application_id,
        outcome=r.outcome.value, pd=pd_value, pd_lower=r.pd_lower, pd_upper=r.pd_upper,
        approved_amount=r.approved_amount, reasons=" ".join(rc.code for rc in r.reasons)[:400],
        original_outcome=it.original_outcome, original_pd=it.original_pd,
    )


@dataclass
class ChunkResults:
    """A decided chunk as columns (one list per `ItemResult` field), in item order."""

    item: list[int]
    reference: list[str]
    application_id: list[str | None]
    outcome: list[str]
    pd: list[float | None]
    pd_lower: list[float | None]
    pd_upper: list[float | None]
    approved_amount: list[Decimal | None]
    reasons: list[str]
    original_outcome: list[str]
    original_pd: list[float | None]
    error: list[str]
    #: How many rows took the per-row path (whole `resolve`), and rule evaluations done per row.
    per_row: int = 0
    rule_rechecks: int = 0

    FIELDS = ("item", "reference", "application_id", "outcome", "pd", "pd_lower", "pd_upper",
              "approved_amount", "reasons", "original_outcome", "original_pd", "error")

    def __len__(self) -> int:
        return len(self.item)

    @classmethod
    def empty(cls) -> ChunkResults:
        return cls(*([] for _ in cls.FIELDS))

    @classmethod
    def from_items(cls, results: Sequence[ItemResult]) -> ChunkResults:
        out = cls.empty()
        for r in results:
            for name in cls.FIELDS:
                getattr(out, name).append(getattr(r, name))
        return out

    def extend(self, other: ChunkResults) -> None:
        for name in self.FIELDS:
            getattr(self, name).extend(getattr(other, name))
        self.per_row += other.per_row
        self.rule_rechecks += other.rule_rechecks

    def items(self) -> list[ItemResult]:
        return [ItemResult(*row) for row in zip(*(getattr(self, n) for n in self.FIELDS), strict=True)]

    def stats(self) -> ChunkStats:
        """`ChunkStats.add` over every row, column-wise (same sums, same order)."""
        s = ChunkStats()
        n = len(self.item)
        s.count = n
        ok = [i for i in range(n) if not self.error[i]]
        s.errors = n - len(ok)
        s.outcomes = Counter(self.outcome[i] for i in ok)
        pds = [self.pd[i] for i in ok if self.pd[i] is not None]
        s.pd_n = len(pds)
        s.pd_sum = _seq_sum(pds)
        compared = [i for i in ok if self.original_outcome[i]]
        s.compared = len(compared)
        s.flips = Counter(f"{self.original_outcome[i]}>{self.outcome[i]}" for i in compared)
        pairs = [(self.pd[i], self.original_pd[i]) for i in ok
                 if self.pd[i] is not None and self.original_pd[i] is not None]
        if pairs:
            shifts = [p - o for p, o in pairs]
            s.shift_n = len(pairs)
            s.original_pd_sum = _seq_sum([o for _, o in pairs])
            s.shift_sum = _seq_sum(shifts)
            s.shift_abs_sum = _seq_sum([abs(x) for x in shifts])
            bins = np.searchsorted(SHIFT_EDGES, np.array(shifts), side="right")
            s.shift_hist = np.bincount(bins, minlength=len(SHIFT_EDGES) + 1).tolist()
        return s


def _seq_sum(values: Sequence[float]) -> float:
    total = 0.0
    for v in values:
        total += v
    return total


def decide_items(
    items: Sequence[BatchItem],
    *,
    policy: Policy,
    scorer: MatrixScorer | None,
    timings: Timings | None = None,
) -> list[ItemResult]:
    """`decide_chunk` as a list of `ItemResult`."""
    return decide_chunk(items, policy=policy, scorer=scorer, timings=timings).items()


def decide_chunk(
    items: Sequence[BatchItem],
    *,
    policy: Policy,
    scorer: MatrixScorer | None,
    timings: Timings | None = None,
    vectorised: bool = True,
) -> ChunkResults:
    """Decide a chunk column-wise; every result equals per-row `resolve` (module docstring).

    1. features: the chunk's columns and the catalogue matrix (`columns.feature_matrix`, checked
       against `build_vector` on the first row of every chunk; `build_matrix` otherwise);
    2. scoring: one `score_matrix`; the interval per row by the scalar band lookup (bit-exact);
    3. rules: every rule column-wise (`rules.vectorised`); the (row, rule) pairs it cannot decide
       exactly, and every rule it cannot translate, by `Rule.evaluate` on that row's context;
    4. outcome and reasons: rows are grouped by everything `resolve`'s precedence looks at (each
       rule's fired/error flag, the missing signals, the adjusted PD's cut-off band); `resolve`
       itself decides the first row of each group and must reproduce that row's vectorised flags
       and PD, and the group shares its outcome and reason codes. A group whose first row does
       not reproduce, a group approved with an amount cap, and a row with no usable PD, go
       through `resolve` row by row.

    With `vectorised=False` every row goes through `resolve` (the reference path).
    """
    timings = timings if timings is not None else Timings()
    if not items:
        return ChunkResults.empty()
    mark = Timings.now()
    cases = [(it.app, it.signals, it.as_of) for it in items]
    cols = columns.extract(cases) if vectorised else None
    X = columns.feature_matrix(cols) if cols is not None else None
    if X is not None:
        first = build_vector(items[0].app, items[0].signals, as_of=items[0].as_of).values
        if not np.array_equal(X[0], np.asarray(first), equal_nan=True):  # pragma: no cover - a drifted catalogue
            logger.warning("vectorised features differ from the catalogue; using build_matrix")
            X = None
    if X is None:
        X = build_matrix(cases)
    mark = timings.stop("features", mark)
    pd_arr: np.ndarray | None = None
    bounds: list[tuple[float, float]] = []
    if scorer is not None:
        col_order = _columns(scorer)
        Xs = (X if col_order is None else X[:, col_order]).astype(np.float32)
        pd_arr = np.asarray(scorer.score_matrix(Xs), dtype=np.float64)
        bounds = intervals(scorer.interval, pd_arr)
    mark = timings.stop("scoring", mark)
    rows = X.tolist()
    pds = pd_arr.tolist() if pd_arr is not None else None

    def vector(i: int) -> FeatureVector:
        return FeatureVector(version=FEATURE_VERSION, names=FEATURE_NAMES, values=tuple(rows[i]))

    def score(i: int) -> ScoreResult | None:
        if scorer is None or pds is None:
            return None
        return ScoreResult(model_name=scorer.model_name, model_version=scorer.model_version,
                           model_hash=scorer.model_hash, pd=pds[i], pd_lower=bounds[i][0],
                           pd_upper=bounds[i][1], contributions=())

    if cols is None:
        out = ChunkResults.from_items([_decide_row(it, policy, vector(i), score(i)) for i, it in enumerate(items)])
        out.per_row = len(items)
    else:
        out = _vectorised(items, policy, cols, X, pd_arr, bounds, vector, score)
    timings.stop("rules", mark)
    return out


def _rule_flags(
    items: Sequence[BatchItem],
    policy: Policy,
    cols: columns.ChunkColumns,
    X: np.ndarray,
    pd_arr: np.ndarray | None,
    vector: Any,
    score: Any,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Every rule's fired and error flag for every row: column-wise, then `Rule.evaluate` on the
    row's context for each (row, rule) the columns could not decide."""
    vp = VECTOR_POLICIES.get(policy)
    rcols = columns.rule_columns(cols, X, pd_arr, vp.reads)
    chunk = evaluate_chunk(vp, rcols, len(items))
    fired, error = chunk.fired, chunk.error
    rechecks = 0
    for i in np.flatnonzero(chunk.recheck.any(axis=1)).tolist():
        s = score(i)
        ctx = rule_context(items[i].app, items[i].signals, vector(i), s.pd if s is not None else None)
        for k in np.flatnonzero(chunk.recheck[i]).tolist():
            r = policy.rules[k].evaluate(ctx)
            fired[i, k], error[i, k] = r.fired, bool(r.error)
            rechecks += 1
    return fired, error, rechecks


def rule_flags(items: Sequence[BatchItem], *, policy: Policy, scorer: MatrixScorer | None) -> tuple[np.ndarray, np.ndarray]:
    """(fired, error), each (rows, rules), as the batch engine computes them (for tests and tools)."""
    cases = [(it.app, it.signals, it.as_of) for it in items]
    cols = columns.extract(cases)
    X = columns.feature_matrix(cols)
    if X is None:
        X = build_matrix(cases)
    pd_arr = None
    if scorer is not None:
        order = _columns(scorer)
        pd_arr = np.asarray(scorer.score_matrix((X if order is None else X[:, order]).astype(np.float32)),
                            dtype=np.float64)
    rows = X.tolist()

    def vector(i: int) -> FeatureVector:
        return FeatureVector(version=FEATURE_VERSION, names=FEATURE_NAMES, values=tuple(rows[i]))

    def score(i: int) -> ScoreResult | None:
        if pd_arr is None or scorer is None:
            return None
        p = float(pd_arr[i])
        return ScoreResult(model_name=scorer.model_name, model_version=scorer.model_version,
                           model_hash="", pd=p, pd_lower=p, pd_upper=p, contributions=())

    fired, error, _ = _rule_flags(items, policy, cols, X, pd_arr, vector, score)
    return fired, error


def _vectorised(
    items: Sequence[BatchItem],
    policy: Policy,
    cols: columns.ChunkColumns,
    X: np.ndarray,
    pd_arr: np.ndarray | None,
    bounds: list[tuple[float, float]],
    vector: Any,
    score: Any,
) -> ChunkResults:
    n = len(items)
    fired, error, rechecks = _rule_flags(items, policy, cols, X, pd_arr, vector, score)

    # resolve's arithmetic on the PD, column-wise and in the same order (sum of adjustments in
    # rule order, then max(0, ·) and min(1, ·) with Python's semantics).
    missing = np.column_stack([cols.absent[s] for s in SIGNAL_NAMES])
    per_row = np.zeros(n, dtype=bool)
    if pd_arr is not None:
        shift = np.zeros(n)
        for k, rule in enumerate(policy.rules):
            if rule.action == RuleAction.ADJUST_SCORE:
                shift = shift + np.where(fired[:, k], rule.parameter or 0.0, 0.0)
        raw = pd_arr + shift
        lo = np.where(raw > 0.0, raw, 0.0)
        adjusted = np.where(lo < 1.0, lo, 1.0)
        per_row |= np.isnan(pd_arr)
        band = np.where(adjusted <= policy.cutoffs.approve_max_pd, 0,
                        np.where(adjusted > policy.cutoffs.decline_min_pd, 2, 1))
    else:
        adjusted = np.full(n, np.nan)
        band = np.zeros(n, dtype=np.int64)
    bits = np.column_stack([fired, error, missing, band == 1, band == 2]).astype(np.uint8)
    keys = np.packbits(bits, axis=1)
    keys = np.ascontiguousarray(keys).view(np.dtype((np.void, keys.shape[1]))).ravel()
    _, first, group = np.unique(keys, return_index=True, return_inverse=True)
    group = group.ravel()

    g_outcome: list[str] = []
    g_reasons: list[str] = []
    g_per_row = np.zeros(len(first), dtype=bool)
    for g, i in enumerate(first.tolist()):
        outcome, reasons = "", ""
        try:
            r = resolve(items[i].app, signals=items[i].signals, policy=policy, features=vector(i), score=score(i))
        except (ValueError, TypeError, KeyError, ArithmeticError, AssertionError):
            g_per_row[g] = True
        else:
            same = (
                [x.fired for x in r.rule_results] == fired[i].tolist()
                and [bool(x.error) for x in r.rule_results] == error[i].tolist()
                and ((r.pd is None and pd_arr is None) or (r.pd is not None and r.pd == adjusted[i]))
            )
            capped = r.outcome == Outcome.APPROVE and any(
                x.fired and x.action == RuleAction.CAP_AMOUNT for x in r.rule_results
            )
            if not same:
                logger.warning("vectorised rules disagree with resolve on a row of policy %s; "
                               "deciding its group row by row", policy.version)
            if not same or capped:
                g_per_row[g] = True
            outcome = r.outcome.value
            reasons = " ".join(rc.code for rc in r.reasons)[:400]
        g_outcome.append(outcome)
        g_reasons.append(reasons)
    per_row |= g_per_row[group]

    outcome_list = np.array(g_outcome, dtype=object)[group].tolist()
    reasons_list = np.array(g_reasons, dtype=object)[group].tolist()
    if pd_arr is not None:
        pd_list: list[float | None] = adjusted.tolist()
        lower: list[float | None] = [b[0] for b in bounds]
        upper: list[float | None] = [b[1] for b in bounds]
    else:
        pd_list, lower, upper = [None] * n, [None] * n, [None] * n
    out = ChunkResults(
        item=[it.item for it in items],
        reference=[it.reference for it in items],
        application_id=[it.application_id for it in items],
        outcome=outcome_list,
        pd=pd_list,
        pd_lower=list(lower),
        pd_upper=list(upper),
        approved_amount=[it.app.requested_amount if o == "approve" else None
                         for it, o in zip(items, outcome_list, strict=True)],
        reasons=reasons_list,
        original_outcome=[it.original_outcome for it in items],
        original_pd=[it.original_pd for it in items],
        error=[""] * n,
        rule_rechecks=rechecks,
    )
    for i in np.flatnonzero(per_row).tolist():
        row = _decide_row(items[i], policy, vector(i), score(i))
        for name in ChunkResults.FIELDS:
            getattr(out, name)[i] = getattr(row, name)
        out.per_row += 1
    return out
