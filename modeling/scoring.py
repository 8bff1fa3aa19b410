"""In-process scoring and explanation of one application (and vectorised batches).

Why in-process: a decision has a 25 ms P95 budget; a network hop to a model server would spend a
good part of it. The booster is loaded once per process (see `modeling.serving`) and scoring is
a pure function of the feature vector.

Cost per application (200 trees, depth 4, nthread=1): the PD (in-place prediction) and
approximate contributions on a 1-row DMatrix for reasons. Exact TreeSHAP is ~5x dearer and not
needed for adverse-action reasons. Three ways, fastest first, each checked bit for bit against
xgboost's Python API when the scorer is built (any difference: the next one):
- `modeling.forest.FlatForest`: the trees as numpy arrays, ~55 us (issue 11);
- `_NativeCalls`: the same C API calls the wrapper makes, without its per-call work, ~175 us
  (also the multi-row PDs of the counterfactual search);
- the Python API itself, ~440 us.

The PD interval is a per-PD-band lookup (see `IntervalParams`), so it costs microseconds.

Framework-free: imports numpy and xgboost only (no Django, no MLflow, no scikit-learn).
"""

from __future__ import annotations

import bisect
import ctypes
import hashlib
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb

from decisioning.engine.types import FeatureVector, ReasonCode, ScoreResult
from modeling.features import FEATURE_VERSION
from modeling.forest import FlatForest

MAX_REASONS = 4

logger = logging.getLogger(__name__)


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1.0 - 1e-9)
    return math.log(p / (1.0 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@dataclass(frozen=True, slots=True)
class IntervalParams:
    """A cheap PD interval: per PD band, quantiles of the spread of a bootstrap ensemble.

    At training time `n_bootstrap` boosters are fitted on bootstrap resamples of the training
    rows. On held-out rows, for each band of the champion's PD, we take the `level` central
    quantiles of (bootstrap logit - champion logit). Serving adds the band's two offsets to the
    champion's logit: one bisect and two exps. The interval expresses *estimation* uncertainty
    (how much the PD would move with a different sample of history), not the Bernoulli noise of
    one loan's outcome. `lower_logit[i] <= 0 <= upper_logit[i]` always, so lower <= pd <= upper.
    """

    level: float
    band_edges: tuple[float, ...]  # inner PD edges, ascending; len(bands) == len(edges) + 1
    lower_logit: tuple[float, ...]
    upper_logit: tuple[float, ...]
    n_bootstrap: int

    def interval(self, pd: float) -> tuple[float, float]:
        band = bisect.bisect_right(self.band_edges, pd)
        x = _logit(pd)
        lo = _sigmoid(x + self.lower_logit[band])
        hi = _sigmoid(x + self.upper_logit[band])
        return min(lo, pd), max(hi, pd)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "bootstrap-band-quantiles",
            "level": self.level,
            "band_edges": list(self.band_edges),
            "lower_logit": list(self.lower_logit),
            "upper_logit": list(self.upper_logit),
            "n_bootstrap": self.n_bootstrap,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> IntervalParams:
        return cls(
            level=float(d["level"]),
            band_edges=tuple(float(x) for x in d["band_edges"]),
            lower_logit=tuple(float(x) for x in d["lower_logit"]),
            upper_logit=tuple(float(x) for x in d["upper_logit"]),
            n_bootstrap=int(d["n_bootstrap"]),
        )

    @classmethod
    def degenerate(cls) -> IntervalParams:
        """A zero-width interval, for models trained without an ensemble."""
        return cls(level=0.0, band_edges=(), lower_logit=(0.0,), upper_logit=(0.0,), n_bootstrap=0)


def booster_sha256(booster: xgb.Booster) -> str:
    """SHA-256 of the booster's UBJSON serialisation (what `mlflow.xgboost` stores by default)."""
    return hashlib.sha256(bytes(booster.save_raw(raw_format="ubj"))).hexdigest()


class _NativeCalls:
    """xgboost's public C API (c_api.h), called directly for one booster.

    The calls, arguments and configs are exactly those `Booster.inplace_predict` and
    `Booster.predict(DMatrix, pred_contribs=True, approx_contribs=True)` make; what is skipped is the
    wrapper's per-call work around them: input-type dispatch, JSON configs built per call, the
    output copied into a new numpy array. Results are read from xgboost's thread-local buffers
    before the next call on the same thread. Thread-safe as those two methods are.
    """

    _VALUE = json.dumps({"type": 0, "training": False, "iteration_begin": 0, "iteration_end": 0,
                         "missing": math.nan, "strict_shape": False, "cache_id": 0}).encode()
    _CONTRIBS = json.dumps({"type": 3, "training": False, "iteration_begin": 0, "iteration_end": 0,
                            "strict_shape": False}).encode()
    _DMATRIX = json.dumps({"missing": math.nan, "nthread": 1, "data_split_mode": 0}).encode()

    def __init__(self, booster: xgb.Booster, n_features: int) -> None:
        from xgboost.core import _LIB, _check_call, c_bst_ulong

        self._booster = booster  # keeps the handle alive
        self._handle = booster.handle
        self._lib = _LIB
        self._check = _check_call
        self._ulong = c_bst_ulong
        self._n = n_features

    @staticmethod
    def _interface(x: np.ndarray) -> bytes:
        # What xgboost's `array_interface` serialises for a C-contiguous float32 matrix.
        return (
            b'{"data": [%d, false], "strides": null, "descr": [["", "<f4"]], "typestr": "<f4", '
            b'"shape": [%d, %d], "version": 3}' % (x.ctypes.data, x.shape[0], x.shape[1])
        )

    def pds(self, x: np.ndarray) -> list[float]:
        """PDs of the rows of a C-contiguous float32 matrix (k, n)."""
        preds = ctypes.POINTER(ctypes.c_float)()
        shape = ctypes.POINTER(self._ulong)()
        dims = self._ulong()
        self._check(self._lib.XGBoosterPredictFromDense(
            self._handle, self._interface(x), self._VALUE, None,
            ctypes.byref(shape), ctypes.byref(dims), ctypes.byref(preds),
        ))
        k = x.shape[0]
        if dims.value != 1 or shape[0] != k:
            raise RuntimeError(f"unexpected prediction shape from xgboost: dims={dims.value}")
        return preds[:k]

    def contributions(self, x: np.ndarray) -> list[float]:
        """Approximate (Saabas) contributions of one row, bias last."""
        handle = ctypes.c_void_p()
        self._check(self._lib.XGDMatrixCreateFromDense(self._interface(x), self._DMATRIX, ctypes.byref(handle)))
        try:
            preds = ctypes.POINTER(ctypes.c_float)()
            shape = ctypes.POINTER(self._ulong)()
            dims = self._ulong()
            self._check(self._lib.XGBoosterPredictFromDMatrix(
                self._handle, handle, self._CONTRIBS, ctypes.byref(shape), ctypes.byref(dims), ctypes.byref(preds),
            ))
            if dims.value != 2 or shape[0] != 1 or shape[1] != self._n + 1:
                raise RuntimeError(f"unexpected contribution shape from xgboost: dims={dims.value}")
            return preds[: self._n + 1]
        finally:
            self._check(self._lib.XGDMatrixFree(handle))


def _probe_rows(n: int, rows: int = 64) -> np.ndarray:
    """Rows for the start-up self-check: wide random values with missing ones sprinkled in."""
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((rows, n)) * rng.choice([1.0, 10.0, 1000.0], size=(rows, n))).astype(np.float32)
    x[rng.random((rows, n)) < 0.1] = np.nan
    return np.ascontiguousarray(x)


class XGBoostScorer:
    """A loaded champion/challenger model: PD, interval, contributions and reason codes.

    Thread-safe for concurrent `score` calls (xgboost prediction is thread-safe; no state is
    mutated after construction).
    """

    def __init__(
        self,
        booster: xgb.Booster,
        *,
        model_name: str,
        model_version: str,
        model_hash: str,
        feature_names: Sequence[str],
        interval: IntervalParams,
        reason_map: Mapping[str, tuple[str, str]],
        feature_version: str = FEATURE_VERSION,
    ) -> None:
        # A private copy without feature names: a 1-row DMatrix without names is ~30 us cheaper,
        # and the column order is checked here, once per vector, instead.
        self._booster = booster.copy()
        self._booster.feature_names = None
        self._booster.feature_types = None
        # Single-row serving: thread start-up costs more than the work (gunicorn/celery already
        # parallelise across requests).
        self._booster.set_param({"nthread": 1})
        self.model_name = model_name
        self.model_version = model_version
        self.model_hash = model_hash
        self.feature_names: tuple[str, ...] = tuple(feature_names)
        self.feature_version = feature_version
        self.interval = interval
        self.reason_map: dict[str, tuple[str, str]] = dict(reason_map)
        self._n = len(self.feature_names)
        self._native = self._native_calls()
        self._forest = self._flat_forest()

    def _flat_forest(self) -> FlatForest | None:
        """The numpy forest, if it reproduces xgboost bit for bit on its probe rows."""
        try:
            forest = FlatForest(self._booster, self._n)
            X = np.concatenate([forest.probe_rows(), _probe_rows(self._n)])
            pds = self._booster.inplace_predict(X)
            contribs = self._booster.predict(xgb.DMatrix(X, nthread=1), pred_contribs=True, approx_contribs=True)
            for i in range(len(X)):
                pd, features = forest.score(X[i])
                if pd != float(pds[i]) or features != [float(c) for c in contribs[i][:-1]]:
                    raise ValueError(f"probe row {i} differs")
        except Exception as e:  # Unsupported, or any difference: xgboost's own calls
            logger.warning("flat forest disabled for %s:%s (%s); using xgboost's calls",
                           self.model_name, self.model_version, e)
            return None
        return forest

    def __getstate__(self) -> dict[str, Any]:  # pickled for worker processes: ctypes handles are not
        return {k: v for k, v in self.__dict__.items() if k != "_native"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._native = self._native_calls()

    def _native_calls(self) -> _NativeCalls | None:
        """The direct C API path, if it reproduces the wrapper bit for bit on the probe rows."""
        try:
            native = _NativeCalls(self._booster, self._n)
            X = _probe_rows(self._n)
            expected_pd = [float(p) for p in self._booster.inplace_predict(X)]
            if [float(p) for p in native.pds(X)] != expected_pd:
                raise ValueError("PDs differ")
            for i in range(8):
                x = X[i : i + 1]
                expected = self._booster.predict(xgb.DMatrix(x, nthread=1), pred_contribs=True, approx_contribs=True)[0]
                if [float(p) for p in native.pds(x)] != [expected_pd[i]] or native.contributions(x) != [float(c) for c in expected]:
                    raise ValueError("single-row results differ")
        except Exception as e:  # any doubt: the wrapper, which is what the check compares against
            logger.warning("xgboost direct calls disabled for %s:%s (%s); using the Python API",
                           self.model_name, self.model_version, e)
            return None
        return native

    @property
    def booster(self) -> xgb.Booster:
        return self._booster

    def _row(self, vector: FeatureVector) -> np.ndarray:
        if vector.version != self.feature_version:
            raise ValueError(
                f"feature version {vector.version} does not match model's {self.feature_version}"
            )
        if vector.names == self.feature_names:
            values: Sequence[float] = vector.values
        else:
            d = vector.as_dict()
            values = [d.get(name, math.nan) for name in self.feature_names]
        return np.asarray(values, dtype=np.float32).reshape(1, self._n)

    def score(self, vector: FeatureVector) -> ScoreResult:
        """PD (inplace_predict), interval (band lookup) and up to 4 adverse reasons."""
        x = self._row(vector)
        if self._forest is not None:
            pd, contribs = self._forest.score(x[0])
        elif self._native is not None:
            pd = self._native.pds(x)[0]
            contribs = self._native.contributions(x)
        else:
            pd = float(self._booster.inplace_predict(x)[0])
            contribs = self._booster.predict(xgb.DMatrix(x, nthread=1), pred_contribs=True, approx_contribs=True)[0]
        lower, upper = self.interval.interval(pd)
        pairs = tuple(
            (name, float(c)) for name, c in zip(self.feature_names, contribs[: self._n], strict=True)
        )
        return ScoreResult(
            model_name=self.model_name,
            model_version=self.model_version,
            model_hash=self.model_hash,
            pd=pd,
            pd_lower=lower,
            pd_upper=upper,
            contributions=pairs,
            reasons=self._reasons(pairs),
        )

    def _reasons(self, pairs: Sequence[tuple[str, float]]) -> tuple[ReasonCode, ...]:
        """Top risk-increasing contributions, one per reason code, largest first."""
        out: list[ReasonCode] = []
        seen: set[str] = set()
        for name, c in sorted(pairs, key=lambda p: p[1], reverse=True):
            if c <= 0.0 or len(out) == MAX_REASONS:
                break
            code, text = self.reason_map.get(name, ("R_OTHER", "Other factors in your application"))
            if code in seen:
                continue
            seen.add(code)
            out.append(ReasonCode(code=code, description=text, source="model", weight=c))
        return tuple(out)

    def pd_only(self, vectors: Sequence[FeatureVector]) -> list[float]:
        """PDs of several vectors in one call (float32 rows, exactly as `score` predicts them)."""
        if not vectors:
            return []
        if all(v.names == self.feature_names and v.version == self.feature_version for v in vectors):
            X = np.asarray([v.values for v in vectors], dtype=np.float32)  # the rows `_row` builds, at once
        else:
            X = np.vstack([self._row(v) for v in vectors])
        if self._native is not None:
            return self._native.pds(X)
        return [float(p) for p in self._booster.inplace_predict(X)]

    def score_matrix(self, X: np.ndarray) -> np.ndarray:
        """PDs of many rows (catalogue column order), vectorised; no explanations."""
        if X.ndim != 2 or X.shape[1] != self._n:
            raise ValueError(f"expected shape (n, {self._n}), got {X.shape}")
        return np.asarray(self._booster.inplace_predict(X), dtype=np.float64)

    def interval_matrix(self, pd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised `IntervalParams.interval`, same arithmetic."""
        p = np.clip(pd, 1e-9, 1.0 - 1e-9)
        x = np.log(p / (1.0 - p))
        band = np.searchsorted(np.asarray(self.interval.band_edges), pd, side="right")
        lo = 1.0 / (1.0 + np.exp(-(x + np.asarray(self.interval.lower_logit)[band])))
        hi = 1.0 / (1.0 + np.exp(-(x + np.asarray(self.interval.upper_logit)[band])))
        return np.minimum(lo, pd), np.maximum(hi, pd)

    def metadata(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "model_hash": self.model_hash,
            "feature_names": list(self.feature_names),
            "feature_version": self.feature_version,
            "interval": self.interval.to_dict(),
            "reason_map": {k: list(v) for k, v in self.reason_map.items()},
        }
