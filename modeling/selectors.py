"""Reads of the model registry for people (model cards): slow-ish MLflow calls, never on the
decision path."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from config.errors import NotFound


@dataclass
class ModelVersionRow:
    name: str
    version: str
    aliases: list[str]
    created_ms: int
    run_id: str
    auc: float | None = None
    gini: float | None = None


@dataclass
class ModelCard:
    name: str
    version: str
    aliases: list[str]
    run_id: str
    created_ms: int
    sha256: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, dict[str, float]]
    calibration: list[dict[str, float]]
    approval_curve: list[dict[str, float]]
    roc: dict[str, list[list[float]]]
    importance: list[tuple[str, float]]
    monotone: dict[str, int]
    catalogue: list[dict[str, Any]]
    interval: dict[str, Any]
    interval_coverage: float | None
    tracking_uri: str = field(default="")


def _client() -> Any:
    from modeling.registry import _client as registry_client

    return registry_client(settings.MLFLOW_TRACKING_URI)


def model_version_list() -> list[ModelVersionRow]:
    client = _client()
    rows: list[ModelVersionRow] = []
    for rm in client.search_registered_models():
        aliases_by_version: dict[str, list[str]] = {}
        for alias, version in (rm.aliases or {}).items():
            aliases_by_version.setdefault(str(version), []).append(alias)
        for mv in client.search_model_versions(f"name='{rm.name}'"):
            run = client.get_run(mv.run_id)
            rows.append(
                ModelVersionRow(
                    name=rm.name,
                    version=str(mv.version),
                    aliases=sorted(aliases_by_version.get(str(mv.version), [])),
                    created_ms=int(mv.creation_timestamp or 0),
                    run_id=mv.run_id,
                    auc=run.data.metrics.get("xgb_auc"),
                    gini=run.data.metrics.get("xgb_gini"),
                )
            )
    return sorted(rows, key=lambda r: (r.name, -int(r.version)))


def _artifact(run_id: str, path: str) -> dict[str, Any]:
    from modeling.registry import _mlflow

    mlflow = _mlflow()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=tmp)
        except Exception:  # an artefact older versions did not record
            return {}
        return dict(json.loads(Path(local).read_text()))


def model_card(*, name: str, version: str) -> ModelCard:
    client = _client()
    try:
        mv = client.get_model_version(name, version)
    except Exception as e:  # MLflow raises its own RestException for "not found"
        raise NotFound("Model version not found.") from e
    rm = client.get_registered_model(name)
    aliases = sorted(a for a, v in (rm.aliases or {}).items() if str(v) == str(version))
    run = client.get_run(mv.run_id)
    metrics = _artifact(mv.run_id, "verdict/metrics.json")
    features = _artifact(mv.run_id, "verdict/features.json")
    meta = _artifact(mv.run_id, "verdict/meta.json")
    importance = sorted(metrics.get("importance", {}).items(), key=lambda kv: kv[1], reverse=True)
    return ModelCard(
        name=name,
        version=str(version),
        aliases=aliases,
        run_id=mv.run_id,
        created_ms=int(mv.creation_timestamp or 0),
        sha256=meta.get("sha256", (mv.tags or {}).get("sha256", "")),
        tags=dict(run.data.tags),
        params=dict(run.data.params),
        metrics=metrics.get("metrics", {}),
        calibration=metrics.get("calibration", []),
        approval_curve=metrics.get("approval_curve", []),
        roc=metrics.get("roc", {}),
        importance=importance,
        monotone=features.get("monotone", {}),
        catalogue=features.get("catalogue", []),
        interval=meta.get("interval", {}),
        interval_coverage=metrics.get("interval_coverage"),
        tracking_uri=settings.MLFLOW_TRACKING_URI,
    )


def training_data_from_decisions(*, product_code: str) -> tuple[Any, Any, Any, int]:
    """(X, y, timestamps, skipped) from stored decisions whose loans have a reported outcome.

    Features are the vector stored with each decision (exactly what the model saw, in catalogue
    order); the label is bad when the latest report says defaulted. Decisions made under another
    feature-catalogue version are skipped (and counted). Only approved loans have outcomes: a
    model trained here learns from the approved population alone (no reject inference).
    """
    import numpy as np

    from decisioning.models import Decision, LoanOutcome
    from modeling.features import FEATURE_NAMES, FEATURE_VERSION

    latest: dict[Any, str] = {}
    for decision_id, status in (
        LoanOutcome.objects.filter(decision__product__code=product_code)
        .order_by("decision_id", "as_of", "reported_at")
        .values_list("decision_id", "status")
        .iterator(chunk_size=5000)
    ):
        latest[decision_id] = status
    rows, labels, stamps, skipped = [], [], [], 0
    for decision in Decision.objects.filter(pk__in=list(latest)).only("id", "features", "created_at").iterator(chunk_size=2000):
        if decision.features.get("version") != FEATURE_VERSION:
            skipped += 1
            continue
        values = decision.features["values"]
        rows.append([np.nan if values.get(n) is None else float(values[n]) for n in FEATURE_NAMES])
        labels.append(1 if latest[decision.pk] == LoanOutcome.Status.DEFAULTED else 0)
        stamps.append(decision.created_at.timestamp())
    X = np.array(rows, dtype=float).reshape(len(rows), len(FEATURE_NAMES))
    return X, np.array(labels, dtype=np.int8), np.array(stamps, dtype=float), skipped


# ---- champion/challenger (docs/champion_challenger.md) -------------------------------------------


@dataclass(frozen=True)
class GateCheck:
    key: str
    label: str
    value: float | None
    threshold: float | None
    passed: bool
    note: str = ""


@dataclass(frozen=True)
class GateResult:
    checks: tuple[GateCheck, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def failures(self) -> list[str]:
        return [f"{c.label}: {_num(c.value)} (needs {_num(c.threshold)})" + (f" — {c.note}" if c.note else "")
                for c in self.checks if not c.passed]


def _num(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


@dataclass
class ShadowReport:
    """A challenger against the champion over its shadow window, as of `as_of`."""

    product: str
    model_name: str
    version: str
    champion_version: str
    status: str  # "shadowing" or the assignment's end reason
    window_start: dt.datetime
    window_end: dt.datetime
    as_of: dt.datetime
    window_days: float
    decisions: int
    volume: int
    coverage: float | None
    agreement_rate: float | None
    flip_matrix: list[list[int]]
    pearson: float | None
    spearman: float | None
    psi: float | None
    approval_rate_champion: float | None
    approval_rate_challenger: float | None
    cutoffs: dict[str, float]
    ruleset_version: str
    pd_approval_rate_champion: float | None
    pd_approval_rate_challenger: float | None
    mean_pd_champion: float | None
    mean_pd_challenger: float | None
    mean_score_ms: float | None
    matured: int
    matured_bad: int
    auc: Any  # shadow_stats.AucComparison | None
    bands_champion: list[dict[str, Any]]
    bands_challenger: list[dict[str, Any]]
    pd_histogram: dict[str, Any]
    daily: list[dict[str, Any]]
    gate: GateResult
    gate_settings: dict[str, Any]

    def gate_summary(self) -> dict[str, Any]:
        """What the audit event of a promotion records about the gate."""
        return {
            "passed": self.gate.passed,
            "as_of": self.as_of.isoformat(),
            "window": [self.window_start.isoformat(), self.window_end.isoformat()],
            "window_days": round(self.window_days, 3),
            "volume": self.volume,
            "checks": [
                {"key": c.key, "value": c.value, "threshold": c.threshold, "passed": c.passed, "note": c.note}
                for c in self.gate.checks
            ],
            "auc": self._auc_dict(),
        }

    def _auc_dict(self) -> dict[str, Any] | None:
        a = self.auc
        if a is None:
            return None
        return {
            "method": a.method, "n": a.n, "n_bad": a.n_bad,
            "auc_champion": a.auc_champion, "auc_challenger": a.auc_challenger,
            "gini_champion": a.gini_champion, "gini_challenger": a.gini_challenger,
            "difference": a.difference, "se": a.se, "z": a.z, "p_value": a.p_value,
            "ci95": [a.ci_low, a.ci_high],
        }

    def as_dict(self) -> dict[str, Any]:
        from modeling.shadow_stats import OUTCOMES

        return {
            "product": self.product,
            "model": {"name": self.model_name, "version": self.version},
            "champion_version": self.champion_version,
            "status": self.status,
            "window": {"start": self.window_start.isoformat(), "end": self.window_end.isoformat(),
                       "days": round(self.window_days, 3)},
            "as_of": self.as_of.isoformat(),
            "decisions": self.decisions,
            "volume": self.volume,
            "coverage": self.coverage,
            "agreement_rate": self.agreement_rate,
            "flip_matrix": {"order": list(OUTCOMES), "rows": "champion", "columns": "challenger",
                            "counts": self.flip_matrix},
            "score_correlation": {"pearson": self.pearson, "spearman": self.spearman},
            "psi": self.psi,
            "approval_rate": {
                "ruleset_version": self.ruleset_version,
                "cutoffs": self.cutoffs,
                "outcome": {"champion": self.approval_rate_champion, "challenger": self.approval_rate_challenger},
                "pd_at_current_cutoff": {"champion": self.pd_approval_rate_champion,
                                         "challenger": self.pd_approval_rate_challenger},
            },
            "mean_pd": {"champion": self.mean_pd_champion, "challenger": self.mean_pd_challenger},
            "mean_score_ms": self.mean_score_ms,
            "outcomes": {
                "matured": self.matured,
                "bad": self.matured_bad,
                "auc_test": self._auc_dict(),
                "bad_rate_by_band": {"champion": self.bands_champion, "challenger": self.bands_challenger},
            },
            "daily": self.daily,
            "gate": {**self.gate_summary(), "settings": self.gate_settings},
        }


def _challenger_assignment(*, product: Any, version: str) -> Any:
    from modeling.models import ModelAssignment

    row = (
        ModelAssignment.objects.filter(product=product, role=ModelAssignment.Role.CHALLENGER, model_version=version)
        .order_by("-started_at", "-id")
        .first()
    )
    if row is None:
        raise NotFound("No such challenger.")
    return row


def _matured_labels(decision_ids: list[Any]) -> dict[Any, int]:
    """Decision → 1 (defaulted) / 0 (repaid) by its latest report; other statuses have not matured.

    Only approved loans have outcomes, so these figures describe the approved population alone.
    """
    from decisioning.models import LoanOutcome

    latest: dict[Any, str] = {}
    for start in range(0, len(decision_ids), 2000):
        for decision_id, status in (
            LoanOutcome.objects.filter(decision_id__in=decision_ids[start : start + 2000])
            .order_by("decision_id", "as_of", "reported_at")
            .values_list("decision_id", "status")
        ):
            latest[decision_id] = status
    out = {}
    for decision_id, status in latest.items():
        if status == LoanOutcome.Status.DEFAULTED:
            out[decision_id] = 1
        elif status == LoanOutcome.Status.REPAID:
            out[decision_id] = 0
    return out


def shadow_report(*, product: Any, version: str, now: dt.datetime | None = None) -> ShadowReport:
    """The shadow report of challenger `version` of `product` as of `now` (injectable clock)."""
    import numpy as np
    from django.utils import timezone

    from decisioning.models import Decision
    from decisioning.selectors import policy_for_product
    from modeling import shadow_stats as st
    from modeling.models import ShadowScore
    from modeling.profile import bin_fractions, quantile_edges
    from modeling.services import current_champion, gate_for_product

    now = now or timezone.now()
    assignment = _challenger_assignment(product=product, version=version)
    start = assignment.started_at
    end = min(assignment.ended_at or now, now)
    end = max(end, start)
    rows = list(
        ShadowScore.objects.filter(product=product, model_version=version, decided_at__gte=start, decided_at__lte=end)
        .order_by("decided_at")
        .values_list("decision_id", "decided_at", "champion_outcome", "outcome", "champion_pd", "pd", "score_ms")
    )
    decisions = Decision.objects.filter(product=product, created_at__gte=start, created_at__lte=end).count()
    volume = len(rows)
    champ_out = [r[2] for r in rows]
    chall_out = [r[3] for r in rows]
    paired = [(r[4], r[5]) for r in rows if r[4] is not None and r[5] is not None]
    a = np.array([p[0] for p in paired], dtype=np.float64)
    b = np.array([p[1] for p in paired], dtype=np.float64)
    pearson, spearman = st.correlations(a, b)
    policy = policy_for_product(product=product)
    cut = policy.cutoffs

    def rate(values: list[str], outcome: str) -> float | None:
        return sum(1 for v in values if v == outcome) / len(values) if values else None

    # Outcomes at maturity: DeLong on the loans whose latest report is repaid or defaulted.
    labels = _matured_labels([r[0] for r in rows])
    mrows = [(labels[r[0]], r[4], r[5]) for r in rows if r[0] in labels and r[4] is not None]
    y = np.array([m[0] for m in mrows], dtype=np.int8)
    my_a = np.array([m[1] for m in mrows], dtype=np.float64)
    my_b = np.array([m[2] for m in mrows], dtype=np.float64)
    comparison = st.delong(y, my_a, my_b) if len(mrows) else None

    edges = quantile_edges(a, 10) if a.size else []
    hist = {
        "edges": edges,
        "champion": bin_fractions(a, edges)[0] if a.size else [],
        "challenger": bin_fractions(b, edges)[0] if b.size else [],
    }
    daily: dict[str, list[int]] = {}
    for r in rows:
        day = r[1].date().isoformat()
        counts = daily.setdefault(day, [0, 0])
        counts[0] += 1
        counts[1] += int(r[2] == r[3])
    g = gate_for_product(product=product)
    window_days = (end - start).total_seconds() / 86400
    coverage = volume / decisions if decisions else None
    agreement = sum(x == y_ for x, y_ in zip(champ_out, chall_out, strict=True)) / volume if volume else None
    psi_value = st.score_psi(a, b)
    appr_a, appr_b = rate(champ_out, "approve"), rate(chall_out, "approve")
    appr_change = abs(appr_b - appr_a) if appr_a is not None and appr_b is not None else None
    checks = [
        GateCheck("window_days", f"Shadow window (days, minimum {g.min_shadow_days})", round(window_days, 2),
                  float(g.min_shadow_days), window_days >= g.min_shadow_days),
        GateCheck("volume", f"Decisions scored in shadow (minimum {g.min_volume})", volume, g.min_volume,
                  volume >= g.min_volume),
        GateCheck("coverage", "Share of the window's decisions scored", coverage, g.min_coverage,
                  coverage is not None and coverage >= g.min_coverage),
        GateCheck("psi", "PSI challenger vs champion PD (maximum)", psi_value, g.max_psi,
                  psi_value is not None and psi_value <= g.max_psi),
        GateCheck("approval_rate_change", "Change of approval rate (maximum)", appr_change,
                  g.max_approval_rate_change, appr_change is not None and appr_change <= g.max_approval_rate_change),
        GateCheck("agreement_rate", "Outcome agreement (minimum)", agreement, g.min_agreement_rate,
                  agreement is not None and agreement >= g.min_agreement_rate),
    ]
    if comparison is not None and comparison.n >= g.min_matured:
        worse = comparison.difference < 0 and comparison.p_value < g.auc_alpha
        checks.append(GateCheck("auc", f"AUC difference, challenger - champion (DeLong p={comparison.p_value:.3g})",
                                comparison.difference, 0.0, not worse,
                                "significantly worse than the champion" if worse else ""))
    else:
        n = comparison.n if comparison else len(mrows)
        checks.append(GateCheck("auc", "AUC difference, challenger - champion", None, None, True,
                                f"not tested: {n} matured loans, {g.min_matured} needed"))
    champion = current_champion(product=product)
    scores_ms = [r[6] for r in rows]
    return ShadowReport(
        product=product.code, model_name=assignment.model_name, version=version,
        champion_version=champion.model_version if champion else "",
        status="shadowing" if assignment.ended_at is None else assignment.get_end_reason_display(),
        window_start=start, window_end=end, as_of=now, window_days=window_days,
        decisions=decisions, volume=volume, coverage=coverage, agreement_rate=agreement,
        flip_matrix=st.flip_matrix(champ_out, chall_out), pearson=pearson, spearman=spearman, psi=psi_value,
        approval_rate_champion=appr_a, approval_rate_challenger=appr_b,
        cutoffs={"approve_max_pd": cut.approve_max_pd, "decline_min_pd": cut.decline_min_pd},
        ruleset_version=policy.version,
        pd_approval_rate_champion=float((a <= cut.approve_max_pd).mean()) if a.size else None,
        pd_approval_rate_challenger=float((b <= cut.approve_max_pd).mean()) if b.size else None,
        mean_pd_champion=float(a.mean()) if a.size else None,
        mean_pd_challenger=float(b.mean()) if b.size else None,
        mean_score_ms=sum(scores_ms) / len(scores_ms) if scores_ms else None,
        matured=len(mrows), matured_bad=int(y.sum()) if len(mrows) else 0, auc=comparison,
        bands_champion=st.bad_rate_by_band(y, my_a) if len(mrows) else [],
        bands_challenger=st.bad_rate_by_band(y, my_b) if len(mrows) else [],
        pd_histogram=hist,
        daily=[{"day": d, "volume": c[0], "agreement_rate": c[1] / c[0]} for d, c in sorted(daily.items())],
        gate=GateResult(tuple(checks)),
        gate_settings={
            "min_shadow_days": g.min_shadow_days, "min_volume": g.min_volume, "min_coverage": g.min_coverage,
            "max_psi": g.max_psi, "max_approval_rate_change": g.max_approval_rate_change,
            "min_agreement_rate": g.min_agreement_rate, "auc_alpha": g.auc_alpha, "min_matured": g.min_matured,
        },
    )


def shadow_overview(*, product: Any) -> dict[str, Any]:
    """A product's champion, open challengers and past assignments (the shadow index page)."""
    from modeling.models import ModelAssignment

    rows = list(ModelAssignment.objects.filter(product=product).select_related("started_by").order_by("-started_at", "-id")[:50])
    return {
        "product": product,
        "champion": next((r for r in rows if r.role == "champion" and r.ended_at is None), None),
        "challengers": [r for r in rows if r.role == "challenger" and r.ended_at is None],
        "history": rows,
    }
