"""Signal providers: one `fetch(app, *, deadline)` per signal type, simulated or over HTTP.

A provider answers one signal type for one application before `deadline` (a `time.monotonic()`
value) or raises `ProviderError`. It knows nothing of caching, rate limits or the decision: the
gateway does those, so every provider gets them alike.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests
from requests.adapters import HTTPAdapter

from decisioning.engine.types import ApplicationData
from decisioning.signals import simulated
from decisioning.signals.breaker import CircuitBreaker, CircuitOpen
from decisioning.signals.schema import MalformedResponse, ResponseSchema

logger = logging.getLogger("verdict.signals")

# The application fields a provider may be sent. Identity fields by default: a bureau, KYC or
# sanctions service needs who the person is, not what they asked to borrow.
IDENTITY_FIELDS = ("first_name", "last_name", "date_of_birth", "postcode")
REQUEST_FIELDS = (
    *IDENTITY_FIELDS,
    "uk_resident",
    "residential_status",
    "months_at_address",
    "employment_status",
    "months_in_employment",
    "annual_income",
    "existing_debt",
    "requested_amount",
    "term_months",
    "purpose",
)

# Never start an attempt (or a retry) with less time than this left: it could not succeed.
MIN_ATTEMPT_SECONDS = 0.02


class ProviderError(Exception):
    """The provider gave no usable answer. `kind` is one of: timeout, unavailable, http_error,
    auth, malformed, circuit_open, rate_limited, error."""

    def __init__(self, kind: str, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = kind in ("timeout", "unavailable") if retryable is None else retryable

    def __str__(self) -> str:
        return f"{self.kind}: {self.args[0]}"


@dataclass(frozen=True, slots=True)
class Answer:
    """A provider's usable answer: the typed signal and what else it asked to keep as evidence."""

    signal: Any
    evidence: Mapping[str, Any] = field(default_factory=dict)


class SignalProvider(Protocol):
    name: str
    version: str
    signal_type: str
    # Cheap and in-process: the gateway runs it in the calling thread instead of the pool.
    inline: bool
    # The application fields this provider's answer depends on (its cache key covers them).
    request_fields: tuple[str, ...]

    def fetch(self, app: ApplicationData, *, deadline: float) -> Answer: ...


def request_payload(app: ApplicationData, fields: Sequence[str]) -> dict[str, Any]:
    """What a provider is sent (and what its cache key is derived from): JSON-ready values."""
    out: dict[str, Any] = {}
    for name in fields:
        value = getattr(app, name)
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        elif hasattr(value, "value"):  # enums
            value = value.value
        elif not isinstance(value, bool | int | float | str):
            value = str(value)  # Decimal
        out[name] = value
    return out


# ---- simulated ---------------------------------------------------------------------------------

_SIMULATORS: dict[str, tuple[Callable[[ApplicationData], Any], tuple[str, ...]]] = {
    # What each simulator reads (see `simulated`): its cache key must cover exactly that.
    "bureau": (simulated.simulate_bureau, (*IDENTITY_FIELDS, "existing_debt", "purpose")),
    "kyc": (simulated.simulate_kyc, (*IDENTITY_FIELDS, "months_at_address", "uk_resident")),
    "sanctions": (simulated.simulate_sanctions, IDENTITY_FIELDS),
    "fraud": (simulated.simulate_fraud, (*IDENTITY_FIELDS, "months_at_address", "uk_resident")),
}


class SimulatedProvider:
    """The deterministic simulator for one signal type; `delay_ms` makes it slow, for demos."""

    def __init__(self, signal_type: str, *, name: str = "", delay_ms: int = 0) -> None:
        self.signal_type = signal_type
        self.name = name or f"sim-{signal_type}"
        self.version = simulated.PROVIDER_VERSION
        self.delay_ms = delay_ms
        self.inline = delay_ms == 0
        self._simulate, self.request_fields = _SIMULATORS[signal_type]

    def fetch(self, app: ApplicationData, *, deadline: float) -> Answer:
        if self.delay_ms:
            remaining = deadline - time.monotonic()
            time.sleep(max(0.0, min(self.delay_ms / 1000, remaining)))
            if self.delay_ms / 1000 > remaining:
                raise ProviderError(
                    "timeout", f"simulated delay {self.delay_ms} ms exceeds the time left"
                )
        return Answer(self._simulate(app))


# ---- HTTP JSON ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries with exponential backoff and full jitter, never past the deadline."""

    retries: int = 1
    backoff_ms: int = 50
    backoff_max_ms: int = 200

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1-based): uniform in [0, cap]."""
        cap = min(self.backoff_max_ms, self.backoff_ms * 2 ** (attempt - 1)) / 1000
        return random.uniform(0, cap)


_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class HttpJsonProvider:
    """POSTs the request fields as JSON to `url` and maps the JSON answer through `schema`.

    Per attempt the timeout is the configured one or the time left, whichever is shorter.
    Connection errors, timeouts, 429 and 5xx are retried (budget permitting); 4xx, 401/403 and
    malformed answers are not — the same request would get the same answer. One `fetch` counts
    once towards the circuit breaker, however many attempts it made.
    """

    def __init__(
        self,
        *,
        signal_type: str,
        name: str,
        version: str,
        url: str,
        schema: ResponseSchema,
        timeout_ms: int,
        retry: RetryPolicy,
        breaker: CircuitBreaker,
        request_fields: tuple[str, ...] = IDENTITY_FIELDS,
        auth_header: str = "",
        auth_env: str = "",
        auth_scheme: str = "",
        auth_value: str = "",
    ) -> None:
        self.signal_type = signal_type
        self.name = name
        self.version = version
        self.url = url
        self.schema = schema
        self.timeout_ms = timeout_ms
        self.retry = retry
        self.breaker = breaker
        self.request_fields = request_fields
        self.inline = False
        self._headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if auth_header:
            # The secret comes from the environment when the registry is built; it is never logged.
            self._headers[auth_header] = f"{auth_scheme} {auth_value}".strip()
        self.auth_env = auth_env
        self._local = threading.local()

    def _session(self) -> requests.Session:
        # One keep-alive session per worker thread: `requests.Session` is not documented as
        # thread-safe, and a per-thread session keeps connection reuse without sharing one.
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=2, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.trust_env = False  # no proxies or .netrc credentials picked up from the host
            self._local.session = session
        return session

    def fetch(self, app: ApplicationData, *, deadline: float) -> Answer:
        try:
            self.breaker.before_call()
        except CircuitOpen as e:
            raise ProviderError("circuit_open", str(e)) from None
        try:
            answer = self._fetch_with_retries(app, deadline=deadline)
        except ProviderError:
            self.breaker.failure()
            raise
        except Exception as e:  # a bug must not leave a half-open probe in flight
            self.breaker.failure()
            raise ProviderError("error", f"{type(e).__name__}: {e}") from e
        self.breaker.success()
        return answer

    def _fetch_with_retries(self, app: ApplicationData, *, deadline: float) -> Answer:
        body = json.dumps(request_payload(app, self.request_fields), separators=(",", ":"))
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - time.monotonic()
            if remaining < MIN_ATTEMPT_SECONDS:
                raise ProviderError("timeout", "no time left in the signal budget")
            try:
                return self._attempt(body, timeout=min(self.timeout_ms / 1000, remaining))
            except ProviderError as e:
                if not e.retryable or attempt > self.retry.retries:
                    if attempt > 1:
                        e.args = (f"{e.args[0]} (after {attempt} attempts)",)
                    raise
                pause = self.retry.delay(attempt)
                if time.monotonic() + pause + MIN_ATTEMPT_SECONDS > deadline:
                    e.args = (
                        f"{e.args[0]} (no time left to retry after {attempt} attempt{'s' if attempt > 1 else ''})",
                    )
                    raise
                logger.info(
                    "signal provider %s attempt %d failed (%s); retrying in %.0f ms",
                    self.name,
                    attempt,
                    e,
                    pause * 1000,
                )
                time.sleep(pause)

    def _attempt(self, body: str, *, timeout: float) -> Answer:
        try:
            response = self._session().post(
                self.url, data=body, headers=self._headers, timeout=timeout
            )
        except requests.Timeout:
            raise ProviderError("timeout", f"no answer within {timeout * 1000:.0f} ms") from None
        except requests.RequestException as e:
            raise ProviderError("unavailable", f"{type(e).__name__}") from None
        status = response.status_code
        if status in (401, 403):
            raise ProviderError(
                "auth", f"HTTP {status}: credentials refused (check {self.auth_env or 'auth'})"
            )
        if status != 200:
            raise ProviderError(
                "http_error", f"HTTP {status}", retryable=status in _RETRYABLE_STATUS
            )
        raw = response.content
        try:
            document = json.loads(raw)
        except ValueError:
            raise ProviderError("malformed", f"body is not JSON ({len(raw)} bytes)") from None
        try:
            signal, evidence = self.schema.parse(document)
        except MalformedResponse as e:
            raise ProviderError("malformed", str(e)) from None
        return Answer(signal, {**evidence, "body_sha256": hashlib.sha256(raw).hexdigest()})
