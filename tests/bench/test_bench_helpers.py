"""The bench's shared pieces (issue 11): the in-process timing loop and the floor's WSGI app."""

import gc
import io
import time
from collections.abc import Iterator

import pytest

from bench.http_floor_app import BODY, make_app
from bench.service import measure_calls


@pytest.fixture(autouse=True)
def _unfrozen_heap() -> Iterator[None]:
    """measure_calls freezes the heap, as a bench process should; the test process must not stay so."""
    yield
    gc.unfreeze()


def test_measure_calls_warms_then_times_back_to_back_and_paced() -> None:
    calls: list[float] = []

    def call() -> None:
        calls.append(time.perf_counter())

    out = measure_calls(call, back_to_back=7, paced_seconds=0.05, warm=3)
    assert gc.get_freeze_count() > 0  # the warm-up's heap, frozen as the web workers freeze theirs
    assert len(calls) == 3 + 7 + 5
    assert out["back_to_back"]["n"] == 7
    paced = out["paced_100_per_s"]
    assert paced is not None and paced["n"] == 5 and paced["seconds"] == 0.05
    # paced calls start at their scheduled times, 10 ms apart
    gaps = [b - a for a, b in zip(calls[-5:], calls[-4:], strict=False)]
    assert min(gaps) >= 0.009
    for mode in (out["back_to_back"], paced):
        assert set(mode) >= {"p50", "p95", "p99", "max", "cpu_ms"}
        assert 0 <= mode["p50"] <= mode["max"]


def test_measure_calls_without_a_paced_phase() -> None:
    out = measure_calls(lambda: None, back_to_back=3, warm=0)
    assert out["paced_100_per_s"] is None
    assert out["back_to_back"]["n"] == 3


def _call(app, path: str, body: bytes = b"") -> tuple[str, bytes]:  # type: ignore[no-untyped-def]
    started: list[str] = []
    environ = {"PATH_INFO": path, "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    out = b"".join(app(environ, lambda status, headers: started.append(status)))
    return started[0], out


def test_the_floor_app_does_its_work_once_per_request_and_answers_like_a_decision() -> None:
    done: list[int] = []
    app = make_app(lambda: done.append(1))
    assert _call(app, "/healthz") == ("200 OK", b"ok")
    assert done == []  # the health check does no work
    status, body = _call(app, "/api/v1/decisions", b'{"product": "personal-loan"}')
    assert (status, body, done) == ("201 Created", BODY, [1])
    assert _call(make_app(), "/api/v1/decisions", b"{}") == ("201 Created", BODY)
