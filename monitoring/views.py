from __future__ import annotations

import hmac

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from config.charts import line_chart
from config.errors import ApplicationError, NotFound
from monitoring import checks, selectors, services

WINDOWS = ("1h", "24h")


def _require(request: HttpRequest, perm: str = "monitoring.view_dashboard") -> None:
    if not request.user.has_perm(perm):
        raise Http404  # not found, whether missing or forbidden


def _window(request: HttpRequest) -> str:
    window = request.GET.get("window", "24h")
    try:
        services.parse_window(window)
    except ValueError as e:
        raise Http404 from e
    return window


_CHARTS = (
    ("feature_psi", "Feature PSI (most shifted features)", "PSI"),
    ("score", "Score drift: PSI of PD", "PSI"),
    ("outcomes", "Approve / refer / decline rates", "rate"),
    ("volume", "Decisions per window", "decisions"),
    ("latency", "API latency vs SLO", "ms"),
    ("overrides", "Override rate (reviewed cases)", "rate"),
    ("quality", "Data quality: missing / out-of-range rates", "rate"),
    ("performance", "Matured loans: AUC, Gini, observed/predicted", ""),
)


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    _require(request)
    window = _window(request)
    try:
        d = selectors.dashboard(product_code=request.GET.get("product"), window=window)
    except NotFound as e:
        raise Http404 from e
    charts = []
    for key, title, y_label in _CHARTS:
        series = [(n, pts) for n, pts in d.series.get(key, []) if pts]
        if any(not n.endswith(("band", "SLO")) for n, _ in series):
            svg = line_chart(series, title=title, x_label="days before the latest window", y_label=y_label, width=460, height=260)
            charts.append((title, mark_safe(svg)))  # noqa: S308 — config.charts escapes every label and value
        else:
            charts.append((title, None))
    return render(
        request,
        "monitoring/dashboard.html",
        {
            "d": d, "charts": charts, "windows": WINDOWS, "labels": checks.METRIC_LABELS,
            "can_ack": request.user.has_perm("monitoring.acknowledge_alerts"),
            "outcomes_note": checks.OUTCOMES_NOTE,
        },
    )


@login_required
@require_GET
def feature_detail(request: HttpRequest, product: str, feature: str) -> HttpResponse:
    _require(request)
    window = _window(request)
    try:
        f = selectors.feature_detail(
            product_code=product, feature=feature, window=window, model_version=request.GET.get("version") or None
        )
    except NotFound as e:
        raise Http404 from e
    hist = line_chart(
        [
            ("training baseline", [(i, b["baseline"]) for i, b in enumerate(f.bins)]),
            ("current window", [(i, b["current"]) for i, b in enumerate(f.bins)]),
        ],
        title=f"{feature}: share per frozen bin (last bin = missing)",
        x_label="bin", y_label="share", width=560, height=300,
    )
    psi = line_chart(
        [("PSI", f.psi_series), ("0.1", [(f.psi_series[0][0], 0.1), (0, 0.1)]), ("0.25", [(f.psi_series[0][0], 0.25), (0, 0.25)])]
        if f.psi_series else [],
        title=f"PSI of {feature} over time", x_label="days before the latest window", y_label="PSI",
    )
    test = line_chart([(f.test_label, f.test_series)], title=f.test_label, x_label="days before the latest window")
    return render(
        request,
        "monitoring/feature.html",
        {
            "f": f, "hist": mark_safe(hist), "psi_chart": mark_safe(psi), "test_chart": mark_safe(test),  # noqa: S308
            "can_ack": request.user.has_perm("monitoring.acknowledge_alerts"),
        },
    )


@login_required
@require_POST
def alert_acknowledge(request: HttpRequest, alert_id: str) -> HttpResponse:
    _require(request)
    _require(request, "monitoring.acknowledge_alerts")
    try:
        alert = services.alert_acknowledge(alert_id=alert_id, actor=request.user, note=request.POST.get("note", ""))
    except NotFound as e:
        raise Http404 from e
    except ApplicationError as e:
        messages.error(request, e.message)
        return redirect("monitoring:dashboard")
    messages.success(request, f"Acknowledged: {alert.message}")
    return redirect(f"{reverse('monitoring:dashboard')}?product={alert.product.code}&window={alert.window}")


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition. Bearer token (METRICS_TOKEN) when set; otherwise DEBUG only."""
    token = getattr(settings, "METRICS_TOKEN", "")
    if token:
        header = request.headers.get("Authorization", "")
        if not (header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), token.encode())):
            response = HttpResponse("Bearer token required.\n", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    elif not settings.DEBUG:
        raise Http404  # disabled: no token configured in production
    from monitoring.prometheus import render_metrics

    body, content_type = render_metrics()
    return HttpResponse(body, content_type=content_type)
