"""The signal gateway: concurrency, the time budget, caching, Redis down, pull caps, failure
policy and replay — through the real API, against a real local stub server."""

from __future__ import annotations

import datetime as dt
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from audit.replay import limits_at
from decisioning import selectors
from decisioning.engine.pipeline import decide
from decisioning.engine.types import SignalRecord
from decisioning.models import Decision
from decisioning.signals import registry as registry_module
from decisioning.signals.gateway import (
    fetch_signals,
    record_to_json,
    signals_from_stored,
    simulated_signals,
)
from decisioning.signals.registry import build, registry
from decisioning.signals.stub import StubServer, provider_config
from decisioning.snapshots import application_data
from tests.conftest import application_body
from tests.decisioning.test_signals_http import APP

URL = "/api/v1/decisions"
NOW = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    server = StubServer().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh(settings: Any) -> Iterator[None]:
    # Answers and pull counters must not leak between tests. A key prefix of its own per test,
    # not cache.clear(): on Redis that is FLUSHDB, which would hit anyone sharing the database.
    default = settings.CACHES["default"]
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            **default,
            "KEY_PREFIX": f"{default.get('KEY_PREFIX', '')}-{uuid.uuid4().hex[:8]}",
        },
    }
    registry_module.reset()
    yield
    registry_module.reset()


def by_type(records: Any) -> dict[str, Any]:
    return {
        (r.signal_type if isinstance(r, SignalRecord) else r["signal_type"]): r for r in records
    }


def replay(decision: Decision) -> Any:
    """Decide again from what was stored — `signals_from_stored`, no provider, no cache — with the
    same policy and model (audit.replay does this too, but loads the model from MLflow)."""
    scorer, _ = selectors.scorer_for_product(product=decision.product)
    return decide(
        application_data(decision.application),
        signals=signals_from_stored(decision.signals),
        policy=selectors.policy_for_product(product=decision.product),
        scorer=scorer,
        as_of=decision.created_at.date(),
        limits=limits_at(decision=decision),
    )


def assert_replays(decision: Decision) -> None:
    result = replay(decision)
    assert result.outcome.value == decision.outcome and result.pd == decision.pd
    assert [r.code for r in result.reasons] == [r["code"] for r in decision.reasons]
    assert result.degraded == decision.degraded


def decide_via_api(api: APIClient, **overrides: Any) -> tuple[dict[str, Any], Decision, float]:
    started = time.monotonic()
    r = api.post(URL, application_body(**overrides), format="json")
    elapsed = time.monotonic() - started
    assert r.status_code == 201, r.json()
    return r.json(), Decision.objects.get(pk=r.json()["id"]), elapsed


# ---- must show ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_hanging_bureau_refers_within_the_budget_and_the_decision_replays(
    api: APIClient, product: Any, stub: StubServer, settings: Any
) -> None:
    decide_via_api(api, reference="WARM-UP")  # first-request costs are not what is measured here
    settings.SIGNALS_TIME_BUDGET_MS = 200
    settings.SIGNAL_PROVIDERS = provider_config(
        stub.base_url, {"bureau": "hang", "kyc": "ok"}, bureau={"timeout_ms": 1000}
    )
    data, decision, elapsed = decide_via_api(api)

    # The signal step stopped at the budget; the whole API call is the budget plus the rest of
    # the decision (a few ms; more on a loaded two-core box, hence the margin).
    assert elapsed < 0.2 + 0.3
    assert decision.latency_ms < 200 + 300
    assert data["outcome"] == "refer" and data["degraded"] is True
    assert "MISSING_BUREAU" in [r["code"] for r in data["reasons"]]
    bureau = by_type(decision.signals)["bureau"]
    assert bureau["ok"] is False and bureau["response"] == {} and bureau["cache_hit"] is False
    assert bureau["error"] == "timeout: no answer within the 200 ms signal budget"
    assert 190 <= bureau["latency_ms"] < 200 + 100
    assert by_type(decision.signals)["kyc"]["ok"] is True  # the healthy provider still answered

    hits = stub.hits["/bureau/hang"]
    assert_replays(decision)  # and no provider call: the stub would hang again
    assert stub.hits["/bureau/hang"] == hits


@pytest.mark.django_db
def test_a_second_decision_for_the_same_applicant_is_served_from_the_cache_and_says_so(
    api: APIClient, product: Any, stub: StubServer, settings: Any
) -> None:
    settings.SIGNAL_PROVIDERS = provider_config(
        stub.base_url, {"bureau": "ok"}, bureau={"cache_ttl_seconds": 3 * 86400}
    )
    before = stub.hits["/bureau/ok"]
    _, first, _ = decide_via_api(api, reference="APP-1")
    _, second, _ = decide_via_api(api, reference="APP-2", amount="6000.00")  # same person, new loan

    one, two = by_type(first.signals)["bureau"], by_type(second.signals)["bureau"]
    assert one["cache_hit"] is False and two["cache_hit"] is True
    assert two["fetched_at"] == one["fetched_at"]  # when the bureau was actually asked
    assert two["response"] == one["response"] and two["response_sha256"] == one["response_sha256"]
    assert stub.hits["/bureau/ok"] - before == 1
    assert set(two["response"]["evidence"]) == {"report_id", "body_sha256"}  # no name, no address
    assert by_type(second.signals)["kyc"]["cache_hit"] is False  # simulators: not cached here
    assert_replays(second)


# ---- concurrency and budget ---------------------------------------------------------------------


def test_independent_providers_are_called_concurrently(stub: StubServer, settings: Any) -> None:
    settings.SIGNALS_TIME_BUDGET_MS = 1000
    settings.SIGNAL_PROVIDERS = provider_config(
        stub.base_url, {"bureau": "slow/100", "kyc": "slow/100"}
    )
    fetch_signals(APP, now=NOW)  # warm: pool threads and keep-alive connections exist
    started = time.monotonic()
    signals = fetch_signals(APP, now=NOW)
    elapsed = time.monotonic() - started
    assert signals.missing == ()
    slow = [r.latency_ms / 1000 for r in signals.records if r.signal_type in ("bureau", "kyc")]
    assert min(slow) >= 0.095
    # Overlapped: the step took about the slower call, not the sum (relative, so a loaded
    # two-core CI box slowing every call alike cannot fail it) — and ~100 ms, not 200 ms.
    assert elapsed < sum(slow) - 0.06
    assert elapsed < 0.19 + 0.1


def test_the_worker_pool_is_one_per_process_not_one_per_decision(
    stub: StubServer, settings: Any
) -> None:
    settings.SIGNAL_PROVIDERS = provider_config(stub.base_url, {"bureau": "ok", "fraud": "ok"})
    pool = registry().executor
    for _ in range(3):
        fetch_signals(APP, now=NOW)
    assert registry().executor is pool and pool is not None
    assert len(pool._threads) <= registry().max_workers == 8


def test_when_every_worker_is_stuck_the_decision_still_returns_by_the_deadline(
    stub: StubServer, settings: Any
) -> None:
    settings.SIGNALS_TIME_BUDGET_MS = 100
    settings.SIGNAL_PROVIDERS = {
        **provider_config(
            stub.base_url,
            {"bureau": "hang", "kyc": "hang"},
            bureau={"timeout_ms": 2000},
            kyc={"timeout_ms": 2000},
        ),
        "max_workers": 1,
    }
    started = time.monotonic()
    signals = fetch_signals(APP, now=NOW)
    assert time.monotonic() - started < 0.1 + 0.2  # not the 2 s attempt timeout
    errors = {r.signal_type: r.error for r in signals.records if not r.ok}
    assert errors["bureau"] == "timeout: no answer within the 100 ms signal budget"
    assert (
        errors["kyc"]
        == "timeout: not started within the 100 ms signal budget (signal worker pool saturated)"
    )


@pytest.mark.parametrize(
    ("signal", "path", "error"),
    [
        ("kyc", "garbage", "malformed: body is not JSON"),
        (
            "sanctions",
            "wrong-schema",
            "malformed: sanctions.sanctions_hit at screening.sanctions.hit: missing",
        ),
        ("fraud", "status/401", "auth: HTTP 401"),
        ("bureau", "status/503", "http_error: HTTP 503 (after 2 attempts)"),
    ],
)
@pytest.mark.django_db
def test_a_failing_provider_refers_the_decision_naming_the_missing_data(
    api: APIClient,
    product: Any,
    stub: StubServer,
    settings: Any,
    signal: str,
    path: str,
    error: str,
) -> None:
    settings.SIGNAL_PROVIDERS = provider_config(stub.base_url, {signal: path})
    data, decision, _ = decide_via_api(api)
    assert data["outcome"] == "refer" and data["degraded"] is True
    assert f"MISSING_{signal.upper()}" in [r["code"] for r in data["reasons"]]
    record = by_type(decision.signals)[signal]
    assert record["ok"] is False and record["error"].startswith(error) and record["latency_ms"] > 0
    assert_replays(decision)


# ---- cache ---------------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: connections are refused


@pytest.mark.django_db
def test_with_redis_down_decisions_still_go_through_uncached(
    api: APIClient, product: Any, stub: StubServer, settings: Any
) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    settings.SIGNAL_PROVIDERS = provider_config(
        stub.base_url,
        {"bureau": "ok"},
        bureau={
            "cache_ttl_seconds": 86400,
            "rate_limit": {"max_pulls": 1, "window_seconds": 86400},
        },
    )
    before = stub.hits["/bureau/ok"]
    first, d1, _ = decide_via_api(api, reference="A")
    second, d2, elapsed = decide_via_api(api, reference="B")
    assert first["outcome"] == second["outcome"] == "approve"
    assert [by_type(d.signals)["bureau"]["cache_hit"] for d in (d1, d2)] == [False, False]
    # Uncached, and the pull cap cannot count without the cache: let through, not refused.
    assert stub.hits["/bureau/ok"] - before == 2
    assert elapsed < 1.0


def test_cache_keys_and_cached_values_hold_no_personal_data(
    stub: StubServer, settings: Any
) -> None:
    settings.SIGNAL_PROVIDERS = provider_config(
        stub.base_url, {"bureau": "ok"}, bureau={"cache_ttl_seconds": 60}
    )
    fetch_signals(APP, now=NOW)
    from decisioning.signals.cache import answer_key, pulls_key

    key = answer_key(registry().providers["bureau"].provider, APP)
    text = key + repr(cache.get(key)) + pulls_key("bureau", APP)
    for personal in ("Grace", "grace", "Patel", "patel", "LS1", "1985"):
        assert personal not in text
    assert cache.get(key)["fetched_at"] == NOW.isoformat()


def test_an_unusable_cache_entry_is_ignored_and_fetched_again(
    stub: StubServer, settings: Any
) -> None:
    settings.SIGNAL_PROVIDERS = provider_config(
        stub.base_url, {"bureau": "ok"}, bureau={"cache_ttl_seconds": 60}
    )
    from decisioning.signals.cache import answer_key

    key = answer_key(registry().providers["bureau"].provider, APP)
    cache.set(key, {"response": {"score": 999}, "response_sha256": "tampered"}, 60)
    bureau = by_type(fetch_signals(APP, now=NOW).records)["bureau"]
    assert bureau.ok and not bureau.cache_hit


# ---- pull cap ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_bureau_pulls_per_applicant_are_capped_and_over_the_cap_refers_without_a_pull(
    api: APIClient, product: Any, stub: StubServer, settings: Any
) -> None:
    settings.SIGNAL_PROVIDERS = provider_config(
        stub.base_url,
        {"bureau": "status/500"},
        bureau={
            "retries": 0,
            "rate_limit": {"max_pulls": 2, "window_seconds": 86400},
            "circuit": {"failure_threshold": 50, "cooldown_seconds": 30},
        },
    )
    before = stub.hits["/bureau/status/500"]
    for ref in ("A", "B", "C"):
        data, decision, _ = decide_via_api(api, reference=ref, amount="5100.00")
    assert stub.hits["/bureau/status/500"] - before == 2  # the third made no pull
    bureau = by_type(decision.signals)["bureau"]
    assert bureau["error"] == (
        "rate_limited: this applicant already had 2 bureau pulls within 1 d and "
        "there is no cached answer; no new pull made"
    )
    assert data["outcome"] == "refer" and "MISSING_BUREAU" in [r["code"] for r in data["reasons"]]
    # Another applicant has an allowance of their own.
    decide_via_api(api, first_name="Ada", reference="D")
    assert stub.hits["/bureau/status/500"] - before == 3


def test_a_cached_answer_is_used_before_the_cap_is_even_counted(
    stub: StubServer, settings: Any
) -> None:
    settings.SIGNAL_PROVIDERS = provider_config(
        stub.base_url,
        {"bureau": "ok"},
        bureau={"cache_ttl_seconds": 3600, "rate_limit": {"max_pulls": 1, "window_seconds": 86400}},
    )
    records = [by_type(fetch_signals(APP, now=NOW).records)["bureau"] for _ in range(3)]
    assert [r.ok for r in records] == [True, True, True]
    assert [r.cache_hit for r in records] == [False, True, True]


# ---- default, replay and configuration ---------------------------------------------------------


def test_the_default_configuration_is_the_simulators_uncached(settings: Any) -> None:
    settings.SIGNAL_PROVIDERS = {}
    live, sim = fetch_signals(APP, now=NOW), simulated_signals(APP, now=NOW)
    assert (live.bureau, live.kyc, live.sanctions, live.fraud) == (
        sim.bureau,
        sim.kyc,
        sim.sanctions,
        sim.fraud,
    )
    assert [r.provider for r in live.records] == [
        "sim-bureau",
        "sim-kyc",
        "sim-sanctions",
        "sim-fraud",
    ]
    assert registry().executor is None  # simulators run inline: no thread hop


def test_stored_records_replay_exactly_including_failures(stub: StubServer, settings: Any) -> None:
    settings.SIGNALS_TIME_BUDGET_MS = 100
    settings.SIGNAL_PROVIDERS = provider_config(stub.base_url, {"bureau": "ok", "kyc": "hang"})
    signals = fetch_signals(APP, now=NOW)
    again = signals_from_stored([record_to_json(r) for r in signals.records])
    assert (again.bureau, again.kyc, again.sanctions, again.fraud) == (
        signals.bureau,
        None,
        signals.sanctions,
        signals.fraud,
    )
    assert [r.error for r in again.records] == [r.error for r in signals.records]


def test_a_simulated_delay_makes_a_demo_provider_slow(settings: Any) -> None:
    settings.SIGNALS_TIME_BUDGET_MS = 50
    settings.SIGNAL_PROVIDERS = {
        "providers": {
            "bureau": {"kind": "simulated", "delay_ms": 1000},
            "kyc": {"kind": "simulated"},
            "sanctions": {"kind": "simulated"},
            "fraud": {"kind": "simulated"},
        }
    }
    started = time.monotonic()
    signals = fetch_signals(APP, now=NOW)
    assert time.monotonic() - started < 0.05 + 0.2 and signals.missing == ("bureau",)


def _http(**changes: Any) -> dict[str, Any]:
    config = provider_config("http://127.0.0.1:9", {"bureau": "ok"})
    config["providers"]["bureau"].update(changes)
    return config


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"providers": {"bureau": {"kind": "simulated"}}},
            "must configure exactly bureau, kyc, sanctions, fraud",
        ),
        (_http(url="http://bureau.example.com/v1"), "must use https"),
        (_http(url="https://user:pw@bureau.example.com/v1"), "must not carry credentials"),
        (_http(auth={"env": "VERDICT_TEST_UNSET_TOKEN"}), "VERDICT_TEST_UNSET_TOKEN .* is not set"),
        (_http(auth={"env": "X", "token": "abc"}), "never goes in configuration"),
        (_http(required=False), "not supported yet"),
        (_http(retries=-1), "retries must be an integer"),
        (_http(schema={"fields": {}}), "must map exactly"),
        (_http(request_fields=["national_insurance"]), "request_fields"),
        (_http(kind="soap"), "kind must be"),
        (_http(colour="blue"), "unknown key"),
    ],
)
def test_a_bad_configuration_fails_loudly(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        build(config)


def test_the_credential_comes_from_the_environment(monkeypatch: Any) -> None:
    monkeypatch.setenv("VERDICT_TEST_BUREAU_TOKEN", "tok-123")
    reg = build(
        _http(auth={"header": "X-Api-Key", "env": "VERDICT_TEST_BUREAU_TOKEN", "scheme": ""})
    )
    try:
        assert reg.providers["bureau"].provider._headers["X-Api-Key"] == "tok-123"
    finally:
        reg.close()


def test_the_shipped_example_configuration_is_valid(monkeypatch: Any) -> None:
    import json
    from pathlib import Path

    import decisioning.signals

    monkeypatch.setenv("STUB_PROVIDER_TOKEN", "demo")
    path = Path(decisioning.signals.__file__).parent / "examples" / "providers.json"
    reg = build(json.loads(path.read_text()))
    try:
        assert reg.providers["bureau"].rate_limit is not None
        assert reg.providers["bureau"].cache_ttl_seconds == 3 * 86400
    finally:
        reg.close()
