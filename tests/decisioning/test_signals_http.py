"""The HTTP JSON provider against a real local stub server with fault injection (no mocks)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from decisioning.engine.types import (
    ApplicationData,
    EmploymentStatus,
    KycStatus,
    LoanPurpose,
    ResidentialStatus,
)
from decisioning.signals import simulated
from decisioning.signals.breaker import BreakerState, CircuitBreaker, CircuitOpen
from decisioning.signals.providers import HttpJsonProvider, ProviderError, RetryPolicy
from decisioning.signals.schema import MalformedResponse, ResponseSchema, SchemaConfigError
from decisioning.signals.stub import SCHEMAS, StubServer

APP = ApplicationData(
    first_name="Grace",
    last_name="Patel",
    date_of_birth=dt.date(1985, 4, 12),
    postcode="LS1 4AP",
    uk_resident=True,
    residential_status=ResidentialStatus.MORTGAGE,
    months_at_address=96,
    employment_status=EmploymentStatus.EMPLOYED,
    months_in_employment=72,
    annual_income=Decimal("52000"),
    monthly_expenditure=Decimal("900"),
    existing_debt=Decimal("0"),
    monthly_debt_payments=Decimal("50"),
    dependants=0,
    requested_amount=Decimal("5000"),
    term_months=36,
    purpose=LoanPurpose.OTHER,
)


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    server = StubServer().start()
    yield server
    server.stop()


def provider(
    stub: StubServer,
    path: str,
    *,
    signal: str = "bureau",
    timeout_ms: int = 200,
    retries: int = 1,
    threshold: int = 5,
    cooldown: float = 30.0,
    **kwargs: Any,
) -> HttpJsonProvider:
    return HttpJsonProvider(
        signal_type=signal,
        name=f"stub-{signal}",
        version="stub-1",
        url=f"{stub.base_url}/{signal}/{path}",
        schema=ResponseSchema.from_config(signal, SCHEMAS[signal]),
        timeout_ms=timeout_ms,
        retry=RetryPolicy(retries=retries, backoff_ms=5, backoff_max_ms=20),
        breaker=CircuitBreaker(failure_threshold=threshold, cooldown_seconds=cooldown),
        **kwargs,
    )


def within(ms: float) -> float:
    return time.monotonic() + ms / 1000


def test_it_maps_a_healthy_answer_and_keeps_only_what_the_schema_names(stub: StubServer) -> None:
    answer = provider(stub, "ok").fetch(APP, deadline=within(500))
    assert answer.signal == simulated.simulate_bureau(APP)
    assert set(answer.evidence) == {"report_id", "body_sha256"}  # no name, address or report body
    kyc = provider(stub, "ok", signal="kyc").fetch(APP, deadline=within(500))
    assert kyc.signal.status in set(KycStatus)  # "VERIFIED" etc. mapped to the typed status


def test_it_sends_the_credential_it_was_given_and_does_not_retry_a_refusal() -> None:
    server = StubServer(required_token="s3cret").start()
    try:
        good = provider(
            server, "ok", auth_header="Authorization", auth_scheme="Bearer", auth_value="s3cret"
        )
        assert good.fetch(APP, deadline=within(500)).signal.score >= 0
        bad = provider(
            server,
            "ok",
            auth_header="Authorization",
            auth_scheme="Bearer",
            auth_value="wrong",
            auth_env="BUREAU_TOKEN",
            retries=3,
        )
        with pytest.raises(ProviderError) as e:
            bad.fetch(APP, deadline=within(500))
        assert (
            e.value.kind == "auth"
            and "BUREAU_TOKEN" in str(e.value)
            and "wrong" not in str(e.value)
        )
        assert server.hits["/bureau/ok"] == 2  # one good call, one refused call, no retry
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("path", "kind", "attempts"),
    [
        ("status/500", "http_error", 3),  # 5xx is retried
        ("status/503", "http_error", 3),
        ("status/404", "http_error", 1),  # our request is wrong: retrying cannot help
        ("status/401", "auth", 1),
        ("garbage", "malformed", 1),
        ("wrong-schema", "malformed", 1),
    ],
)
def test_faults_fail_with_a_clear_kind_and_only_transient_ones_are_retried(
    stub: StubServer, path: str, kind: str, attempts: int
) -> None:
    before = stub.hits[f"/bureau/{path}"]
    with pytest.raises(ProviderError) as e:
        provider(stub, path, retries=2).fetch(APP, deadline=within(1000))
    assert e.value.kind == kind
    assert stub.hits[f"/bureau/{path}"] - before == attempts


def test_a_flaky_provider_succeeds_on_retry(stub: StubServer) -> None:
    answer = provider(stub, "flaky/1", retries=1).fetch(APP, deadline=within(500))
    assert answer.signal == simulated.simulate_bureau(APP)
    assert stub.hits["/bureau/flaky/1"] == 2


def test_a_slow_provider_times_out_at_the_deadline_not_at_its_own_timeout(stub: StubServer) -> None:
    started = time.monotonic()
    with pytest.raises(ProviderError) as e:
        provider(stub, "slow/1000", timeout_ms=2000, retries=0).fetch(APP, deadline=within(100))
    assert e.value.kind == "timeout"
    assert (
        time.monotonic() - started < 0.1 + 0.2
    )  # the deadline (+ slack for a loaded box), not 1 s


def test_retries_never_run_past_the_deadline(stub: StubServer) -> None:
    before = stub.hits["/bureau/hang"]
    started = time.monotonic()
    with pytest.raises(ProviderError) as e:
        provider(stub, "hang", timeout_ms=50, retries=10).fetch(APP, deadline=within(150))
    elapsed = time.monotonic() - started
    assert e.value.kind == "timeout" and elapsed < 0.15 + 0.15
    assert 1 <= stub.hits["/bureau/hang"] - before <= 3  # not 11 attempts


def test_the_circuit_opens_after_consecutive_failures_and_a_good_probe_closes_it(
    stub: StubServer,
) -> None:
    # flaky/2: the first two requests fail, then the provider is healthy again.
    p = provider(stub, "flaky/2", retries=0, threshold=2, cooldown=0.1)
    for _ in range(2):
        with pytest.raises(ProviderError):
            p.fetch(APP, deadline=within(500))
    assert p.breaker.state == BreakerState.OPEN
    with pytest.raises(ProviderError) as e:
        p.fetch(APP, deadline=within(500))
    assert e.value.kind == "circuit_open"
    assert stub.hits["/bureau/flaky/2"] == 2  # the open circuit did not call
    time.sleep(0.12)
    assert p.breaker.state == BreakerState.HALF_OPEN
    assert p.fetch(APP, deadline=within(500)).signal.score >= 0  # the probe succeeds
    assert p.breaker.state == BreakerState.CLOSED


def test_a_failed_probe_opens_the_circuit_again(stub: StubServer) -> None:
    p = provider(stub, "status/502", retries=0, threshold=1, cooldown=0.05)
    with pytest.raises(ProviderError):
        p.fetch(APP, deadline=within(500))
    time.sleep(0.06)
    with pytest.raises(ProviderError) as probe:
        p.fetch(APP, deadline=within(500))
    assert probe.value.kind == "http_error"
    with pytest.raises(ProviderError) as after:
        p.fetch(APP, deadline=within(500))
    assert after.value.kind == "circuit_open"


def test_half_open_lets_exactly_one_probe_through() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=1, cooldown_seconds=10, clock=lambda: now[0])
    breaker.before_call()
    breaker.failure()
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    now[0] = 10.0
    breaker.before_call()  # the probe
    with pytest.raises(CircuitOpen, match="probe"):
        breaker.before_call()  # everyone else fails fast meanwhile
    breaker.success()
    breaker.before_call()
    assert breaker.state == BreakerState.CLOSED


# ---- schema ------------------------------------------------------------------------------------

FRAUD = ResponseSchema.from_config("fraud", SCHEMAS["fraud"])
BUREAU = ResponseSchema.from_config("bureau", SCHEMAS["bureau"])


def bureau_doc(**report: Any) -> dict[str, Any]:
    base = {
        "id": "R-1",
        "score": 700,
        "public_records": {"ccj_6y": 0},
        "accounts": {
            "defaults_6y": 0,
            "arrears_12m": 1,
            "revolving_utilisation": 0.3,
            "unsecured_balance": "1200.50",
        },
    }
    return {"report": {**base, **report}, "subject": {"full_name": "Grace Patel"}}


def test_a_schema_maps_paths_types_defaults_and_keeps_evidence() -> None:
    signal, evidence = BUREAU.parse(bureau_doc())
    assert signal.score == 700 and signal.searches_6m == 0  # absent → declared default
    assert signal.total_unsecured_balance == Decimal("1200.50")
    assert evidence == {"report_id": "R-1"}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (bureau_doc(score="700"), "score at report.score: expected integer"),
        (bureau_doc(score=1500), "outside"),
        (bureau_doc(score=None), "score at report.score: missing"),
        (bureau_doc(accounts={}), "defaults_count_6y"),
        (
            bureau_doc(
                accounts={
                    "defaults_6y": 0,
                    "arrears_12m": 0,
                    "revolving_utilisation": 0.1,
                    "unsecured_balance": "lots",
                }
            ),
            "expected decimal",
        ),
        (["not", "an", "object"], "missing"),
    ],
)
def test_a_response_that_does_not_fit_the_schema_is_malformed(doc: Any, message: str) -> None:
    with pytest.raises(MalformedResponse, match=message):
        BUREAU.parse(doc)


def test_values_outside_a_closed_vocabulary_are_malformed() -> None:
    with pytest.raises(MalformedResponse, match="device_risk"):
        FRAUD.parse({"score": 5, "device": {"risk": "catastrophic"}})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"fraud_score": "score"}, "must map exactly"),
        ({"fraud_score": {"path": "score", "type": "string"}, "device_risk": "d"}, "cannot feed"),
        ({"fraud_score": {"path": ""}, "device_risk": "d"}, "needs a 'path'"),
        ({"fraud_score": {"path": "s", "min": "0"}, "device_risk": "d"}, "must be a number"),
    ],
)
def test_a_wrong_schema_is_a_configuration_error(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(SchemaConfigError, match=message):
        ResponseSchema.from_config("fraud", {"fields": fields})
