"""The configured providers of this process, built once from `settings.SIGNAL_PROVIDERS`.

Configuration errors fail loudly (ImproperlyConfigured) the first time the registry is built:
at the first decision, or before deploying with `python -m decisioning.signals.check`. The
worker pool and the circuit breakers belong to the registry: one per process, not per decision.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

from decisioning.signals.breaker import CircuitBreaker
from decisioning.signals.convert import SIGNAL_TYPES
from decisioning.signals.providers import (
    IDENTITY_FIELDS,
    REQUEST_FIELDS,
    HttpJsonProvider,
    RetryPolicy,
    SignalProvider,
    SimulatedProvider,
)
from decisioning.signals.schema import ResponseSchema, SchemaConfigError

_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `max_pulls` provider calls per applicant in a window that starts at the first."""

    max_pulls: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class ProviderPolicy:
    provider: SignalProvider
    required: bool
    cache_ttl_seconds: int  # 0: never cached
    rate_limit: RateLimit | None


@dataclass(slots=True)
class Registry:
    providers: dict[str, ProviderPolicy]  # by signal type, in SIGNAL_TYPES order
    executor: ThreadPoolExecutor | None  # None when every provider runs inline
    max_workers: int
    cache_breaker: CircuitBreaker

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)


def _fail(where: str, message: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"SIGNAL_PROVIDERS: {where}: {message}")


def _int(config: Mapping[str, Any], key: str, default: int, where: str, *, minimum: int = 0) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(where, f"{key} must be an integer ≥ {minimum}, got {value!r}")
    return value


def _number(config: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise _fail(where, f"{key} must be a positive number, got {value!r}")
    return float(value)


_COMMON_KEYS = {"kind", "name", "version", "required", "cache_ttl_seconds", "rate_limit"}
_SIMULATED_KEYS = _COMMON_KEYS | {"delay_ms"}
_HTTP_KEYS = _COMMON_KEYS | {
    "url",
    "timeout_ms",
    "retries",
    "backoff_ms",
    "backoff_max_ms",
    "circuit",
    "auth",
    "request_fields",
    "schema",
}


def _provider(signal_type: str, config: Any) -> ProviderPolicy:
    where = f"providers.{signal_type}"
    if not isinstance(config, Mapping):
        raise _fail(where, "must be an object")
    kind = config.get("kind")
    allowed = {"simulated": _SIMULATED_KEYS, "http": _HTTP_KEYS}.get(kind)  # type: ignore[arg-type]
    if allowed is None:
        raise _fail(where, f"kind must be 'simulated' or 'http', got {kind!r}")
    unknown = set(config) - allowed
    if unknown:
        raise _fail(where, f"unknown key(s) {', '.join(sorted(unknown))} for kind {kind!r}")
    required = config.get("required", True)
    if not isinstance(required, bool):
        raise _fail(where, "required must be true or false")
    if not required:
        # The decision core counts every absent signal as missing (refer); proceeding without an
        # optional one needs `Signals` to know which are optional. Refuse rather than mislead.
        raise _fail(
            where,
            "required: false is not supported yet — the decision core refers on any "
            "missing signal (see docs/signals.md, 'Failure policy')",
        )
    ttl = _int(config, "cache_ttl_seconds", 0, where)
    rate_limit = None
    if config.get("rate_limit") is not None:
        rl = config["rate_limit"]
        if not isinstance(rl, Mapping) or set(rl) - {"max_pulls", "window_seconds"}:
            raise _fail(where, "rate_limit must be {max_pulls, window_seconds}")
        rate_limit = RateLimit(
            max_pulls=_int(rl, "max_pulls", 3, where + ".rate_limit", minimum=1),
            window_seconds=_int(rl, "window_seconds", 86400, where + ".rate_limit", minimum=1),
        )
    provider: SignalProvider
    if kind == "simulated":
        provider = SimulatedProvider(
            signal_type,
            name=str(config.get("name", "")),
            delay_ms=_int(config, "delay_ms", 0, where),
        )
    else:
        provider = _http_provider(signal_type, config, where)
    return ProviderPolicy(
        provider=provider, required=required, cache_ttl_seconds=ttl, rate_limit=rate_limit
    )


def _http_provider(signal_type: str, config: Mapping[str, Any], where: str) -> HttpJsonProvider:
    for key in ("name", "version", "url"):
        if not isinstance(config.get(key), str) or not config[key]:
            raise _fail(where, f"{key} is required for an http provider")
    url = urlsplit(config["url"])
    if url.scheme not in ("http", "https") or not url.hostname:
        raise _fail(where, f"url must be an http(s) URL, got {config['url']!r}")
    if url.scheme == "http" and url.hostname not in _LOOPBACK:
        raise _fail(where, "url must use https (plain http only to a loopback stub)")
    if url.username or url.password:
        raise _fail(where, "url must not carry credentials: use auth.env")
    auth = config.get("auth") or {}
    if not isinstance(auth, Mapping) or set(auth) - {"header", "env", "scheme"}:
        raise _fail(
            where,
            "auth must be {header, env, scheme}; the secret itself never goes in configuration",
        )
    auth_value = ""
    if auth:
        if not auth.get("env") or not isinstance(auth["env"], str):
            raise _fail(where, "auth.env names the environment variable holding the credential")
        auth_value = os.environ.get(auth["env"], "")
        if not auth_value:
            raise _fail(
                where, f"environment variable {auth['env']} (the provider credential) is not set"
            )
    fields = config.get("request_fields", list(IDENTITY_FIELDS))
    if not isinstance(fields, list) or not fields or any(f not in REQUEST_FIELDS for f in fields):
        raise _fail(
            where, f"request_fields must be a non-empty list drawn from {', '.join(REQUEST_FIELDS)}"
        )
    circuit = config.get("circuit") or {}
    if not isinstance(circuit, Mapping) or set(circuit) - {"failure_threshold", "cooldown_seconds"}:
        raise _fail(where, "circuit must be {failure_threshold, cooldown_seconds}")
    try:
        schema = ResponseSchema.from_config(signal_type, config.get("schema"))  # type: ignore[arg-type]
    except SchemaConfigError as e:
        raise _fail(where, str(e)) from None
    return HttpJsonProvider(
        signal_type=signal_type,
        name=config["name"],
        version=config["version"],
        url=config["url"],
        schema=schema,
        timeout_ms=_int(config, "timeout_ms", 300, where, minimum=1),
        retry=RetryPolicy(
            retries=_int(config, "retries", 1, where),
            backoff_ms=_int(config, "backoff_ms", 50, where),
            backoff_max_ms=_int(config, "backoff_max_ms", 200, where),
        ),
        breaker=CircuitBreaker(
            failure_threshold=_int(circuit, "failure_threshold", 5, where + ".circuit", minimum=1),
            cooldown_seconds=_number(circuit, "cooldown_seconds", 30.0, where + ".circuit"),
        ),
        request_fields=tuple(fields),
        auth_header=str(auth.get("header", "Authorization")) if auth else "",
        auth_env=str(auth.get("env", "")),
        auth_scheme=str(auth.get("scheme", "Bearer")) if auth else "",
        auth_value=auth_value,
    )


DEFAULT_CONFIG: dict[str, Any] = {
    "providers": {name: {"kind": "simulated"} for name in SIGNAL_TYPES},
}


def build(config: Mapping[str, Any] | None) -> Registry:
    """A registry from a configuration (empty or None: the four simulators, uncached)."""
    config = config or DEFAULT_CONFIG
    if not isinstance(config, Mapping):
        raise _fail("top level", "must be an object")
    unknown = set(config) - {"providers", "max_workers", "cache_retry_seconds"}
    if unknown:
        raise _fail("top level", f"unknown key(s) {', '.join(sorted(unknown))}")
    declared = config.get("providers")
    if not isinstance(declared, Mapping) or set(declared) != set(SIGNAL_TYPES):
        # Every signal must be configured explicitly: a forgotten one must not fall back to a simulator.
        raise _fail("providers", f"must configure exactly {', '.join(SIGNAL_TYPES)}")
    providers = {name: _provider(name, declared[name]) for name in SIGNAL_TYPES}
    pooled = sum(1 for p in providers.values() if not p.provider.inline)
    # Room for a few concurrent decisions per process (threaded workers) and for stragglers
    # still finishing their last attempt after their decision moved on.
    max_workers = _int(config, "max_workers", max(4, 4 * pooled), "top level", minimum=1)
    executor = (
        ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="signals")
        if pooled
        else None
    )
    return Registry(
        providers=providers,
        executor=executor,
        max_workers=max_workers,
        cache_breaker=CircuitBreaker(
            failure_threshold=1,
            cooldown_seconds=_number(config, "cache_retry_seconds", 5.0, "top level"),
        ),
    )


_lock = threading.Lock()
_current: Registry | None = None


def registry() -> Registry:
    global _current
    current = _current
    if current is not None:
        return current
    with _lock:
        if _current is None:
            _current = build(getattr(settings, "SIGNAL_PROVIDERS", None))
        return _current


def reset() -> None:
    """Forget the registry (its breakers and pool); the next decision builds it afresh."""
    global _current
    with _lock:
        old, _current = _current, None
    if old is not None:
        old.close()


@receiver(setting_changed)
def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("SIGNAL_PROVIDERS", "CACHES"):
        reset()
