from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from decisioning.models import IntegrationClient


class IsIntegrationClient(BasePermission):
    """Only callers authenticated by an API token (an integration client) may use the API."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, IntegrationClient)
