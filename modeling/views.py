from __future__ import annotations

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe

from config.charts import bar_chart, line_chart
from config.errors import NotFound
from modeling import selectors


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
