"""Golden hashes of `modeling.synthetic.generate` and the simulated providers.

The generator and the live simulators share code, the champion models are trained on this data and
many tests depend on exact values, so performance work on `modeling/synthetic.py` and
`decisioning/signals/simulated.py` must not change a single bit of their output. The hashes below
were computed with the scalar code as it was before it was optimised (commit d396127's versions of
both files). If one changes, the generator's output changed: that is a data change, not a
refactoring — regenerate the hashes only on purpose, and say so.

numpy picks its exp/log kernels by CPU, and its AVX-512 (x86-64-v4) kernels round a few results
differently from the AVX2 ones, so a machine with AVX-512 has its own golden hashes for the larger
samples (`GOLDEN_AVX512`, computed from the same, unchanged code on such a machine, 2026-12-04);
`NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL"` makes such a machine give the AVX2 ones.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from decimal import Decimal

import pytest

from decisioning.engine.types import (
    ApplicationData,
    EmploymentStatus,
    LoanPurpose,
    ResidentialStatus,
)
from decisioning.signals.simulated import (
    latent_quality,
    simulate_bureau,
    simulate_fraud,
    simulate_kyc,
    simulate_many,
    simulate_sanctions,
)
from modeling.synthetic import DriftSpec, generate

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)


def _canon(value: object) -> str:
    """A canonical text of a (nested) dataclass: field names and exact reprs of the leaves
    (floats by `repr`: the shortest string that reads back as the same double)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        inner = ",".join(
            f"{f.name}={_canon(getattr(value, f.name))}" for f in dataclasses.fields(value)
        )
        return f"{type(value).__name__}({inner})"
    if (
        isinstance(value, bool | int | float | Decimal | str | dt.date | dt.datetime)
        or value is None
    ):
        return f"{type(value).__name__}:{value!r}"
    if isinstance(value, tuple | list):
        return f"{type(value).__name__}[{','.join(_canon(v) for v in value)}]"
    if isinstance(value, frozenset | set):
        return f"{type(value).__name__}{{{','.join(sorted(_canon(v) for v in value))}}}"
    raise TypeError(f"no canonical form for {type(value)}")


def _digest(cases: list) -> str:
    h = hashlib.sha256()
    for c in cases:
        h.update(_canon(c).encode())
        h.update(b"\n")
    return h.hexdigest()


GOLDEN = {
    # (n, seed, drift) -> sha256 of the canonical dump of every case (app, signals, true_pd, defaulted)
    (1, 0, None): "6ae113c7d54f5bbec70a01d072b48c97307338dfe52df1e7251b77ea2747634c",
    (7, 1, None): "4be209fbdb620783d866aef927cd2ae453cfe6482638b6bc4167479322cb3203",
    (500, 42, None): "6d71212d63263d53ed4054889912f0fd16f3d56d39e9b3d16a66fd763766b387",
    (2000, 12345, None): "52511c761fff1962496a473218b6c1aac7cc13eb10b95bbc119acfce913ca0e3",
    (5000, 7, None): "9f9227035b2f1d28f30c49519cde6b972f951d324918977e2c6207ff1a509c3e",
    (800, 3, "drift"): "6e1718614a349c7810cc8857bae7e3272d58341726d8fb1a112783066449a225",
}

# Where numpy's AVX-512 (x86-64-v4) kernels are in use: the samples big enough to meet a value
# that those kernels round differently.
GOLDEN_AVX512 = {
    (500, 42, None): "3d67ddc8fe91c651b6a2b61889a1897fbc9018aec86c3df8128a980280dbcf51",
    (2000, 12345, None): "be89e9a02e305a5666455eeea7c046ba508c9812f411e7167085f14c8c489070",
    (5000, 7, None): "bcb319b65ad1342f4620a85c280ac0ae8f48039b985ea9da78f53bb8e6c4e23c",
    (800, 3, "drift"): "1b46e4723a63af7d0c684279e3f644b113c89e45df6ca0c3f1702210c86df19b",
}


def _golden(key: tuple[int, int, str | None]) -> str:
    from numpy._core._multiarray_umath import __cpu_features__

    if __cpu_features__.get("AVX512_SKX"):
        return GOLDEN_AVX512.get(key, GOLDEN[key])
    return GOLDEN[key]


DRIFT = DriftSpec(income_multiplier=0.85, bureau_score_shift=-30.0, other_purpose_share=0.2)


@pytest.mark.parametrize(("n", "seed", "drift"), list(GOLDEN))
def test_generate_is_bit_identical_to_the_golden_output(
    n: int, seed: int, drift: str | None
) -> None:
    cases = generate(n, seed=seed, start=START, end=END, drift=DRIFT if drift else None)
    assert len(cases) == n
    assert _digest(cases) == _golden((n, seed, drift))


def _edge_apps() -> list[ApplicationData]:
    """Applications the generator rarely or never produces: the live providers see them too."""
    base = {
        "first_name": " Zoë ",
        "last_name": "O'Brien-Smith",
        "date_of_birth": dt.date(2005, 12, 31),
        "postcode": "sw1a 1aa",
        "uk_resident": True,
        "residential_status": ResidentialStatus.RENT,
        "months_at_address": 0,
        "employment_status": EmploymentStatus.EMPLOYED,
        "months_in_employment": 3,
        "annual_income": Decimal("25000.50"),
        "monthly_expenditure": Decimal("900"),
        "existing_debt": Decimal("0"),
        "monthly_debt_payments": Decimal("0"),
        "dependants": 0,
        "requested_amount": Decimal("5000"),
        "term_months": 36,
        "purpose": LoanPurpose.DEBT_CONSOLIDATION,
        "bankrupt_or_iva": False,
    }
    variants = [
        {},
        {"uk_resident": False, "months_at_address": 2},
        {"existing_debt": Decimal("12345.67"), "purpose": LoanPurpose.CAR, "months_at_address": 5},
        {
            "date_of_birth": dt.date(1950, 2, 28),
            "postcode": "EC1A1BB",
            "existing_debt": Decimal("-1"),
        },
        {"first_name": "ALICE", "last_name": "smith", "date_of_birth": dt.date(2004, 12, 31)},
    ]
    apps = []
    for i, v in enumerate(variants):
        for j in range(40):  # different identities -> different draws, incl. the rare branches
            apps.append(
                ApplicationData(
                    **{
                        **base,
                        **v,
                        "first_name": f"{v.get('first_name', base['first_name'])}{i}-{j}",
                    }
                )
            )
    return apps


SIMULATORS_GOLDEN = "e53503120e9994a3007e541911833a3c02f0798eafdb2a611ed7c7673f2d655b"


def test_live_simulators_are_bit_identical_to_the_golden_output() -> None:
    h = hashlib.sha256()
    for app in _edge_apps():
        for signal in (
            simulate_bureau(app),
            simulate_kyc(app),
            simulate_sanctions(app),
            simulate_fraud(app),
        ):
            h.update(_canon(signal).encode())
        h.update(repr(latent_quality(app.identity_key())).encode())
    assert h.hexdigest() == SIMULATORS_GOLDEN


def test_simulate_many_equals_the_scalar_providers_row_for_row() -> None:
    apps = _edge_apps() + [c.app for c in generate(3000, seed=11, start=START, end=END)]
    bureau, kyc, sanctions, fraud = simulate_many(apps)
    for app, b, k, s, f in zip(apps, bureau, kyc, sanctions, fraud, strict=True):
        assert _canon(b) == _canon(simulate_bureau(app))
        assert _canon(k) == _canon(simulate_kyc(app))
        assert _canon(s) == _canon(simulate_sanctions(app))
        assert _canon(f) == _canon(simulate_fraud(app))
    assert simulate_many([]) == ([], [], [], [])


def test_poisson_column_equals_the_scalar_loop_at_the_edges() -> None:
    import numpy as np

    from decisioning.signals.simulated import _poisson, _poisson_column

    rng = np.random.default_rng(0)
    u = np.concatenate([rng.random(2000), [1e-300, 0.5, 1 - 1e-16]])
    rate = np.concatenate([rng.exponential(3.0, 2000), [0.0, 40.0, 1e-9]])
    for cap in (0, 1, 5, 12):
        got = _poisson_column(u, rate, cap).tolist()
        assert got == [_poisson(a, r, cap) for a, r in zip(u.tolist(), rate.tolist(), strict=True)]
