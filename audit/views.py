"""Auditor pages: read-only views of the chain, verification, replay and decision dossiers.

Everything here needs `audit.view_audit` (auditors, risk managers); anyone else gets 404 — a
page they may not see does not exist for them.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit import selectors
from audit.dossier import dossier_build
from audit.pdf import dossier_pdf
from audit.replay import decision_replay_record
from audit.services import Actor
from audit.verification import verification_start
from decisioning.models import Decision


def _require(request: HttpRequest, perm: str = "audit.view_audit") -> None:
    if not request.user.has_perm(perm):
        raise Http404


def _decision(decision_id: str) -> Decision:
    try:
        return Decision.objects.select_related("application", "product", "client").get(
            pk=uuid.UUID(decision_id)
        )
    except (ValueError, Decision.DoesNotExist) as e:
        raise Http404 from e


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    _require(request)
    check_head = selectors.chain_head()
    return render(
        request,
        "audit/index.html",
        {
            "latest": selectors.verification_latest(),
            "runs": list(selectors.verification_list(limit=10)),
            "head": check_head,
            "unsealed_age": selectors.unsealed_age(),
            "unsealed": selectors.AuditEvent.objects.filter(position__isnull=True).count(),
            "backlog_alerts": selectors.backlog_alerts(),
            "missing_triggers": selectors.missing_triggers(),
            "can_export": request.user.has_perm("audit.export"),
            "recent_decisions": list(
                Decision.objects.select_related("product").order_by("-created_at")[:10]
            ),
        },
    )


@login_required
@require_POST
def verify(request: HttpRequest) -> HttpResponse:
    _require(request)
    run = verification_start(user=request.user, source="web")
    run.refresh_from_db()
    if run.finished_at:
        level = messages.SUCCESS if run.ok else messages.ERROR
        messages.add_message(
            request,
            level,
            f"Verification {run.pk}: {run.get_status_display()} — "
            f"{run.checked:,} events verified. {run.problem}",
        )
    else:
        messages.info(request, f"Verification {run.pk} started; refresh to see the result.")
    return redirect("audit:index")


@login_required
@require_GET
def lookup(request: HttpRequest) -> HttpResponse:
    _require(request)
    decision = _decision(request.GET.get("id", "").strip())
    return redirect("audit:dossier", decision_id=str(decision.pk))


@login_required
@require_GET
def dossier(request: HttpRequest, decision_id: str) -> HttpResponse:
    _require(request)
    return render(
        request, "audit/dossier.html", {"d": dossier_build(decision=_decision(decision_id))}
    )


@login_required
@require_GET
def dossier_as_pdf(request: HttpRequest, decision_id: str) -> HttpResponse:
    _require(request)
    decision = _decision(decision_id)
    response = HttpResponse(
        dossier_pdf(dossier_build(decision=decision)), content_type="application/pdf"
    )
    response["Content-Disposition"] = f'inline; filename="dossier-{decision.pk}.pdf"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def replay(request: HttpRequest, decision_id: str) -> HttpResponse:
    """GET: the decision and its earlier replays, with a button; POST: run the replay (an audit
    event, `decision.replayed`) and show the result. Looking changes nothing."""
    _require(request)
    decision = _decision(decision_id)
    result = None
    if request.method == "POST":
        result = decision_replay_record(decision=decision, actor=Actor.for_user(request.user))
    return render(
        request,
        "audit/replay.html",
        {
            "decision": decision,
            "result": result,
            "earlier": selectors.decision_replays(decision=decision),
        },
    )
