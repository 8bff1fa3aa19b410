"""Fetching the third-party signals of one decision, and rebuilding them from what was stored.

`fetch_signals` asks every configured provider (see `registry`) for its signal, concurrently,
within `SIGNALS_TIME_BUDGET_MS`. Per provider it first looks in the cache, then (bureau-style
providers) counts the pull against the applicant's cap, then calls. Whatever is not back by the
deadline is a timeout: the signal is `None`, which the decision core turns into a refer naming
the missing data. The call returns by the deadline even if a provider never answers.

Every provider's outcome — answer or failure — is a `SignalRecord` (response minus what need not
be kept, its SHA-256, latency, fetched-at, cache hit, error), so `signals_from_stored` replays a
decision exactly with no provider call.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, wait
from typing import Any

from django.conf import settings

from audit.canonical import canonical_json, sha256_hex
from decisioning.engine.types import ApplicationData, SignalRecord, Signals
from decisioning.signals import simulated
from decisioning.signals.cache import GuardedCache, answer_key, pulls_key
from decisioning.signals.convert import SIGNAL_TYPES, from_response, to_response
from decisioning.signals.providers import Answer, ProviderError
from decisioning.signals.registry import ProviderPolicy, registry

__all__ = [
    "SIGNAL_TYPES",
    "SIMULATORS",
    "fetch_signals",
    "from_response",
    "record_to_json",
    "signals_from_stored",
    "simulated_signals",
    "to_response",
]

logger = logging.getLogger("verdict.signals")

SIMULATORS: dict[str, tuple[str, Callable[[ApplicationData], Any]]] = {
    "bureau": ("sim-bureau", simulated.simulate_bureau),
    "kyc": ("sim-kyc", simulated.simulate_kyc),
    "sanctions": ("sim-sanctions", simulated.simulate_sanctions),
    "fraud": ("sim-fraud", simulated.simulate_fraud),
}


def _stored_response(answer: Answer) -> dict[str, Any]:
    response = to_response(answer.signal)
    if answer.evidence:
        response["evidence"] = dict(answer.evidence)
    return response


def _record(
    policy: ProviderPolicy,
    *,
    ok: bool,
    response: dict[str, Any],
    latency_ms: float,
    fetched_at: dt.datetime,
    cache_hit: bool = False,
    error: str = "",
    provider: str = "",
    provider_version: str = "",
    response_sha256: str | None = None,
) -> SignalRecord:
    p = policy.provider
    if response_sha256 is None:
        response_sha256 = sha256_hex(canonical_json(response)) if ok else ""
    return SignalRecord(
        provider=provider or p.name,
        provider_version=provider_version or p.version,
        signal_type=p.signal_type,
        ok=ok,
        response=response,
        response_sha256=response_sha256,
        latency_ms=latency_ms,
        fetched_at=fetched_at,
        cache_hit=cache_hit,
        error=error,
    )


def _failure(
    policy: ProviderPolicy, error: str, *, latency_ms: float, now: dt.datetime
) -> SignalRecord:
    p = policy.provider
    # Provider, signal type and our own error text only: never the applicant.
    logger.warning("signal %s from %s failed: %s", p.signal_type, p.name, error)
    return _record(
        policy, ok=False, response={}, latency_ms=latency_ms, fetched_at=now, error=error
    )


def _call(
    policy: ProviderPolicy,
    app: ApplicationData,
    *,
    deadline: float,
    now: dt.datetime,
    cache: GuardedCache,
    key: str | None,
    cache_writes: list[tuple[str, Any, int]] | None = None,
) -> tuple[SignalRecord, Any]:
    """One provider, start to finish (runs in a pool thread, or inline for simulators). Inline
    callers pass `cache_writes` to collect the cache write and flush all of them at once."""
    started = time.perf_counter()
    try:
        answer = policy.provider.fetch(app, deadline=deadline)
    except ProviderError as e:
        return _failure(
            policy, str(e), latency_ms=(time.perf_counter() - started) * 1000, now=now
        ), None
    except Exception as e:
        logger.exception("signal provider %s raised", policy.provider.name)
        return _failure(
            policy,
            f"error: {type(e).__name__}",
            latency_ms=(time.perf_counter() - started) * 1000,
            now=now,
        ), None
    latency_ms = (time.perf_counter() - started) * 1000
    response = _stored_response(answer)
    record = _record(policy, ok=True, response=response, latency_ms=latency_ms, fetched_at=now)
    if key is not None:
        entry = {
            "provider": record.provider,
            "provider_version": record.provider_version,
            "response": response,
            "response_sha256": record.response_sha256,
            "fetched_at": now.isoformat(),
        }
        if cache_writes is not None:
            cache_writes.append((key, entry, policy.cache_ttl_seconds))
        else:
            # Written here, not by the decision: an answer that arrives after its decision gave
            # up waiting still saves the next decision for this applicant a pull.
            cache.set(key, entry, policy.cache_ttl_seconds)
    return record, answer.signal


def _from_cache(
    policy: ProviderPolicy, entry: Any, *, latency_ms: float
) -> tuple[SignalRecord, Any] | None:
    """The cached answer as this decision's record (original fetched-at), or None if unusable."""
    try:
        response = entry["response"]
        if sha256_hex(canonical_json(response)) != entry["response_sha256"]:
            raise ValueError("cached response does not match its hash")
        value = from_response(policy.provider.signal_type, response)
        record = _record(
            policy,
            ok=True,
            response=response,
            latency_ms=latency_ms,
            cache_hit=True,
            fetched_at=dt.datetime.fromisoformat(entry["fetched_at"]),
            provider=entry["provider"],
            provider_version=entry["provider_version"],
            response_sha256=entry["response_sha256"],
        )
    except (KeyError, TypeError, ValueError) as e:
        logger.warning("ignoring unusable cached %s answer (%s)", policy.provider.signal_type, e)
        return None
    return record, value


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def fetch_signals(app: ApplicationData, *, now: dt.datetime) -> Signals:
    """The signals for one decision from the configured providers, within the time budget."""
    reg = registry()
    budget_ms = settings.SIGNALS_TIME_BUDGET_MS
    started = time.monotonic()
    deadline = started + budget_ms / 1000
    cache = GuardedCache(reg.cache_breaker)

    keys = {
        name: answer_key(p.provider, app)
        for name, p in reg.providers.items()
        if p.cache_ttl_seconds
    }
    hits = cache.get_many(keys.values()) if keys else {}
    lookup_ms = (time.monotonic() - started) * 1000

    records: dict[str, SignalRecord] = {}
    values: dict[str, Any] = dict.fromkeys(SIGNAL_TYPES)
    futures: dict[Future[tuple[SignalRecord, Any]], str] = {}
    inline: list[str] = []
    for name, policy in reg.providers.items():
        key = keys.get(name)
        if key is not None and key in hits:
            cached = _from_cache(policy, hits[key], latency_ms=lookup_ms)
            if cached is not None:
                records[name], values[name] = cached
                continue
        limit = policy.rate_limit
        if limit is not None:
            pulls = cache.take_pull(pulls_key(name, app), limit)
            # Unknown (cache down) is let through: refusing would refer every application while
            # Redis is down. The circuit breaker still bounds what reaches the provider.
            if pulls is not None and pulls > limit.max_pulls:
                records[name] = _failure(
                    policy,
                    f"rate_limited: this applicant already had {limit.max_pulls} {name} pulls within "
                    f"{_duration(limit.window_seconds)} and there is no cached answer; no new pull made",
                    latency_ms=0.0,
                    now=now,
                )
                continue
        if policy.provider.inline:
            inline.append(name)
            continue
        assert reg.executor is not None
        try:
            future = reg.executor.submit(
                _call, policy, app, deadline=deadline, now=now, cache=cache, key=key
            )
        except RuntimeError:  # pool shut down by a configuration reload in this instant
            records[name] = _failure(
                policy, "error: signal worker pool unavailable", latency_ms=0.0, now=now
            )
            continue
        futures[future] = name

    # Simulators run here while the network calls are in flight; their answers are cached in
    # one write.
    cache_writes: list[tuple[str, Any, int]] = []
    for name in inline:
        policy = reg.providers[name]
        records[name], values[name] = _call(
            policy, app, deadline=deadline, now=now, cache=cache, key=keys.get(name),
            cache_writes=cache_writes,
        )
    if cache_writes:
        cache.set_many(cache_writes)

    if futures:
        done, pending = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
        for future in done:
            records[futures[future]], values[futures[future]] = future.result()
        for future in pending:
            name = futures[future]
            never_started = future.cancel()
            waited = (time.monotonic() - started) * 1000
            reason = (
                f"timeout: not started within the {budget_ms} ms signal budget (signal worker pool saturated)"
                if never_started
                else f"timeout: no answer within the {budget_ms} ms signal budget"
            )
            records[name] = _failure(reg.providers[name], reason, latency_ms=waited, now=now)

    return Signals(
        **values, records=tuple(records[name] for name in SIGNAL_TYPES if name in records)
    )


def simulated_signals(app: ApplicationData, *, now: dt.datetime) -> Signals:
    """The deterministic simulators' signals, whatever is configured: no cache, pull or network.

    For what must never reach a real provider: rule-set test cases, examples, synthetic data.
    """
    values: dict[str, Any] = {}
    records: list[SignalRecord] = []
    for signal_type, (provider, simulate) in SIMULATORS.items():
        started = time.perf_counter()
        value = simulate(app)
        response = to_response(value)
        records.append(
            SignalRecord(
                provider=provider,
                provider_version=simulated.PROVIDER_VERSION,
                signal_type=signal_type,
                ok=True,
                response=response,
                response_sha256=sha256_hex(canonical_json(response)),
                latency_ms=(time.perf_counter() - started) * 1000,
                fetched_at=now,
                cache_hit=False,
            )
        )
        values[signal_type] = value
    return Signals(**values, records=tuple(records))


def record_to_json(record: SignalRecord) -> dict[str, Any]:
    return {
        "provider": record.provider,
        "provider_version": record.provider_version,
        "signal_type": record.signal_type,
        "ok": record.ok,
        "response": record.response,
        "response_sha256": record.response_sha256,
        "latency_ms": round(record.latency_ms, 3),
        "fetched_at": record.fetched_at.isoformat(),
        "cache_hit": record.cache_hit,
        "error": record.error,
    }


def signals_from_stored(stored: Sequence[Mapping[str, Any]]) -> Signals:
    """Rebuild the signals of a stored decision exactly as it saw them (for replay): no call,
    no cache, no configuration — a failed record replays as the same missing signal."""
    values: dict[str, Any] = dict.fromkeys(SIGNAL_TYPES)
    records = []
    for item in stored:
        record = SignalRecord(
            provider=item["provider"],
            provider_version=item["provider_version"],
            signal_type=item["signal_type"],
            ok=item["ok"],
            response=dict(item["response"]),
            response_sha256=item["response_sha256"],
            latency_ms=item["latency_ms"],
            fetched_at=dt.datetime.fromisoformat(item["fetched_at"]),
            cache_hit=item["cache_hit"],
            error=item.get("error", ""),
        )
        records.append(record)
        if record.ok:
            values[record.signal_type] = from_response(record.signal_type, record.response)
    return Signals(**values, records=tuple(records))
