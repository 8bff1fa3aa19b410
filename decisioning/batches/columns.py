"""A chunk of applications as columns: the feature matrix and the rule context, built with numpy.

`modeling.features.build_matrix` calls the catalogue's twenty scalar functions per row (~15 µs a
row); here the same arithmetic runs on whole columns. It must give the *same bits* (the PD is
compared bit for bit with `decide`), so every function is mirrored operation for operation
(IEEE add/subtract/multiply/divide are the same in numpy and Python; Python's `max(0.0, x)` is
`x if x > 0.0 else 0.0`; the annuity's `(1 + r) ** -term` is computed by Python once per distinct
term). It implements feature version `fc-1` only: for any other catalogue version, and whenever
the chunk's first row does not equal `build_vector`'s (checked on every chunk), the engine uses
`build_matrix`. `tests/decisioning/test_rules_vectorised.py` compares whole matrices.

Framework-free: imports nothing from Django.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import numpy as np

from decisioning.engine.types import ApplicationData, Signals
from decisioning.rules.vectorised import SIGNAL_NAMES, Column
from modeling import features as fc

IMPLEMENTS = "fc-1"
NAN = math.nan


def _f(values: list[Any]) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def _max0(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0.0, x, 0.0)  # Python's max(0.0, x)


def _min_c(x: np.ndarray, c: float) -> np.ndarray:
    return np.where(c < x, c, x)  # Python's min(x, c)


def net_monthly_income(g0: np.ndarray) -> np.ndarray:
    """`modeling.features.net_monthly_income`, column-wise, in the same order of operations."""
    g = _max0(g0)
    allowance = _max0(12570.0 - _max0(g - 100000.0) / 2.0)
    taxable = _max0(g - allowance)
    basic = _min_c(taxable, 37700.0)
    higher = _min_c(_max0(taxable - 37700.0), 125140.0 - 37700.0)
    additional = _max0(taxable - 125140.0)
    tax = 0.20 * basic + 0.40 * higher + 0.45 * additional
    ni = 0.08 * _max0(_min_c(g, 50270.0) - 12570.0) + 0.02 * _max0(g - 50270.0)
    return (g - tax - ni) / 12.0


def annuity(amount: np.ndarray, term: np.ndarray) -> np.ndarray:
    """`modeling.features.annuity_payment` at the representative rate."""
    r = fc.MONTHLY_RATE
    terms, index = np.unique(term, return_inverse=True)
    if r == 0.0:
        return np.where(term <= 0, amount, amount / np.where(term <= 0, 1, term))
    denominators = np.array([1.0 - (1.0 + r) ** (-int(t)) if t > 0 else 1.0 for t in terms])
    out = amount * r / denominators[index]
    return np.where(term <= 0, amount, out)


@dataclass
class ChunkColumns:
    """The chunk's applications and signals as columns (what features and rules read)."""

    n: int
    raw: dict[str, np.ndarray]
    text: dict[str, np.ndarray]
    absent: dict[str, np.ndarray]  # signal name -> rows where it was not obtained
    signals: list[Signals]


_MONEY = (
    "annual_income",
    "monthly_expenditure",
    "existing_debt",
    "monthly_debt_payments",
    "requested_amount",
)
_COUNTS = ("months_at_address", "months_in_employment", "dependants")
_OTHER = (
    "term_months",
    "uk_resident",
    "bankrupt_or_iva",
    "date_of_birth",
    "employment_status",
    "residential_status",
    "purpose",
    "postcode",
)
# One pass over the objects with one attrgetter: a pass per attribute walks every object (and its
# Decimals) again, which costs 3-4x more on a busy machine (cache).
_app_fields = attrgetter(*_MONEY, *_COUNTS, *_OTHER)
# Not `total_unsecured_balance` (a Decimal, ~0.3 us a row to convert): no feature uses it, so it
# is converted only when a rule reads it (`rule_columns`).
_BUREAU = (
    "score",
    "ccj_count_6y",
    "defaults_count_6y",
    "arrears_count_12m",
    "searches_6m",
    "revolving_utilisation",
)


def _signal(objs: list[Any], names: Sequence[str]) -> tuple[list[np.ndarray], np.ndarray]:
    """Attributes of optional signal objects as floats (0 where absent), and the absent mask."""
    n = len(objs)
    absent = np.fromiter((o is None for o in objs), dtype=bool, count=n)
    present = [o for o in objs if o is not None]
    getter = attrgetter(*names)
    rows = np.array(list(map(getter, present)), dtype=np.float64).reshape(len(present), len(names))
    out = []
    for j in range(len(names)):
        got = rows[:, j]
        if len(present) == n:
            out.append(got)
        else:
            full = np.zeros(n)
            full[~absent] = got
            out.append(full)
    return out, absent


def extract(cases: Sequence[tuple[ApplicationData, Signals, dt.date]]) -> ChunkColumns:
    n = len(cases)
    apps = [c[0] for c in cases]
    sigs = [c[1] for c in cases]
    fields: list[tuple[Any, ...]] = (
        list(zip(*map(_app_fields, apps), strict=True)) if n else [()] * 16
    )
    raw: dict[str, np.ndarray] = {}
    # Money is Decimal: float(Decimal) is what `rule_context` and the features use.
    for j, name in enumerate(_MONEY):
        raw[name] = np.array(list(map(float, fields[j])), dtype=np.float64)
    for j, name in enumerate(_COUNTS, start=len(_MONEY)):
        raw[name] = np.array(fields[j], dtype=np.float64)
    term, uk, bankrupt, dob, employment, residential, purpose, postcode = fields[
        len(_MONEY) + len(_COUNTS) :
    ]
    raw["term_months"] = np.array(term, dtype=np.int64)
    raw["uk_resident"] = np.array(uk, dtype=bool)
    raw["bankrupt_or_iva"] = np.array(bankrupt, dtype=bool)
    born = np.array([(d.year, d.month, d.day) for d in dob], dtype=np.int64).reshape(n, 3)
    asof = np.array([(d.year, d.month, d.day) for _, _, d in cases], dtype=np.int64).reshape(n, 3)
    years = asof[:, 0] - born[:, 0]
    before = (asof[:, 1] < born[:, 1]) | ((asof[:, 1] == born[:, 1]) & (asof[:, 2] < born[:, 2]))
    raw["age"] = (years - before).astype(np.float64)
    text = {
        "employment_status": np.array([str(v) for v in employment], dtype=object),
        "residential_status": np.array([str(v) for v in residential], dtype=object),
        "purpose": np.array([str(v) for v in purpose], dtype=object),
        "postcode": np.array(postcode, dtype=object),
    }
    bureau = [s.bureau for s in sigs]
    kyc = [s.kyc for s in sigs]
    sanctions = [s.sanctions for s in sigs]
    fraud = [s.fraud for s in sigs]
    absent: dict[str, np.ndarray] = {}
    values, absent["bureau"] = _signal(bureau, _BUREAU)
    for name, column in zip(_BUREAU, values, strict=True):
        raw[f"bureau.{name}"] = column
    values, absent["kyc"] = _signal(kyc, ("identity_score",))
    raw["kyc.identity_score"] = values[0]
    text["kyc.status"] = np.array(["" if k is None else str(k.status) for k in kyc], dtype=object)
    values, absent["sanctions"] = _signal(sanctions, ("sanctions_hit", "pep_hit"))
    raw["sanctions.sanctions_hit"], raw["sanctions.pep_hit"] = values[0] != 0, values[1] != 0
    values, absent["fraud"] = _signal(fraud, ("fraud_score",))
    raw["fraud.fraud_score"] = values[0]
    text["fraud.device_risk"] = np.array(
        ["" if f is None else f.device_risk for f in fraud], dtype=object
    )
    return ChunkColumns(n=n, raw=raw, text=text, absent=absent, signals=sigs)


def _codes(values: np.ndarray, mapping: dict[str, int]) -> np.ndarray:
    table = {str(k): float(v) for k, v in mapping.items()}
    return _f([table.get(v, NAN) for v in values.tolist()])


def feature_matrix(c: ChunkColumns) -> np.ndarray | None:
    """The catalogue matrix (n, len(FEATURE_NAMES)), or None when this is not the catalogue
    version mirrored here."""
    if fc.FEATURE_VERSION != IMPLEMENTS:
        return None
    r = c.raw
    income = r["annual_income"]
    floor = np.where(income >= fc.INCOME_FLOOR, income, fc.INCOME_FLOOR)  # max(income, floor)
    repayment = annuity(r["requested_amount"], r["term_months"])

    def signal(name: str, present_of: str) -> np.ndarray:
        return np.where(c.absent[present_of], NAN, r[name])

    cols = {
        "age": r["age"],
        "annual_income": income,
        "debt_to_income": r["existing_debt"] / floor,
        "loan_to_income": r["requested_amount"] / floor,
        "monthly_repayment": repayment,
        "disposable_income": net_monthly_income(income)
        - r["monthly_expenditure"]
        - r["monthly_debt_payments"]
        - repayment,
        "bureau_score": signal("bureau.score", "bureau"),
        "revolving_utilisation": signal("bureau.revolving_utilisation", "bureau"),
        "searches_6m": signal("bureau.searches_6m", "bureau"),
        "arrears_count_12m": signal("bureau.arrears_count_12m", "bureau"),
        "ccj_count_6y": signal("bureau.ccj_count_6y", "bureau"),
        "defaults_count_6y": signal("bureau.defaults_count_6y", "bureau"),
        "months_at_address": r["months_at_address"],
        "months_in_employment": r["months_in_employment"],
        "employment_status": _codes(c.text["employment_status"], fc.EMPLOYMENT_CODES),
        "residential_status": _codes(c.text["residential_status"], fc.RESIDENTIAL_CODES),
        "dependants": r["dependants"],
        "term_months": r["term_months"].astype(np.float64),
        "fraud_score": signal("fraud.fraud_score", "fraud"),
        "identity_score": signal("kyc.identity_score", "kyc"),
    }
    if set(cols) != set(fc.FEATURE_NAMES):
        return None
    return np.column_stack([cols[name] for name in fc.FEATURE_NAMES]).astype(np.float64, copy=False)


def rule_columns(
    c: ChunkColumns, X: np.ndarray, pd: np.ndarray | None, reads: Sequence[str]
) -> dict[str, Column]:
    """The rule context (`modeling.features.rule_context`) of the paths a policy reads."""
    index = {name: i for i, name in enumerate(fc.FEATURE_NAMES)}
    out: dict[str, Column] = {}

    def nan_column(values: np.ndarray) -> Column:
        null = np.isnan(values)
        return Column(np.where(null, 0.0, values), null if null.any() else None)

    for path in reads:
        ns, _, name = path.partition(".")
        col: Column | None = None
        if ns == "features":
            col = nan_column(X[:, index[name]])
        elif path == "applicant.age":
            col = nan_column(X[:, index["age"]])
        elif (ns == "applicant" and name in (*_MONEY, *_COUNTS)) or path in (
            "applicant.uk_resident",
            "applicant.bankrupt_or_iva",
        ):
            col = Column(c.raw[name])
        elif ns == "applicant":
            col = Column(c.text[name])
        elif path == "loan.requested_amount":
            col = Column(c.raw["requested_amount"])
        elif path == "loan.term_months":
            col = Column(c.raw["term_months"].astype(np.float64))
        elif path == "loan.purpose":
            col = Column(c.text["purpose"])
        elif path == "bureau.total_unsecured_balance":
            values, null = _signal([s.bureau for s in c.signals], ("total_unsecured_balance",))
            col = Column(values[0], null if null.any() else None)
        elif ns in SIGNAL_NAMES:
            null = c.absent[ns]
            values = c.text[path] if path in c.text else c.raw[path]
            col = Column(values, null if null.any() else None)
        elif path == "model.pd":
            col = Column(np.zeros(c.n), np.ones(c.n, dtype=bool)) if pd is None else nan_column(pd)
        elif path == "signals.missing":
            col = Column({s: c.absent[s] for s in SIGNAL_NAMES})
        if col is None:
            raise KeyError(f"{path} is not a rule-context field")
        out[path] = col
    if "signals.missing" not in out:
        out["signals.missing"] = Column({s: c.absent[s] for s in SIGNAL_NAMES})
    return out
