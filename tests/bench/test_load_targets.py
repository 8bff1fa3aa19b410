"""The load bench's verdicts (issue 11): which floor each check divides by, and when a check is made."""

from bench.load import cost_ratios, floor_report, targets


def _floor(b2b: float, paced: float | None, cpu: float = 0.3) -> dict:
    """What `bench.floor.measure` (bench.service.measure_calls) returns."""
    return {
        "back_to_back": {"n": 500, "p50": b2b, "p95": b2b * 1.2, "p99": b2b * 1.5, "max": b2b * 3, "cpu_ms": cpu},
        "paced_100_per_s": {"seconds": 10.0, "n": 1000, "p50": paced, "p95": paced * 1.2, "p99": paced * 1.5,
                            "max": paced * 3, "cpu_ms": cpu * 2} if paced is not None else None,
    }


def _rate(rate: float, p50: float, *, p95: float = 7.0, p99: float = 9.0, errors: int = 0,
          achieved: float | None = None) -> dict:
    return {"rate": rate, "throughput_rps": rate if achieved is None else achieved, "errors": errors,
            "latency_ms": {"p50": p50, "p95": p95, "p99": p99, "max": p99 * 2}}


def _served(p50: float) -> dict:
    return {"rate": 100.0, "duration_s": 10.0, "errors": 0, "server_cpu_ms_per_request": 0.6,
            "latency_ms": {"p50": p50, "p95": p50 * 1.4, "p99": p50 * 1.8, "max": p50 * 4}}


INPROCESS = {"back_to_back": {"p50": 2.5, "p95": 4.0, "cpu_ms": 2.0},
             "paced_100_per_s": {"p50": 4.5, "p95": 6.5, "cpu_ms": 3.5}}


def test_each_floor_is_the_faster_of_before_and_after_the_load():
    floor = floor_report(_floor(0.8, 1.5, cpu=0.4), _floor(0.7, 1.9, cpu=0.3))
    assert floor["back_to_back"] == {"p50": 0.7, "cpu_ms": 0.3}
    assert floor["paced_100_per_s"] == {"p50": 1.5, "cpu_ms": 0.6}


def test_each_served_floor_is_the_faster_of_before_and_after_the_load():
    floor = floor_report(_floor(0.7, 1.0), _floor(0.7, 1.1), [_served(1.5), _served(1.4)])
    assert floor["served_100_per_s"]["p50"] == 1.4
    assert len(floor["served"]) == 2


def test_cost_check_compares_the_served_decision_with_the_served_floor():
    floor = floor_report(_floor(0.7, 1.0), _floor(0.7, 1.1), [_served(1.5), _served(1.45)])
    # 4.3 ms at 100/s: within 3x the served floor (4.35), though 4.3x the in-process floor at 100/s
    # and 6.1x the back-to-back floor
    assert targets([_rate(100.0, 4.3)], floor)["cost_within_3x_floor"] is True
    assert targets([_rate(100.0, 4.4)], floor)["cost_within_3x_floor"] is False
    ratios = cost_ratios(_rate(100.0, 4.35), floor, INPROCESS)
    assert ratios["http_at_100_per_s_vs_floor_served_at_100_per_s"] == 3.0
    assert ratios["http_at_100_per_s_vs_floor_at_100_per_s"] == round(4.35 / 1.0, 2)
    assert ratios["http_at_100_per_s_vs_floor_back_to_back"] == round(4.35 / 0.7, 2)
    assert ratios["inprocess_back_to_back_vs_floor_back_to_back"] == round(2.5 / 0.7, 2)
    assert ratios["inprocess_at_100_per_s_vs_floor_at_100_per_s"] == 4.5
    assert ratios["inprocess_cpu_back_to_back_vs_floor_cpu"] == round(2.0 / 0.3, 2)


def test_no_cost_verdict_without_a_served_floor():
    # an in-process floor alone compares a served decision with an unserved floor: reported, not judged
    floor = floor_report(_floor(0.7, 1.0), _floor(0.7, 1.1))
    assert floor["served_100_per_s"] is None
    assert "cost_within_3x_floor" not in targets([_rate(100.0, 1.0)], floor)
    assert "http_at_100_per_s_vs_floor_served_at_100_per_s" not in cost_ratios(_rate(100.0, 3.0), floor, INPROCESS)
    assert cost_ratios(_rate(100.0, 3.0), floor, INPROCESS)["http_at_100_per_s_vs_floor_at_100_per_s"] == 3.0


def test_no_cost_verdict_in_the_smoke():
    # the CI smoke measures no paced or served floor (nor 100/s): it reports, and judges errors only
    floor = floor_report(_floor(0.7, None), _floor(0.8, None))
    assert floor["paced_100_per_s"] is None
    assert "cost_within_3x_floor" not in targets([_rate(100.0, 1.0)], floor)
    assert targets([_rate(20.0, 5.0)], floor) == {}
    assert "http_at_100_per_s_vs_floor_at_100_per_s" not in cost_ratios(_rate(100.0, 4.5), floor, INPROCESS)


def test_latency_targets_at_100_per_s_and_sustained_300():
    floor = floor_report(_floor(0.7, 1.5), _floor(0.7, 1.5), [_served(1.5)])
    ok = targets([_rate(100.0, 4.0, p95=25.0, p99=50.0), _rate(300.0, 4.0, p99=200.0, achieved=299.0)], floor)
    assert ok == {"p95_le_25ms_at_100rps": True, "p99_le_50ms_at_100rps": True, "zero_errors_at_100rps": True,
                  "cost_within_3x_floor": True, "ge_300_per_s_with_p99_le_200ms": True}
    bad = targets([_rate(100.0, 4.0, p95=25.1, p99=50.1, errors=1),
                   _rate(300.0, 4.0, achieved=290.0), _rate(400.0, 4.0, p99=201.0)], floor)
    assert bad["p95_le_25ms_at_100rps"] is False
    assert bad["p99_le_50ms_at_100rps"] is False
    assert bad["zero_errors_at_100rps"] is False
    # 300/s fell behind (290 answered per second) and 400/s had P99 over 200 ms: not sustained
    assert bad["ge_300_per_s_with_p99_le_200ms"] is False
