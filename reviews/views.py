from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from config.errors import NotFound
from reviews import selectors
from reviews.models import ReviewCase


def _require_queue(request: HttpRequest) -> None:
    if not request.user.has_perm("reviews.view_queue"):
        raise Http404


@login_required
def queue(request: HttpRequest) -> HttpResponse:
    _require_queue(request)
    status = request.GET.get("status") or None
    if status not in (None, *ReviewCase.Status.values):
        status = None
    cases = selectors.case_queue(user=request.user, status=status, mine=request.GET.get("mine") == "1")
    page = Paginator(cases, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "reviews/queue.html",
        {"page": page, "status": status or "", "statuses": ReviewCase.Status.choices, "now": timezone.now()},
    )


@login_required
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    _require_queue(request)
    try:
        case = selectors.case_get(user=request.user, case_id=case_id)
    except NotFound as e:
        raise Http404 from e
    return render(request, "reviews/case.html", {"case": case, "decision": case.decision})
