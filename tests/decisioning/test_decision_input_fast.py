"""The decision request's fast path (issue 11) accepts exactly what DRF's DecisionCreateIn accepts
and validates it to the same data — or steps aside: on thousands of valid and mutated requests,
whenever the fast path answers, DRF accepts the request and its validated data is identical."""

from __future__ import annotations

import copy
import datetime as dt
import random
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.exceptions import ValidationError

from decisioning.apis import DecisionCreateIn, decision_input_fast
from decisioning.payloads import request_body
from modeling.synthetic import generate


def _bodies(n: int) -> list[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC)
    cases = generate(n, seed=31, start=now - dt.timedelta(days=30), end=now)
    return [request_body(c.app, product="personal-loan", reference=f"F-{i}") for i, c in enumerate(cases)]


def _plain(value: Any) -> Any:
    """Comparable form: containers as plain dicts, leaves with their type (Decimal('5.0') and
    Decimal('5.00') differ)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return (type(value).__name__, str(value))


REPLACEMENTS: list[Any] = [
    "", " ", None, True, False, 0, 1, -1, 12, 1200, 1201, 10**9, 1.0, 1.5, "1", "12", "12.0", "1e3", "NaN",
    "Infinity", "-5", "+5", ".5", "5.", "0", "0.5", "0.005", "1,000", "12.345", "10000000", "10000000.00",
    "10000000.01", "9999999.99", "9999999999.99", "99999999999", "52000.00", " 52000.00", "52000.00 ",
    "true", "false", "yes", "x" * 101, "x" * 65, "Zoë", "O'Brien", " Ann", "Ann ", "\x00Ann", "\ud800",
    "1985-04-12", "1985-4-12", "19850412", "1985-02-30", "2999-01-01", "1800-01-01", "1985-04-12T00:00:00",
    "LS1 4AP", "ls1 4ap", "LS14AP", "LS1  4AP", "SW1A 1AA", "ZZZ", " LS1 4AP", "LS1 4AP\n", "EC1A1BB",
    "mortgage", "MORTGAGE", "rent", "employed", "self_employed", "car", "yacht", "personal-loan",
    "personal loan", "p" * 41, [], {}, ["x"], {"v": 1},
]


def _mutate(body: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    b = copy.deepcopy(body)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        where = rng.choice(("top", "applicant", "applicant", "applicant", "loan"))
        target = b if where == "top" else b.get(where)
        if not isinstance(target, dict):
            continue
        op = rng.random()
        if op < 0.7 and target:
            target[rng.choice(sorted(target))] = rng.choice(REPLACEMENTS)
        elif op < 0.85 and target:
            del target[rng.choice(sorted(target))]
        else:
            target[rng.choice(("extra", "amount", "first_name", "reference", "applicant"))] = rng.choice(REPLACEMENTS)
    return b


def _drf(body: Any) -> Any:
    try:
        return DecisionCreateIn.validated(copy.deepcopy(body))
    except ValidationError:
        return None


def test_every_canonical_valid_request_takes_the_fast_path_with_drfs_result() -> None:
    for body in _bodies(300):
        fast = decision_input_fast(body)
        assert fast is not None, body
        assert _plain(fast) == _plain(_drf(body))


@pytest.mark.parametrize("seed", range(4))
def test_on_mutated_requests_the_fast_path_answers_only_as_drf_would(seed: int) -> None:
    rng = random.Random(seed)
    bodies = _bodies(60)
    answered = refused = coerced = 0
    for i in range(1500):
        body = _mutate(bodies[i % len(bodies)], rng)
        fast, drf = decision_input_fast(body), _drf(body)
        if fast is not None:
            assert drf is not None, body  # never accepts what DRF refuses
            assert _plain(fast) == _plain(drf), body
            answered += 1
        elif drf is None:
            refused += 1
        else:
            coerced += 1  # valid, not canonical: DRF's path
    # The mutations reach all three kinds, so the comparison above is not vacuous.
    assert answered > 50 and refused > 500 and coerced > 20, (answered, refused, coerced)


def test_non_objects_and_missing_parts_step_aside() -> None:
    body = _bodies(1)[0]
    for value in (None, [], "x", 1, {**body, "applicant": []}, {k: v for k, v in body.items() if k != "loan"}):
        assert decision_input_fast(value) is None
    no_flag = copy.deepcopy(body)
    no_flag["applicant"].pop("bankrupt_or_iva", None)
    no_reference = {k: v for k, v in body.items() if k != "reference"}
    for b in (no_flag, no_reference):  # defaults, as DRF fills them
        assert _plain(decision_input_fast(b)) == _plain(_drf(b))
    assert decision_input_fast(no_reference)["reference"] == ""  # type: ignore[index]
    assert decision_input_fast(body)["loan"]["amount"] == Decimal(body["loan"]["amount"])  # type: ignore[index]
