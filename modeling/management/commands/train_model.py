"""`manage.py train_model`: train a product's PD model and register it in MLflow.

    manage.py train_model --product personal-loan --source generated --rows 20000 --seed 7 \
        --alias champion
    manage.py train_model --product personal-loan --source csv --csv loans.csv \
        --mapping mapping.json --alias challenger

CSV mapping file: {"columns": {csv_column: feature_name}, "target": csv_column,
"bad_value": value}. A catalogue feature with no mapped column is NaN (XGBoost learns a default
branch for it); rows are in file order, and `--holdout time` needs `"timestamp": csv_column`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


def _dataset_hash(X: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(X, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(y, dtype=np.int8).tobytes())
    return h.hexdigest()


def _specs(raw: Any, column: str) -> list[dict[str, Any]]:
    """A mapping entry: a feature name, {"feature", "values"?, "scale"?}, or a list of those."""
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for item in items:
        spec = {"feature": item} if isinstance(item, str) else dict(item)
        if "feature" not in spec:
            raise CommandError(f"mapping for column {column!r} needs a feature name")
        out.append(spec)
    return out


def _load_csv(csv_path: str, mapping_path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Features and target from any CSV, through a small mapping file.

    `{"columns": {csv_column: spec}, "target": csv_column, "bad_value": value, "timestamp"?: col}`
    where spec is a catalogue feature name (numeric column), or `{"feature": name, "values":
    {csv_value: number}, "scale": k}` for coded or rescaled columns, or a list of those when one
    column informs several features. Unmapped features are NaN (the model treats them as missing).
    """
    import pandas as pd

    from modeling.features import FEATURE_NAMES

    mapping: dict[str, Any] = json.loads(Path(mapping_path).read_text())
    columns = {col: _specs(raw, col) for col, raw in mapping.get("columns", {}).items()}
    named = [spec["feature"] for specs in columns.values() for spec in specs]
    unknown = sorted(set(named) - set(FEATURE_NAMES))
    if unknown:
        raise CommandError(f"mapping names features not in the catalogue: {unknown}")
    duplicated = sorted({f for f in named if named.count(f) > 1})
    if duplicated:
        raise CommandError(f"features mapped more than once: {duplicated}")
    df = pd.read_csv(csv_path)
    missing_cols = sorted((set(columns) | {mapping["target"]}) - set(df.columns))
    if missing_cols:
        raise CommandError(f"CSV lacks columns: {missing_cols}")
    X = np.full((len(df), len(FEATURE_NAMES)), np.nan)
    index = {name: j for j, name in enumerate(FEATURE_NAMES)}
    for col, specs in columns.items():
        for spec in specs:
            series = df[col]
            if "values" in spec:
                series = series.astype(str).map({str(k): v for k, v in spec["values"].items()})
            values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
            X[:, index[spec["feature"]]] = values * float(spec.get("scale", 1.0))
    target = df[mapping["target"]]
    y = (target.astype(str) == str(mapping["bad_value"])).to_numpy(dtype=np.int8)
    ts = None
    if mapping.get("timestamp"):
        ts = pd.to_datetime(df[mapping["timestamp"]], utc=True).astype("int64").to_numpy() / 1e9
    return X, y, ts


class Command(BaseCommand):
    help = "Train the PD model of a product on generated or CSV data and register it in MLflow."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--product", required=True, help="product code, e.g. personal-loan")
        parser.add_argument(
            "--source", choices=("generated", "csv", "decisions"), default="generated",
            help="generated data, a CSV + mapping, or stored decisions with reported outcomes",
        )
        parser.add_argument("--rows", type=int, default=20000)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--csv")
        parser.add_argument("--mapping")
        parser.add_argument("--alias", choices=("champion", "challenger", "none"), default="none")
        parser.add_argument("--holdout", choices=("stratified", "time"), default="stratified")
        parser.add_argument("--trees", type=int, default=200)
        parser.add_argument("--bootstrap", type=int, default=8, help="interval ensemble size")
        parser.add_argument("--nthread", type=int, default=2)

    def handle(self, *args: Any, **opts: Any) -> None:
        from modeling import registry
        from modeling.features import FEATURE_NAMES
        from modeling.training import train

        tags = {"source": opts["source"]}
        if opts["source"] == "generated":
            from modeling.synthetic import generate, training_data

            end = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
            cases = generate(
                opts["rows"], seed=opts["seed"], start=end - dt.timedelta(days=730), end=end
            )
            X, y, ts = training_data(cases)
            tags["generator_seed"] = str(opts["seed"])
        elif opts["source"] == "decisions":
            from modeling.selectors import training_data_from_decisions

            X, y, ts, skipped = training_data_from_decisions(product_code=opts["product"])
            if len(y) < 200:
                raise CommandError(
                    f"only {len(y)} decisions of {opts['product']} have outcomes; need at least 200"
                )
            if skipped:
                self.stdout.write(f"skipped {skipped} decisions made under another feature version")
            tags["decisions"] = str(len(y))
        else:
            if not opts["csv"] or not opts["mapping"]:
                raise CommandError("--source csv needs --csv and --mapping")
            X, y, ts_opt = _load_csv(opts["csv"], opts["mapping"])
            ts = ts_opt if ts_opt is not None else np.arange(len(y), dtype=float)
            tags["csv"] = Path(opts["csv"]).name
        if y.sum() == 0 or y.sum() == len(y):
            raise CommandError("the target has a single class; nothing to learn")

        result = train(
            X,
            y,
            feature_names=FEATURE_NAMES,
            seed=opts["seed"],
            holdout=opts["holdout"],
            timestamps=ts,
            params={"n_estimators": opts["trees"]},
            n_bootstrap=opts["bootstrap"],
            nthread=opts["nthread"],
        )
        self._print_metrics(result, len(y))

        alias = None if opts["alias"] == "none" else opts["alias"]
        reg = registry.register_model(
            result,
            product_code=opts["product"],
            tracking_uri=getattr(settings, "MLFLOW_TRACKING_URI", "sqlite:///var/mlflow.db"),
            artifact_root=getattr(settings, "MLFLOW_ARTIFACT_ROOT", "var/mlartifacts"),
            alias=alias,
            dataset_hash=_dataset_hash(X, y),
            dataset_size=len(y),
            tags=tags,
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"registered {reg.name} version {reg.version}"
                f"{f' as @{reg.alias}' if reg.alias else ''} (run {reg.run_id}, "
                f"sha256 {reg.sha256[:12]})"
            )
        )

    def _print_metrics(self, result: Any, n: int) -> None:
        w = self.stdout.write
        w(
            f"rows {n}  train {result.n_train}  holdout {result.n_holdout} ({result.holdout})  "
            f"bad rate {result.metrics['xgboost']['bad_rate']:.2%}  "
            f"trained in {result.train_seconds:.1f}s"
        )
        w(f"{'metric':<22}{'xgboost':>12}{'logistic':>12}")
        for key in ("auc", "gini", "ks", "brier", "log_loss", "mean_pd"):
            xg = result.metrics["xgboost"][key]
            lr = result.metrics["logistic_regression"][key]
            w(f"{key:<22}{xg:>12.4f}{lr:>12.4f}")
        w(
            f"{'interval coverage':<22}{result.interval_coverage:>12.3f}"
            f"   (nominal {result.interval.level:.0%}, {result.interval.n_bootstrap} bootstraps)"
        )
        w("calibration by decile (mean PD -> observed bad rate):")
        for row in result.calibration:
            w(f"  {int(row['decile']):>2}  {row['mean_pd']:.4f} -> {row['bad_rate']:.4f}")
