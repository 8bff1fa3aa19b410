"""Audit fixtures: decisions made through the real service (the one decision path)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from decisioning.models import Decision
from tests.conftest import application_body

URL = "/api/v1/decisions"


@pytest.fixture
def decide_via_api(api: Any, product: Any) -> Callable[..., Decision]:
    """POST an application through the API; return the stored decision."""

    def make(**overrides: Any) -> Decision:
        r = api.post(URL, application_body(**overrides), format="json")
        assert r.status_code == 201, r.content
        return Decision.objects.select_related("application", "product", "client").get(
            pk=r.json()["id"]
        )

    return make


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client
