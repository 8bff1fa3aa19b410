"""No personal data in caches or task messages, checked with canary values.

Decisions are made through the API with a canary name, date of birth and postcode, with signal
caching on (as production configures it); then every key and value in the test Redis database,
and the arguments of every Celery task enqueued meanwhile, are searched for the canaries.
Logs are covered by tests/audit/test_redaction.py.

Redis-backed configuration only (REDIS_URL set): on the embedded default there is no Redis.
"""

from __future__ import annotations

import datetime as dt
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.conftest import application_body

pytestmark = pytest.mark.django_db
needs_redis = pytest.mark.skipif(
    not settings.REDIS_URL, reason="needs the Redis-backed configuration"
)

FIRST, LAST, POSTCODE = "Qanaryfirstname", "Qanarylastname", "QQ1 7QQ"
DOB = dt.date(1931, 7, 13)
CANARIES = [
    FIRST.encode(),
    LAST.encode(),
    POSTCODE.encode(),
    POSTCODE.replace(" ", "").encode(),
    DOB.isoformat().encode(),
    b"1931, 7, 13",  # a date inside a repr of an unpickled value
    bytes([DOB.year >> 8, DOB.year & 255, DOB.month, DOB.day]),  # a pickled date's state
]


def _redis() -> Any:
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)


def _readable(value: bytes) -> bytes:
    """A cached value as stored, plus its unpickled repr (a pickled date is not its ISO text)."""
    try:
        return value + repr(pickle.loads(value)).encode()
    except Exception:
        return value


def redis_contents() -> Iterator[tuple[bytes, bytes]]:
    client = _redis()
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == b"string":
            value = client.get(key) or b""
        elif kind == b"hash":
            value = b" ".join(k + b"=" + v for k, v in client.hgetall(key).items())
        elif kind == b"list":
            value = b" ".join(client.lrange(key, 0, -1))
        elif kind == b"set":
            value = b" ".join(client.smembers(key))
        elif kind == b"zset":
            value = b" ".join(client.zrange(key, 0, -1))
        else:
            value = b""
        yield key, _readable(value)


@pytest.fixture
def tasks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every Celery task enqueued (eager or not): its name and arguments, as they would be sent."""
    from celery import Celery
    from celery.app.task import Task

    sent: list[str] = []
    apply_async, send_task = Task.apply_async, Celery.send_task

    def record_apply(self: Any, args: Any = None, kwargs: Any = None, *a: Any, **kw: Any) -> Any:
        sent.append(f"{self.name} {args!r} {kwargs!r}")
        return apply_async(self, args, kwargs, *a, **kw)

    def record_send(
        self: Any, name: str, args: Any = None, kwargs: Any = None, *a: Any, **kw: Any
    ) -> Any:
        sent.append(f"{name} {args!r} {kwargs!r}")
        return send_task(self, name, args, kwargs, *a, **kw)

    monkeypatch.setattr(Task, "apply_async", record_apply)
    monkeypatch.setattr(Celery, "send_task", record_send)
    return sent


@pytest.fixture
def cached_signals(settings: Any) -> None:
    settings.SIGNAL_PROVIDERS = {
        "providers": {
            name: {"kind": "simulated", "cache_ttl_seconds": 3600}
            for name in ("bureau", "kyc", "sanctions", "fraud")
        }
    }


@needs_redis
def test_no_canary_reaches_redis_or_a_task(
    api: APIClient,
    product: Any,
    cached_signals: None,
    tasks: list[str],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    _redis().ping()
    outcomes = set()
    with django_capture_on_commit_callbacks(execute=True):
        for i, overrides in enumerate(
            [
                {},  # approve
                {"date_of_birth": "2012-01-01"},  # decline (under 18), this canary aside
                {  # risky: refer, into the review queue
                    "annual_income": "19000.00",
                    "existing_debt": "14000.00",
                    "monthly_debt_payments": "420.00",
                    "amount": "12000.00",
                    "term_months": 60,
                    "months_in_employment": 3,
                    "employment_status": "self_employed",
                },
            ]
        ):
            fields = {"first_name": FIRST, "last_name": LAST, "postcode": POSTCODE}
            fields |= {"date_of_birth": DOB.isoformat(), "reference": f"CANARY-{i}", **overrides}
            body = application_body(**fields)
            for _ in range(2):  # the second time from the signal cache
                r = api.post("/api/v1/decisions", body, format="json")
                assert r.status_code == 201, r.content
                outcomes.add(r.json()["outcome"])
        # A batch upload with the canaries in its CSV: the chunk tasks must carry ids only.
        import io

        from tests.decisioning.test_batch_runs import CSV

        upload = io.BytesIO(
            CSV.replace("Grace", FIRST)
            .replace("Patel", LAST)
            .replace("1985-04-12", DOB.isoformat())
            .encode()
        )
        upload.name = "canaries.csv"
        r = api.post(
            "/api/v1/batches",
            {"product": product.code, "source": "upload", "file": upload},
            format="multipart",
        )
        assert r.status_code == 202, r.content
    assert any(t.startswith("decisioning.batch_plan") for t in tasks), tasks
    contents = list(redis_contents())
    assert any(b"signals:" in key for key, _ in contents), "signal caching did not happen"
    leaks = [
        f"redis {key!r} holds {canary!r}"
        for key, value in contents
        for canary in CANARIES
        if canary in key or canary in value
    ]
    leaks += [
        f"task {t[:120]} carries {c!r}"
        for t in tasks
        for c in CANARIES
        if c.decode(errors="ignore") in t
    ]
    assert not leaks, "\n".join(leaks)


def test_every_task_takes_ids_not_payloads() -> None:
    """Task arguments travel through the broker: only ids and labels, never application data."""
    import inspect

    from config.celery import app

    allowed = {"self", "product_code", "version", "window"}
    for name, task in sorted(app.tasks.items()):
        if name.startswith("celery."):
            continue
        params = set(inspect.signature(task.run).parameters)
        odd = {p for p in params if p not in allowed and not p.endswith("_id")}
        assert not odd, f"{name} takes {sorted(odd)}: pass an id and load the row in the task"
