"""The review queue, the case page, reviewer actions and metrics (server-rendered, htmx refresh).

Views are thin: authorise, parse a form, call one service, and redirect (POST/redirect/GET) or
re-render the case page with the errors. Every refusal a service raises becomes a message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.apps import apps
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from config.errors import ApplicationError, Conflict, NotFound
from decisioning.models import Product
from reviews import charts, forms, metrics, selectors, services
from reviews.models import ReviewCase

PAGE_SIZE = 25
REFRESH_SECONDS = 15


def _require(request: HttpRequest, perm: str) -> None:
    if not request.user.has_perm(perm):
        # Reading pages: "not found"; acting without the right: 403 (the page exists, the act does not).
        if perm == "reviews.view_queue":
            raise Http404
        raise PermissionDenied


# ---- the queue ---------------------------------------------------------------------------------


@login_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    _require(request, "reviews.view_queue")
    now = timezone.now()
    f = selectors.QueueFilters.from_query(request.GET)
    partial = bool(request.headers.get("HX-Request"))
    cases = selectors.case_queue(user=request.user, filters=f, now=now)
    page = Paginator(cases, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {
            "case": c,
            "overdue": c.is_open and c.due_at < now,
            "due_soon": c.is_open and c.due_at >= now and (c.due_at - now).total_seconds() < 1800,
            "band": selectors.pd_band(c.decision.pd),
            "priority": c.effective_priority(now),
        }
        for c in page.object_list
    ]
    context = {
        "page": page,
        "rows": rows,
        "f": f,
        "now": now,
        "refresh_seconds": REFRESH_SECONDS,
        "statuses": ReviewCase.Status.choices,
        "bands": selectors.PD_BANDS,
        "products": []
        if partial
        else list(Product.objects.order_by("code").values_list("code", flat=True)),
        "reasons": [] if partial else sorted(selectors.reason_catalogue()),
        "can_work": request.user.has_perm("reviews.work_cases"),
        "can_approve": request.user.has_perm("reviews.approve_overrides"),
        # Only the full page shows them; the 15-second refresh of the results does not ask again.
        "appealable": selectors.appealable_decisions(user=request.user, q=f.q)
        if f.q and not partial
        else [],
        "base_query": urlencode(f.as_query()),
        "sort_links": {key: urlencode(f.as_query(sort=key)) for key in selectors.SORTS},
    }
    context["prev_query"] = (
        urlencode(f.as_query(page=page.previous_page_number())) if page.has_previous() else ""
    )
    context["next_query"] = (
        urlencode(f.as_query(page=page.next_page_number())) if page.has_next() else ""
    )
    template = "reviews/_queue_results.html" if partial else "reviews/queue.html"
    return render(request, template, context)


# ---- the case page -----------------------------------------------------------------------------


def _challenger(decision: Any) -> list[dict[str, Any]]:
    """Shadow scores of challenger models, if the modelling app records them (read defensively)."""
    for name in ("ShadowScore", "ChallengerScore"):
        try:
            model = apps.get_model("modeling", name)
        except LookupError:
            continue
        fields = {f.name for f in model._meta.get_fields()}
        if "decision" not in fields:
            return []
        rows = []
        for row in model.objects.filter(decision=decision)[:5]:
            rows.append(
                {
                    "model": " ".join(
                        str(getattr(row, a, "") or "") for a in ("model_name", "model_version")
                    ).strip()
                    or str(row),
                    "pd": getattr(row, "pd", None),
                    "outcome": getattr(row, "outcome", ""),
                }
            )
        return rows
    return []


def _case_context(request: HttpRequest, case: ReviewCase, **forms_in: Any) -> dict[str, Any]:
    user = request.user
    decision = case.decision
    now = timezone.now()
    can_work = user.has_perm("reviews.work_cases")
    is_mine = case.assignee_id == user.pk
    open_ = case.status != ReviewCase.Status.DECIDED
    version = {"version": case.version}
    rule_results = decision.rule_results or []
    sanctions = services.has_sanctions_hit(decision)
    return {
        "case": case,
        "decision": decision,
        "app": decision.application,
        "now": now,
        "overdue": open_ and case.due_at < now,
        "band": selectors.pd_band(decision.pd),
        "signals": decision.signals or [],
        "rule_results": rule_results,
        "fired_count": sum(1 for r in rule_results if r.get("fired")),
        "factors_chart": charts.contributions_chart(
            (decision.explanation or {}).get("contributions", [])
        ),
        "factors": sorted(
            (
                (str(n), float(v))
                for n, v in (decision.explanation or {}).get("contributions", [])
                if n != "bias"
            ),
            key=lambda kv: abs(kv[1]),
            reverse=True,
        )[:8],
        "model_reasons": (decision.explanation or {}).get("model_reasons", []),
        "challengers": _challenger(decision),
        "earlier": selectors.earlier_applications(decision=decision),
        "timeline": selectors.case_timeline(case=case),
        "actions": selectors.case_actions(case=case),
        "deliveries": list(case.deliveries.order_by("-created_at")[:5]),
        "sanctions": sanctions,
        "four_eyes_why": services.needs_second_approval(case=case, outcome="approve"),
        "can_work": can_work,
        "is_mine": is_mine,
        "can_claim": can_work
        and case.assignee_id is None
        and case.status in (ReviewCase.Status.OPEN, ReviewCase.Status.INFO_REQUESTED),
        "can_release": can_work
        and case.assignee_id is not None
        and case.status in (ReviewCase.Status.CLAIMED, ReviewCase.Status.INFO_REQUESTED)
        and (is_mine or user.has_perm("reviews.assign_cases")),
        "can_decide": can_work
        and is_mine
        and case.status in (ReviewCase.Status.CLAIMED, ReviewCase.Status.INFO_REQUESTED),
        "can_request_info": can_work and is_mine and case.status == ReviewCase.Status.CLAIMED,
        "can_assign": user.has_perm("reviews.assign_cases") and case.status in services.WORKABLE,
        "can_second": user.has_perm("reviews.approve_overrides")
        and case.status == ReviewCase.Status.AWAITING_APPROVAL
        and case.proposed_by_id != user.pk,
        "own_proposal": case.status == ReviewCase.Status.AWAITING_APPROVAL
        and case.proposed_by_id == user.pk,
        "read_only": not can_work,
        "underwriters": selectors.underwriters() if user.has_perm("reviews.assign_cases") else [],
        "decide_form": forms_in.get("decide_form") or forms.DecideForm(initial=version),
        "info_form": forms_in.get("info_form")
        or forms.RationaleForm(initial=version, prefix="info"),
        "second_form": forms_in.get("second_form")
        or forms.RationaleForm(initial=version, prefix="second"),
        "version_form": forms.VersionForm(initial=version),
    }


def _render_case(
    request: HttpRequest, case_id: int, status: int = 200, **forms_in: Any
) -> HttpResponse:
    try:
        case = selectors.case_get(user=request.user, case_id=case_id)
    except NotFound as e:
        raise Http404 from e
    return render(
        request, "reviews/case.html", _case_context(request, case, **forms_in), status=status
    )


@login_required
@require_GET
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    _require(request, "reviews.view_queue")
    return _render_case(request, case_id)


# ---- actions -----------------------------------------------------------------------------------


def _case_url(case_id: int) -> str:
    return reverse("reviews:case", args=[case_id])


def _act(
    request: HttpRequest,
    case_id: int,
    *,
    perm: str,
    form: Any,
    form_key: str | None,
    call: Callable[[Any], str],
) -> HttpResponse:
    """Run one action: refuse without the permission; on a conflict say what changed and show the
    current state; on bad input re-render the page with the errors on the form."""
    _require(request, perm)
    if not form.is_valid():
        if "version" in form.errors:
            messages.error(request, "The form was incomplete; reload the case and try again.")
            return redirect(_case_url(case_id))
        return _render_case(request, case_id, status=400, **({form_key: form} if form_key else {}))
    try:
        message = call(form.cleaned_data)
    except NotFound as e:
        raise Http404 from e
    except services.PermissionDenied as e:
        messages.error(request, e.message)
        return redirect(_case_url(case_id))
    except Conflict as e:
        messages.error(request, e.message)
        return _render_case(request, case_id, status=409)
    except ApplicationError as e:
        if form_key:
            for name, errs in e.errors.items():
                for err in errs:
                    form.add_error(name if name in form.fields else None, err)
            if not e.errors:
                form.add_error(None, e.message)
            return _render_case(request, case_id, status=400, **{form_key: form})
        messages.error(request, e.message)
        return redirect(_case_url(case_id))
    messages.success(request, message)
    return redirect(_case_url(case_id))


@login_required
@require_POST
def case_claim(request: HttpRequest, case_id: int) -> HttpResponse:
    def call(data: dict[str, Any]) -> str:
        services.case_claim(actor=request.user, case_id=case_id, expected_version=data["version"])
        return f"Case #{case_id} is yours."

    response = _act(
        request,
        case_id,
        perm="reviews.work_cases",
        form=forms.VersionForm(request.POST),
        form_key=None,
        call=call,
    )
    if request.POST.get("next") == "queue" and response.status_code == 302:
        return redirect(reverse("reviews:queue") + "?" + request.POST.get("return_query", ""))
    return response


@login_required
@require_POST
def case_release(request: HttpRequest, case_id: int) -> HttpResponse:
    def call(data: dict[str, Any]) -> str:
        services.case_release(actor=request.user, case_id=case_id, expected_version=data["version"])
        return f"Case #{case_id} is back in the queue."

    return _act(
        request,
        case_id,
        perm="reviews.work_cases",
        form=forms.VersionForm(request.POST),
        form_key=None,
        call=call,
    )


@login_required
@require_POST
def case_assign(request: HttpRequest, case_id: int) -> HttpResponse:
    def call(data: dict[str, Any]) -> str:
        case = services.case_assign(
            actor=request.user,
            case_id=case_id,
            expected_version=data["version"],
            assignee_id=data["assignee"],
        )
        return f"Case #{case_id} assigned to {case.assignee.get_full_name() or case.assignee.username}."

    return _act(
        request,
        case_id,
        perm="reviews.assign_cases",
        form=forms.AssignForm(request.POST),
        form_key=None,
        call=call,
    )


@login_required
@require_POST
def case_decide(request: HttpRequest, case_id: int) -> HttpResponse:
    def call(data: dict[str, Any]) -> str:
        result = services.case_decide(
            actor=request.user,
            case_id=case_id,
            expected_version=data["version"],
            outcome=data["outcome"],
            rationale=data["rationale"],
            reason_codes=data["reason_codes"],
        )
        if result.needs_approval:
            return f"Override proposed: case #{case_id} now waits for a senior underwriter's second approval."
        return f"Case #{case_id} decided: {result.case.get_final_outcome_display().lower()}."

    return _act(
        request,
        case_id,
        perm="reviews.work_cases",
        form=forms.DecideForm(request.POST),
        form_key="decide_form",
        call=call,
    )


@login_required
@require_POST
def case_request_info(request: HttpRequest, case_id: int) -> HttpResponse:
    def call(data: dict[str, Any]) -> str:
        services.case_request_info(
            actor=request.user,
            case_id=case_id,
            expected_version=data["version"],
            rationale=data["rationale"],
        )
        return f"Information requested on case #{case_id}."

    return _act(
        request,
        case_id,
        perm="reviews.work_cases",
        form=forms.RationaleForm(request.POST, prefix="info"),
        form_key="info_form",
        call=call,
    )


@login_required
@require_POST
def case_approve_override(request: HttpRequest, case_id: int) -> HttpResponse:
    def call(data: dict[str, Any]) -> str:
        services.case_approve_override(
            actor=request.user,
            case_id=case_id,
            expected_version=data["version"],
            rationale=data["rationale"],
        )
        return f"Second approval given: case #{case_id} is decided."

    return _act(
        request,
        case_id,
        perm="reviews.approve_overrides",
        form=forms.RationaleForm(request.POST, prefix="second"),
        form_key="second_form",
        call=call,
    )


@login_required
@require_POST
def case_reject_override(request: HttpRequest, case_id: int) -> HttpResponse:
    def call(data: dict[str, Any]) -> str:
        services.case_reject_override(
            actor=request.user,
            case_id=case_id,
            expected_version=data["version"],
            rationale=data["rationale"],
        )
        return f"Override rejected: case #{case_id} is back with its underwriter."

    return _act(
        request,
        case_id,
        perm="reviews.approve_overrides",
        form=forms.RationaleForm(request.POST, prefix="second"),
        form_key="second_form",
        call=call,
    )


@login_required
def appeal_open(request: HttpRequest, decision_id: str) -> HttpResponse:
    """Open an appeal case on a declined decision (GET shows the form, POST opens it)."""
    _require(request, "reviews.work_cases")
    try:
        decision = selectors.decision_for_appeal(user=request.user, decision_id=decision_id)
    except NotFound as e:
        raise Http404 from e
    existing = ReviewCase.objects.filter(decision=decision).values_list("pk", flat=True).first()
    if existing:
        return redirect(_case_url(existing))
    form = forms.AppealForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            case = services.case_open_appeal(
                actor=request.user, decision=decision, rationale=form.cleaned_data["rationale"]
            )
        except Conflict as e:
            messages.error(request, e.message)
            return redirect(reverse("reviews:queue"))
        except ApplicationError as e:
            for name, errs in e.errors.items():
                for err in errs:
                    form.add_error(name if name in form.fields else None, err)
            if not e.errors:
                form.add_error(None, e.message)
            status = 400
        else:
            messages.success(request, f"Appeal case #{case.pk} opened and claimed by you.")
            return redirect(_case_url(case.pk))
    elif request.method == "POST":
        status = 400
    return render(
        request, "reviews/appeal.html", {"decision": decision, "form": form}, status=status
    )


# ---- metrics -----------------------------------------------------------------------------------


@login_required
@require_GET
def metrics_page(request: HttpRequest) -> HttpResponse:
    _require(request, "reviews.view_queue")
    days = (
        int(request.GET.get("days", "30"))
        if request.GET.get("days", "30") in ("7", "30", "90")
        else 30
    )
    m = metrics.reviewer_metrics(now=timezone.now(), days=days)
    pct = lambda x: f"{x:.0%}"  # noqa: E731
    context = {
        "m": m,
        "days": days,
        "age_chart": charts.bar_chart(
            [(label, n, str(n)) for label, n in m.age_buckets], title="Open cases by age"
        ),
        "reviewer_chart": charts.bar_chart(
            [(r.label, r.override_rate, pct(r.override_rate)) for r in m.by_reviewer],
            title="Override rate by reviewer",
            maximum=1.0,
        ),
        "product_chart": charts.bar_chart(
            [(r.label, r.override_rate, pct(r.override_rate)) for r in m.by_product],
            title="Override rate by product",
            maximum=1.0,
        ),
        "reason_chart": charts.bar_chart(
            [(r.label, r.override_rate, pct(r.override_rate)) for r in m.by_reason[:12]],
            title="Override rate by refer reason",
            maximum=1.0,
        ),
        "performance_chart": charts.bar_chart(
            [
                (
                    p.label.replace("Approved by ", "").capitalize(),
                    p.bad_rate or 0.0,
                    pct(p.bad_rate) if p.bad_rate is not None else "no outcomes",
                )
                for p in m.performance
            ],
            title="Default rate of approved loans, by route",
            maximum=max([p.bad_rate or 0.0 for p in m.performance] + [0.05]),
            colour=charts.RISK_UP,
        ),
    }
    return render(request, "reviews/metrics.html", context)
