"""Training a PD model: XGBoost champion candidate, logistic-regression baseline, and evidence.

Why a baseline: a model owner must show that the gradient-boosted model earns its complexity;
a scaled logistic regression on the same features is the standard yardstick in UK credit risk.

Everything a model approval pack needs is computed here on the *holdout* (never the training
rows): AUC, Gini, KS, Brier, log-loss, calibration by decile, the approval-rate / bad-rate
curve, the PD interval parameters and their measured coverage, and the training-data profile
that drift monitoring later compares with live traffic.

Reproducible: the same X, y, seed and params give the same booster (xgboost's `hist` method is
deterministic for a fixed thread count and seed) and the same metrics.

Framework-free: no Django, no MLflow (see `modeling.registry` for persistence).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import xgboost as xgb
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score, roc_curve
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modeling.features import CATALOGUE, FEATURE_VERSION, monotone_constraints
from modeling.profile import build_profile
from modeling.scoring import IntervalParams

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary:logistic",
    "eval_metric": "logloss",
    "tree_method": "hist",
    "max_depth": 4,
    "eta": 0.05,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 20.0,
    "lambda": 1.0,
}
DEFAULT_ROUNDS = 200
INTERVAL_LEVEL = 0.90
INTERVAL_BANDS = 8


@dataclass
class TrainingResult:
    """A trained model and the evidence for it. Not frozen: holds numpy arrays and a booster."""

    booster: xgb.Booster
    baseline: Pipeline
    feature_names: tuple[str, ...]
    feature_version: str
    params: dict[str, Any]
    num_boost_round: int
    monotone: dict[str, int]
    seed: int
    holdout: str
    n_train: int
    n_holdout: int
    train_seconds: float
    metrics: dict[str, dict[str, float]]  # {"xgboost": {...}, "logistic_regression": {...}}
    calibration: list[dict[str, float]]
    approval_curve: list[dict[str, float]]
    interval: IntervalParams
    interval_coverage: float
    profile: dict[str, Any]
    holdout_y: np.ndarray
    holdout_pd: np.ndarray
    holdout_pd_baseline: np.ndarray


# --- metrics ------------------------------------------------------------------------------------


def evaluate(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Discrimination and calibration metrics of PDs `p` against outcomes `y` (1 = bad)."""
    y = np.asarray(y).astype(int)
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-9, 1.0 - 1e-9)
    auc = float(roc_auc_score(y, p))
    fpr, tpr, _ = roc_curve(y, p)
    return {
        "auc": auc,
        "gini": 2.0 * auc - 1.0,
        "ks": float(np.max(tpr - fpr)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "bad_rate": float(y.mean()),
        "mean_pd": float(p.mean()),
        "n": float(y.size),
    }


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Observed vs predicted bad rate by PD decile (equal-count bins, lowest PD first)."""
    order = np.argsort(p, kind="stable")
    out = []
    for k, idx in enumerate(np.array_split(order, bins)):
        if idx.size == 0:
            continue
        out.append(
            {
                "decile": float(k + 1),
                "n": float(idx.size),
                "pd_min": float(p[idx].min()),
                "pd_max": float(p[idx].max()),
                "mean_pd": float(p[idx].mean()),
                "bad_rate": float(np.mean(y[idx])),
                "bads": float(np.sum(y[idx])),
            }
        )
    return out


def approval_curve(y: np.ndarray, p: np.ndarray, points: int = 20) -> list[dict[str, float]]:
    """Bad rate among approved when approving everyone at or below each PD cut-off.

    Cut-offs are the PD quantiles at approval rates 5%, 10%, ... 100%, so the curve reads
    directly as "approve X% of applicants, expect Y% bad".
    """
    out = []
    for rate in np.linspace(1.0 / points, 1.0, points):
        cutoff = float(np.quantile(p, rate))
        approved = p <= cutoff
        n_app = int(approved.sum())
        out.append(
            {
                "target_approval_rate": float(rate),
                "cutoff_pd": cutoff,
                "approval_rate": n_app / p.size,
                "bad_rate_approved": float(np.mean(y[approved])) if n_app else 0.0,
                "n_approved": float(n_app),
            }
        )
    return out


# --- models -------------------------------------------------------------------------------------


def _baseline(feature_names: Sequence[str], seed: int) -> Pipeline:
    """Median-imputed (with missing indicators), scaled numerics + one-hot categoricals -> LR."""
    cat = {spec.name for spec in CATALOGUE if spec.dtype == "categorical"}
    cat_idx = [i for i, n in enumerate(feature_names) if n in cat]
    num_idx = [i for i, n in enumerate(feature_names) if n not in cat]
    pre = ColumnTransformer(
        [
            (
                "num",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
                        ("scale", StandardScaler()),
                    ]
                ),
                num_idx,
            ),
            (
                "cat",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore")),
                    ]
                ),
                cat_idx,
            ),
        ]
    )
    return Pipeline([("pre", pre), ("lr", LogisticRegression(max_iter=2000, random_state=seed))])


def _split(
    n: int,
    y: np.ndarray,
    *,
    holdout: str,
    timestamps: np.ndarray | None,
    fraction: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    idx = np.arange(n)
    if holdout == "stratified":
        tr, ho = train_test_split(idx, test_size=fraction, stratify=y, random_state=seed)
        return np.sort(tr), np.sort(ho)
    if holdout == "time":
        if timestamps is None:
            raise ValueError("holdout='time' needs timestamps")
        # Out-of-time: the most recent `fraction` of applications, as the model will face them.
        order = np.argsort(np.asarray(timestamps), kind="stable")
        cut = round(n * (1.0 - fraction))
        return np.sort(order[:cut]), np.sort(order[cut:])
    raise ValueError(f"unknown holdout {holdout!r}")


def _fit_booster(
    X: np.ndarray,
    y: np.ndarray,
    feature_names: Sequence[str],
    params: Mapping[str, Any],
    rounds: int,
) -> xgb.Booster:
    d = xgb.DMatrix(X, label=y, feature_names=list(feature_names))
    return xgb.train(dict(params), d, num_boost_round=rounds)


def _fit_interval(
    main_logit: np.ndarray, boot_logit: np.ndarray, main_pd: np.ndarray, level: float, bands: int
) -> IntervalParams:
    """Band-wise central quantiles of (bootstrap - champion) logits; see `IntervalParams`."""
    n_boot = boot_logit.shape[1]
    qs = np.quantile(main_pd, np.linspace(0.0, 1.0, bands + 1)[1:-1])
    edges = [float(x) for x in np.unique(qs)]
    band = np.searchsorted(np.asarray(edges), main_pd, side="right")
    dev = boot_logit - main_logit[:, None]
    alpha = (1.0 - level) / 2.0
    lower, upper = [], []
    for b in range(len(edges) + 1):
        d = dev[band == b].ravel()
        if d.size == 0:
            d = dev.ravel()
        lower.append(min(0.0, float(np.quantile(d, alpha))))
        upper.append(max(0.0, float(np.quantile(d, 1.0 - alpha))))
    return IntervalParams(
        level=level,
        band_edges=tuple(edges),
        lower_logit=tuple(lower),
        upper_logit=tuple(upper),
        n_bootstrap=n_boot,
    )


def _interval_coverage(params: IntervalParams, main_pd: np.ndarray, boot_pd: np.ndarray) -> float:
    """Share of bootstrap-member PDs inside the interval (nominal `params.level`)."""
    lo_hi = [params.interval(float(p)) for p in main_pd]
    lo = np.array([a for a, _ in lo_hi])[:, None]
    hi = np.array([b for _, b in lo_hi])[:, None]
    return float(np.mean((boot_pd >= lo) & (boot_pd <= hi)))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1.0 - 1e-9)
    return np.log(p / (1.0 - p))


def train(
    X: np.ndarray,
    y: np.ndarray,
    *,
    feature_names: Sequence[str],
    seed: int,
    holdout: Literal["stratified", "time"] = "stratified",
    timestamps: np.ndarray | None = None,
    monotone: Mapping[str, int] | None = None,
    params: Mapping[str, Any] | None = None,
    num_boost_round: int = DEFAULT_ROUNDS,
    holdout_fraction: float = 0.2,
    n_bootstrap: int = 8,
    nthread: int = 2,
) -> TrainingResult:
    """Train the XGBoost PD model and the LR baseline, and evaluate both on a holdout.

    `monotone` defaults to the catalogue's directions (features not in it: unconstrained);
    pass `{}` to train unconstrained. `params` override `DEFAULT_PARAMS`; the key
    `n_estimators` is accepted as an alias of `num_boost_round`. `n_bootstrap=0` disables
    the interval ensemble (zero-width intervals).
    """
    t0 = time.perf_counter()
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).astype(int)
    names = tuple(feature_names)
    if X.shape[1] != len(names):
        raise ValueError(f"X has {X.shape[1]} columns, {len(names)} feature names")

    p: dict[str, Any] = dict(DEFAULT_PARAMS)
    p.update(params or {})
    rounds = int(p.pop("n_estimators", num_boost_round))
    p["seed"] = seed
    p["nthread"] = int(p.get("nthread", nthread))
    directions = monotone_constraints() if monotone is None else dict(monotone)
    mono = {n: int(directions.get(n, 0)) for n in names}
    if any(mono.values()):
        p["monotone_constraints"] = "(" + ",".join(str(mono[n]) for n in names) + ")"

    tr, ho = _split(
        len(y), y, holdout=holdout, timestamps=timestamps, fraction=holdout_fraction, seed=seed
    )
    booster = _fit_booster(X[tr], y[tr], names, p, rounds)
    pd_ho = booster.inplace_predict(X[ho]).astype(np.float64)

    baseline = _baseline(names, seed)
    baseline.fit(X[tr], y[tr])
    pd_ho_lr = baseline.predict_proba(X[ho])[:, 1]

    # Bootstrap ensemble for the interval: resample training rows with replacement.
    rng = np.random.default_rng(seed)
    boot_pd = np.empty((ho.size, n_bootstrap))
    for b in range(n_bootstrap):
        sample = tr[rng.integers(0, tr.size, tr.size)]
        pb = dict(p, seed=seed + 1 + b)
        boot_pd[:, b] = _fit_booster(X[sample], y[sample], names, pb, rounds).inplace_predict(X[ho])
    if n_bootstrap > 0:
        # Coverage is measured honestly: fit on one half of the holdout, count on the other.
        half = rng.permutation(ho.size)
        a, c = half[: ho.size // 2], half[ho.size // 2 :]
        fit_a = _fit_interval(
            _logit(pd_ho[a]), _logit(boot_pd[a]), pd_ho[a], INTERVAL_LEVEL, INTERVAL_BANDS
        )
        coverage = _interval_coverage(fit_a, pd_ho[c], boot_pd[c])
        interval = _fit_interval(
            _logit(pd_ho), _logit(boot_pd), pd_ho, INTERVAL_LEVEL, INTERVAL_BANDS
        )
    else:
        coverage = float("nan")
        interval = IntervalParams.degenerate()

    categorical = [spec.name for spec in CATALOGUE if spec.dtype == "categorical"]
    # Features over all rows (the development sample); PDs over the holdout, which is
    # out-of-sample like live traffic (in-sample PDs are over-confident).
    profile = build_profile(X, names, pd_ho, categorical=[n for n in names if n in categorical])

    metrics = {
        "xgboost": evaluate(y[ho], pd_ho),
        "logistic_regression": evaluate(y[ho], pd_ho_lr),
    }
    metrics["xgboost"]["interval_coverage"] = coverage
    metrics["xgboost"]["mean_interval_width"] = float(
        np.mean([hi - lo for lo, hi in (interval.interval(float(v)) for v in pd_ho)])
    )

    return TrainingResult(
        booster=booster,
        baseline=baseline,
        feature_names=names,
        feature_version=FEATURE_VERSION,
        params=p,
        num_boost_round=rounds,
        monotone=mono,
        seed=seed,
        holdout=holdout,
        n_train=int(tr.size),
        n_holdout=int(ho.size),
        train_seconds=time.perf_counter() - t0,
        metrics=metrics,
        calibration=calibration_table(y[ho], pd_ho),
        approval_curve=approval_curve(y[ho], pd_ho),
        interval=interval,
        interval_coverage=coverage,
        profile=profile,
        holdout_y=y[ho],
        holdout_pd=pd_ho,
        holdout_pd_baseline=pd_ho_lr,
    )


def scorer_from_result(
    result: TrainingResult, *, model_name: str = "local", model_version: str = "0"
) -> Any:
    """An in-memory `XGBoostScorer` for a fresh training result (tests, demos, benchmarks)."""
    from modeling.features import reason_map
    from modeling.scoring import XGBoostScorer, booster_sha256

    return XGBoostScorer(
        result.booster,
        model_name=model_name,
        model_version=model_version,
        model_hash=booster_sha256(result.booster),
        feature_names=result.feature_names,
        interval=result.interval,
        reason_map=reason_map(),
        feature_version=result.feature_version,
    )
