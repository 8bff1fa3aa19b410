"""Production web workers warm their caches and freeze their start-up heap before serving."""

from __future__ import annotations

import gc
import importlib
import logging
import sys
from typing import Any

import pytest


def test_the_granian_entry_point_warms_its_worker_on_import(monkeypatch: pytest.MonkeyPatch) -> None:
    import config.warmup
    import config.wsgi

    calls: list[str] = []
    monkeypatch.setattr(config.warmup, "warm_worker", lambda log: calls.append(log.name))
    monkeypatch.delitem(sys.modules, "config.wsgi_warm", raising=False)
    module = importlib.import_module("config.wsgi_warm")
    assert calls == ["verdict.server"]
    assert module.application is config.wsgi.application


@pytest.mark.django_db
def test_warm_worker_loads_the_caches_then_freezes_the_heap(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    from config.warmup import warm_worker
    from decisioning import selectors

    monkeypatch.setattr(selectors, "warm_caches", lambda: {"personal-loan": "builtin-1, m v1"})
    try:
        with caplog.at_level(logging.INFO, logger="t"):
            warm_worker(logging.getLogger("t"))
        assert gc.get_freeze_count() > 0
        assert "warmed" in caplog.text and "personal-loan" in caplog.text
    finally:
        gc.unfreeze()


def test_a_failed_warm_up_serves_anyway_and_freezes_nothing(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    from config.warmup import warm_worker
    from decisioning import selectors

    def down() -> None:
        raise ConnectionError("database down")

    monkeypatch.setattr(selectors, "warm_caches", down)
    with caplog.at_level(logging.WARNING, logger="t"):
        warm_worker(logging.getLogger("t"))
    assert gc.get_freeze_count() == 0
    assert "warm-up skipped (ConnectionError)" in caplog.text
