from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse


def navigation(request: HttpRequest) -> dict[str, Any]:
    """The links a signed-in user's role allows; nothing is shown that would then be refused."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = []
    if user.has_perm("reviews.view_queue"):
        items.append(("Review queue", reverse("reviews:queue")))
        items.append(("Metrics", reverse("reviews:metrics")))
    if user.has_perm("modeling.view_models"):
        items.append(("Models", reverse("modeling:list")))
    if user.has_perm("monitoring.view_dashboard"):
        items.append(("Monitoring", reverse("monitoring:dashboard")))
    if user.has_perm("audit.view_audit"):
        items.append(("Audit", reverse("audit:index")))
    if user.is_staff:
        items.append(("Admin", reverse("admin:index")))
    items.append(("API docs", reverse("api-docs")))
    return {"nav_items": items, "user_roles": sorted(g.name for g in user.groups.all())}
