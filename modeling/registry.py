"""MLflow model registry: log a training run with its evidence, register it, load it back.

Why MLflow: model owners need an approval trail (params, metrics, plots, dataset fingerprint)
and the web process needs "the champion of product X" by alias — that is exactly MLflow's
tracking + registry. MLflow is imported lazily inside each function: importing it costs ~3 s,
which must never land on Django start-up or on a decision.

Layout of one registered model version `verdict-<product>`:
- the booster, logged with `mlflow.xgboost.log_model` (UBJSON file; `pip_requirements` given
  explicitly so MLflow does not spend seconds inferring, and mis-naming, dependencies);
- run artefacts under `verdict/`: `meta.json` (feature names + version, interval parameters,
  reason-code map, the model file's SHA-256), `metrics.json` (calibration table, approval curve),
  `profile.json` (drift baseline), `features.json` (the catalogue), and plots.

`load_model` recomputes the SHA-256 of the downloaded model file and refuses a file that does
not match what was recorded at registration: the hash stored on every decision must mean what
it says.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modeling.scoring import XGBoostScorer
    from modeling.training import TrainingResult

META_PATH = "verdict"
_MODEL_FILES = ("model.ubj", "model.xgb", "model.json", "model.deprecated")


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    name: str
    version: str
    run_id: str
    sha256: str
    alias: str | None = None


def model_name(product_code: str) -> str:
    return f"verdict-{product_code}"


def _mlflow() -> Any:
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    # Progress bars on stderr are noise in management commands, Celery logs and tests.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    return mlflow


def _client(tracking_uri: str) -> Any:
    mlflow = _mlflow()
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _artifact_location(artifact_root: str | os.PathLike[str] | None) -> str | None:
    if artifact_root is None:
        return None
    root = str(artifact_root)
    if "://" in root:
        return root
    return Path(root).resolve().as_uri()


def _experiment_id(client: Any, name: str, artifact_root: str | os.PathLike[str] | None) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    return str(client.create_experiment(name, artifact_location=_artifact_location(artifact_root)))


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _find_model_file(directory: Path) -> Path:
    for name in _MODEL_FILES:
        found = sorted(directory.rglob(name))
        if found:
            return found[0]
    raise FileNotFoundError(f"no xgboost model file under {directory}")


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    return {
        k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)
    }


def _roc_points(result: TrainingResult, points: int = 40) -> dict[str, list[list[float]]]:
    """Holdout ROC curves of both models, thinned to about `points` points each (model card)."""
    from sklearn.metrics import roc_curve

    out: dict[str, list[list[float]]] = {}
    for label, p in (("xgboost", result.holdout_pd), ("logistic_regression", result.holdout_pd_baseline)):
        fpr, tpr, _ = roc_curve(result.holdout_y, p)
        step = max(1, len(fpr) // points)
        idx = sorted(set(range(0, len(fpr), step)) | {len(fpr) - 1})
        out[label] = [[round(float(fpr[i]), 4), round(float(tpr[i]), 4)] for i in idx]
    return out


def _importance(result: TrainingResult) -> dict[str, float]:
    """Total gain per feature, normalised to sum to 1 (features never split on are 0)."""
    gain = result.booster.get_score(importance_type="total_gain")
    total = sum(gain.values()) or 1.0
    return {name: round(gain.get(name, 0.0) / total, 6) for name in result.feature_names}


def _plots(result: TrainingResult) -> dict[str, Any]:
    """ROC, calibration and approval-curve figures; {} if matplotlib is unavailable."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # plots are evidence, not a requirement for a usable model
        return {}
    from sklearn.metrics import roc_curve

    figs: dict[str, Any] = {}
    fig, ax = plt.subplots(figsize=(5, 5))
    for label, p in (("XGBoost", result.holdout_pd), ("Logistic", result.holdout_pd_baseline)):
        fpr, tpr, _ = roc_curve(result.holdout_y, p)
        ax.plot(fpr, tpr, label=label)
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC (holdout)")
    ax.legend()
    figs["roc.png"] = fig

    fig, ax = plt.subplots(figsize=(5, 5))
    pred = [row["mean_pd"] for row in result.calibration]
    obs = [row["bad_rate"] for row in result.calibration]
    top = max(pred + obs + [0.01])
    ax.plot([0, top], [0, top], "k--", lw=0.8)
    ax.plot(pred, obs, "o-")
    ax.set(xlabel="Mean predicted PD", ylabel="Observed bad rate", title="Calibration by decile")
    figs["calibration.png"] = fig

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(
        [r["approval_rate"] for r in result.approval_curve],
        [r["bad_rate_approved"] for r in result.approval_curve],
        "o-",
    )
    ax.set(xlabel="Approval rate", ylabel="Bad rate among approved", title="Approval vs bad rate")
    figs["approval_curve.png"] = fig
    return figs


def register_model(
    result: TrainingResult,
    *,
    product_code: str,
    tracking_uri: str,
    artifact_root: str | os.PathLike[str] | None = None,
    alias: str | None = "champion",
    dataset_hash: str,
    dataset_size: int,
    tags: dict[str, str] | None = None,
) -> RegisteredModel:
    """Log the run (params, metrics, artefacts, booster), register a version, optionally alias it.

    The experiment `verdict-<product>` is created with `artifact_root` as its artifact location
    if it does not exist yet.
    """
    import xgboost as xgb

    from modeling.features import FEATURE_VERSION, catalogue_as_rows, reason_map

    mlflow = _mlflow()
    client = _client(tracking_uri)
    name = model_name(product_code)
    experiment_id = _experiment_id(client, name, artifact_root)

    run_tags = {
        "product_code": product_code,
        "feature_version": FEATURE_VERSION,
        "dataset_hash": dataset_hash,
        "dataset_size": str(dataset_size),
        **(tags or {}),
    }
    with mlflow.start_run(experiment_id=experiment_id, tags=run_tags) as run:
        params = {k: v for k, v in result.params.items() if k != "monotone_constraints"}
        mlflow.log_params(
            {
                **params,
                "num_boost_round": result.num_boost_round,
                "holdout": result.holdout,
                "n_train": result.n_train,
                "n_holdout": result.n_holdout,
                "feature_version": FEATURE_VERSION,
                "n_features": len(result.feature_names),
                "dataset_hash": dataset_hash,
                "dataset_size": dataset_size,
            }
        )
        metrics = {f"xgb_{k}": v for k, v in result.metrics["xgboost"].items()}
        metrics.update({f"lr_{k}": v for k, v in result.metrics["logistic_regression"].items()})
        metrics["train_seconds"] = result.train_seconds
        mlflow.log_metrics(_finite(metrics))

        mlflow.log_dict(
            {
                "feature_version": FEATURE_VERSION,
                "feature_names": list(result.feature_names),
                "monotone": result.monotone,
                "catalogue": catalogue_as_rows(),
            },
            f"{META_PATH}/features.json",
        )
        mlflow.log_dict(result.profile, f"{META_PATH}/profile.json")
        mlflow.log_dict(
            {
                "metrics": result.metrics,
                "calibration": result.calibration,
                "approval_curve": result.approval_curve,
                "roc": _roc_points(result),
                "importance": _importance(result),
                "interval_coverage": result.interval_coverage,
            },
            f"{META_PATH}/metrics.json",
        )
        for filename, fig in _plots(result).items():
            mlflow.log_figure(fig, f"{META_PATH}/plots/{filename}")
            import matplotlib.pyplot as plt

            plt.close(fig)  # pyplot keeps every figure alive until closed

        info = mlflow.xgboost.log_model(
            result.booster,
            name="model",
            pip_requirements=[f"xgboost=={xgb.__version__}"],
            registered_model_name=name,
            model_format="ubj",
        )
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(artifact_uri=info.model_uri, dst_path=tmp)
            sha = _sha256_file(_find_model_file(Path(local)))
        version = str(info.registered_model_version)
        mlflow.log_dict(
            {
                "model_name": name,
                "model_version": version,
                "sha256": sha,
                "feature_names": list(result.feature_names),
                "feature_version": result.feature_version,
                "interval": result.interval.to_dict(),
                "reason_map": {k: list(v) for k, v in reason_map().items()},
                "model_uri": info.model_uri,
            },
            f"{META_PATH}/meta.json",
        )
        run_id = run.info.run_id

    client.set_model_version_tag(name, version, "sha256", sha)
    client.set_model_version_tag(name, version, "feature_version", FEATURE_VERSION)
    client.set_model_version_tag(name, version, "dataset_hash", dataset_hash)
    if alias:
        client.set_registered_model_alias(name, alias, version)
    return RegisteredModel(name=name, version=version, run_id=run_id, sha256=sha, alias=alias)


def alias_version(product_code: str, *, alias: str, tracking_uri: str) -> str:
    """The registry version the alias points at now (one small tracking-store query)."""
    return str(_client(tracking_uri).get_model_version_by_alias(model_name(product_code), alias).version)


def set_alias(product_code: str, *, version: str, alias: str, tracking_uri: str) -> None:
    """Point `alias` (champion/challenger) of the product's model at `version`."""
    _client(tracking_uri).set_registered_model_alias(model_name(product_code), alias, version)


def load_model(
    product_code: str,
    *,
    alias: str = "champion",
    tracking_uri: str,
    artifact_root: str | os.PathLike[str] | None = None,
    version: str | None = None,
) -> XGBoostScorer:
    """The product's model under `alias` — or, given `version`, that exact registered version
    (`models:/verdict-<product>/<version>`, used by replay) — verified against its recorded SHA-256.

    `artifact_root` is accepted for symmetry with `register_model`; artefact locations are
    recorded in the tracking store, so it is not needed to find them.
    """
    import xgboost as xgb

    from modeling.scoring import IntervalParams, XGBoostScorer

    mlflow = _mlflow()
    client = _client(tracking_uri)
    name = model_name(product_code)
    mv = client.get_model_version(name, version) if version else client.get_model_version_by_alias(name, alias)
    with tempfile.TemporaryDirectory() as tmp:
        meta_file = mlflow.artifacts.download_artifacts(
            run_id=mv.run_id, artifact_path=f"{META_PATH}/meta.json", dst_path=tmp
        )
        meta = json.loads(Path(meta_file).read_text())
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=meta.get("model_uri") or mv.source, dst_path=str(Path(tmp) / "model")
        )
        model_file = _find_model_file(Path(local))
        sha = _sha256_file(model_file)
        if sha != meta["sha256"]:
            raise ValueError(f"{name} v{mv.version}: model file SHA-256 does not match the record")
        booster = xgb.Booster(model_file=str(model_file))
    return XGBoostScorer(
        booster,
        model_name=name,
        model_version=str(mv.version),
        model_hash=sha,
        feature_names=meta["feature_names"],
        interval=IntervalParams.from_dict(meta["interval"]),
        reason_map={k: (v[0], v[1]) for k, v in meta["reason_map"].items()},
        feature_version=meta["feature_version"],
    )


def load_profile(product_code: str, *, alias: str = "champion", tracking_uri: str) -> dict:
    """The drift baseline stored with the product's model under `alias`."""
    mlflow = _mlflow()
    mv = _client(tracking_uri).get_model_version_by_alias(model_name(product_code), alias)
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=mv.run_id, artifact_path=f"{META_PATH}/profile.json", dst_path=tmp
        )
        return dict(json.loads(Path(path).read_text()))
