from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_touching_dependencies(client: Client, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_readyz_reports_each_dependency(client: Client, product: Any) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "cache", "broker", "models"}
    assert all(check["ok"] for check in body["checks"].values())


def test_readyz_fails_when_a_champion_cannot_be_loaded(client: Client, product: Any, settings: Any) -> None:
    from modeling.serving import forget

    forget()  # the test model is gone; the (empty) MLflow store has no champion to load
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["status"] == "unavailable"
    assert "personal-loan" in r.json()["checks"]["models"]["detail"]


def test_readyz_degrades_without_the_cache(client: Client, product: Any, monkeypatch: Any) -> None:
    from django.core.cache import cache

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("redis down")

    monkeypatch.setattr(cache, "set", broken)
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["status"] == "degraded"
    assert r.json()["checks"]["cache"]["ok"] is False
