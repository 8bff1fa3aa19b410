"""Fetching third-party signals for one decision, and rebuilding them from what was stored.

The built-in providers are the deterministic simulators; every answer is recorded as a
`SignalRecord` (response, SHA-256, latency, time, cache hit) so a decision replays with no call.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from enum import Enum
from typing import Any

from audit.canonical import canonical_json, sha256_hex
from decisioning.engine.types import (
    ApplicationData,
    BureauSignal,
    FraudSignal,
    KycSignal,
    KycStatus,
    SanctionsSignal,
    SignalRecord,
    Signals,
)
from decisioning.signals import simulated

SIGNAL_TYPES: dict[str, type] = {
    "bureau": BureauSignal,
    "kyc": KycSignal,
    "sanctions": SanctionsSignal,
    "fraud": FraudSignal,
}

SIMULATORS: dict[str, tuple[str, Callable[[ApplicationData], Any]]] = {
    "bureau": ("sim-bureau", simulated.simulate_bureau),
    "kyc": ("sim-kyc", simulated.simulate_kyc),
    "sanctions": ("sim-sanctions", simulated.simulate_sanctions),
    "fraud": ("sim-fraud", simulated.simulate_fraud),
}


def to_response(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(value):
        v = getattr(value, f.name)
        if isinstance(v, Decimal):
            v = str(v)
        elif isinstance(v, Enum):
            v = v.value
        out[f.name] = v
    return out


def from_response(signal_type: str, response: Mapping[str, Any]) -> Any:
    """Typed signal from a stored/received response; raises ValueError/TypeError if malformed."""
    klass = SIGNAL_TYPES[signal_type]
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(klass):
        if f.name not in response:
            raise ValueError(f"{signal_type} response lacks {f.name}")
        v = response[f.name]
        if f.type in ("Decimal",):
            v = Decimal(str(v))
        elif f.type == "KycStatus":
            v = KycStatus(v)
        elif f.type == "int":
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"{signal_type}.{f.name} must be an integer")
        elif f.type == "float":
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise TypeError(f"{signal_type}.{f.name} must be a number")
            v = float(v)
        elif f.type == "bool":
            if not isinstance(v, bool):
                raise TypeError(f"{signal_type}.{f.name} must be a boolean")
        elif f.type == "str":
            if not isinstance(v, str):
                raise TypeError(f"{signal_type}.{f.name} must be a string")
        kwargs[f.name] = v
    return klass(**kwargs)


def fetch_signals(app: ApplicationData, *, now: dt.datetime) -> Signals:
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
    """Rebuild the signals of a stored decision exactly as it saw them (for replay)."""
    values: dict[str, Any] = {name: None for name in SIGNAL_TYPES}
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
