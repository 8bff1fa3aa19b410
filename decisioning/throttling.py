from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from decisioning.models import IntegrationClient


class ClientRateThrottle(SimpleRateThrottle):
    """Per-integration-client request rate (API_THROTTLE_RATE). If the cache is down, let the
    request through: throttling protects capacity, it must not take the service down with Redis."""

    scope = "client"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, IntegrationClient):
            return f"throttle_client_{request.auth.pk}"
        return f"throttle_anon_{self.get_ident(request)}"

    def allow_request(self, request: Request, view: Any) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception:  # cache backend unavailable
            return True
