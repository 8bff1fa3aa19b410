from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from audit.services import Actor
from config.charts import bar_chart, line_chart
from config.errors import ApplicationError, NotFound
from decisioning.models import Product
from modeling import selectors, services


def _require(request: HttpRequest) -> None:
    if not request.user.has_perm("modeling.view_models"):
        raise Http404


@login_required
def model_list(request: HttpRequest) -> HttpResponse:
    _require(request)
    rows = selectors.model_version_list()
    for row in rows:
        row.created = dt.datetime.fromtimestamp(row.created_ms / 1000, tz=dt.UTC)  # type: ignore[attr-defined]
    return render(request, "modeling/model_list.html", {"rows": rows})


@login_required
def model_card(request: HttpRequest, name: str, version: str) -> HttpResponse:
    _require(request)
    try:
        card = selectors.model_card(name=name, version=version)
    except NotFound as e:
        raise Http404 from e
    charts = {}
    if card.roc:
        charts["roc"] = line_chart(
            [("XGBoost", card.roc.get("xgboost", [])), ("Logistic baseline", card.roc.get("logistic_regression", []))],
            title="ROC on the holdout", x_label="False positive rate", y_label="True positive rate",
            x_range=(0, 1), y_range=(0, 1), diagonal=True,
        )
    if card.calibration:
        top = max([r["mean_pd"] for r in card.calibration] + [r["bad_rate"] for r in card.calibration])
        charts["calibration"] = line_chart(
            [("Observed bad rate", [(r["mean_pd"], r["bad_rate"]) for r in card.calibration])],
            title="Calibration by decile", x_label="Mean predicted PD", y_label="Observed bad rate",
            x_range=(0, top), y_range=(0, top), diagonal=True,
        )
    if card.approval_curve:
        charts["approval"] = line_chart(
            [("Bad rate among approved", [(r["approval_rate"], r["bad_rate_approved"]) for r in card.approval_curve])],
            title="Approval rate against bad rate", x_label="Approval rate", y_label="Bad rate",
        )
    if card.importance:
        charts["importance"] = bar_chart(
            [(n, v) for n, v in card.importance if v > 0][:15], title="Feature importance (share of gain)",
            value_format="{:.1%}",
        )
    context = {
        "card": card,
        "charts": {k: mark_safe(v) for k, v in charts.items()},  # noqa: S308 — built from escaped values
        "created": dt.datetime.fromtimestamp(card.created_ms / 1000, tz=dt.UTC),
        "xgb": card.metrics.get("xgboost", {}),
        "lr": card.metrics.get("logistic_regression", {}),
        "metric_names": ["auc", "gini", "ks", "brier", "log_loss", "mean_pd"],
    }
    return render(request, "modeling/model_card.html", context)


# ---- champion/challenger (docs/champion_challenger.md) -------------------------------------------


def _product(code: str) -> Product:
    product = Product.objects.filter(code=code).first()
    if product is None:
        raise Http404
    return product


def _require_promote(request: HttpRequest) -> None:
    _require(request)  # people who cannot see models get "not found"
    if not request.user.has_perm("modeling.promote_model"):
        raise PermissionDenied


@login_required
def shadow_index(request: HttpRequest) -> HttpResponse:
    _require(request)
    overviews = [selectors.shadow_overview(product=p) for p in Product.objects.order_by("code")]
    return render(request, "modeling/shadow_index.html", {
        "overviews": overviews, "can_promote": request.user.has_perm("modeling.promote_model"),
    })


def _report_charts(report: selectors.ShadowReport) -> dict[str, str]:
    charts: dict[str, str] = {}
    h = report.pd_histogram
    if h["champion"]:
        xs = list(range(1, len(h["champion"]) + 1))
        charts["distribution"] = line_chart(
            [(f"Champion v{report.champion_version or '?'}", list(zip(xs, h["champion"], strict=True))),
             (f"Challenger v{report.version}", list(zip(xs, h["challenger"], strict=True)))],
            title=f"PD distribution in the champion's deciles (PSI {report.psi:.3f})" if report.psi is not None
            else "PD distribution", x_label="Champion PD decile", y_label="Share of decisions",
        )
    if report.daily:
        points = [(i + 1, d["agreement_rate"]) for i, d in enumerate(report.daily)]
        charts["daily"] = line_chart(
            [("Outcome agreement", points)], title="Agreement by day of the window",
            x_label="Day", y_label="Agreement", y_range=(0, 1),
        )
    bars = [
        ("Champion: approve", report.approval_rate_champion or 0.0),
        ("Challenger: approve", report.approval_rate_challenger or 0.0),
        ("Champion: PD ≤ cut-off", report.pd_approval_rate_champion or 0.0),
        ("Challenger: PD ≤ cut-off", report.pd_approval_rate_challenger or 0.0),
    ]
    charts["approval"] = bar_chart(bars, title="Approval rate", value_format="{:.1%}")
    if report.bands_champion:
        charts["bands"] = bar_chart(
            [(f"{r['band']} champion", r["bad_rate"] or 0.0) for r in report.bands_champion]
            + [(f"{r['band']} challenger", r["bad_rate"] or 0.0) for r in report.bands_challenger],
            title="Bad rate by PD band (matured loans)", value_format="{:.1%}",
        )
    return {k: mark_safe(v) for k, v in charts.items()}  # noqa: S308 — built from escaped values


@login_required
def shadow_report(request: HttpRequest, product_code: str, version: str) -> HttpResponse:
    _require(request)
    product = _product(product_code)
    try:
        report = selectors.shadow_report(product=product, version=version)
    except NotFound as e:
        raise Http404 from e
    from modeling.shadow_stats import OUTCOMES

    flips = [{"champion": OUTCOMES[i], "counts": row} for i, row in enumerate(report.flip_matrix)]
    return render(request, "modeling/shadow_report.html", {
        "r": report, "charts": _report_charts(report), "flips": flips, "outcomes": OUTCOMES,
        "can_promote": request.user.has_perm("modeling.promote_model") and report.status == "shadowing",
    })


def _act(request: HttpRequest, action: str, fn: Any, back: str) -> HttpResponse:
    try:
        fn()
    except ApplicationError as e:
        messages.error(request, e.message + "".join(f" {k}: {' '.join(v)}" for k, v in e.errors.items()))
    else:
        messages.success(request, action)
    return redirect(back)


@login_required
@require_POST
def challenger_start(request: HttpRequest, product_code: str) -> HttpResponse:
    _require_promote(request)
    product = _product(product_code)
    version = request.POST.get("version", "").strip()
    return _act(request, f"Version {version} now shadows {product.code}.", lambda: services.challenger_start(
        product=product, version=version, actor=Actor.for_user(request.user), user=request.user,
        rationale=request.POST.get("rationale", ""),
    ), "modeling:shadow")


@login_required
@require_POST
def challenger_stop(request: HttpRequest, product_code: str, version: str) -> HttpResponse:
    _require_promote(request)
    product = _product(product_code)
    return _act(request, f"Version {version} no longer shadows {product.code}.", lambda: services.challenger_stop(
        product=product, version=version, actor=Actor.for_user(request.user),
        rationale=request.POST.get("rationale", ""),
    ), "modeling:shadow")


@login_required
@require_POST
def promote(request: HttpRequest, product_code: str, version: str) -> HttpResponse:
    _require_promote(request)
    product = _product(product_code)
    try:
        services.model_promote(
            product=product, version=version, actor=Actor.for_user(request.user), user=request.user,
            rationale=request.POST.get("rationale", ""),
        )
    except ApplicationError as e:
        messages.error(request, e.message + "".join(f" {' '.join(v)}" for v in e.errors.values()))
        return redirect("modeling:shadow-report", product.code, version)
    messages.success(request, f"Version {version} is now the champion of {product.code}.")
    return redirect("modeling:shadow")


@login_required
@require_POST
def rollback(request: HttpRequest, product_code: str) -> HttpResponse:
    _require_promote(request)
    product = _product(product_code)
    return _act(request, f"{product.code} rolled back to its previous champion.", lambda: services.model_rollback(
        product=product, actor=Actor.for_user(request.user), user=request.user,
        rationale=request.POST.get("rationale", ""),
    ), "modeling:shadow")
