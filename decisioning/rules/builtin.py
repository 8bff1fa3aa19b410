"""The built-in policy written in the rule language, and its test cases: version 1 of every new
rule set (so creating a rule set changes no decision), and the demo's published version.

`tests/decisioning/test_rules_language.py` proves these rules decide exactly as
`engine.policy.BUILTIN_POLICY` does. Framework-free.
"""

from __future__ import annotations

from typing import Any

from decisioning.rules.compiler import RuleSpec, TestCaseSpec

APPROVE_MAX_PD = 0.08
DECLINE_MIN_PD = 0.25

_RULES: tuple[tuple[str, str, str, str, str, str], ...] = (
    # key, name, condition, action, reason, description
    (
        "sanctions_hit",
        "Sanctions match",
        "sanctions.sanctions_hit",
        "decline",
        "SANCTIONS_HIT",
        "The applicant matches a sanctions list.",
    ),
    (
        "pep_hit",
        "Politically exposed person",
        "sanctions.pep_hit",
        "refer",
        "PEP_MATCH",
        "Enhanced due diligence is needed for a PEP.",
    ),
    ("kyc_failed", "Identity not verified", 'kyc.status == "fail"', "decline", "KYC_FAILED", ""),
    ("kyc_refer", "Identity needs checking", 'kyc.status == "refer"', "refer", "KYC_REFER", ""),
    (
        "not_uk_resident",
        "Not UK resident",
        "not applicant.uk_resident",
        "decline",
        "NOT_UK_RESIDENT",
        "",
    ),
    (
        "under_18",
        "Under 18",
        "applicant.age < 18",
        "decline",
        "UNDER_18",
        "Minors cannot contract credit.",
    ),
    (
        "bankrupt_or_iva",
        "Bankruptcy or IVA",
        "applicant.bankrupt_or_iva",
        "decline",
        "BANKRUPTCY_IVA",
        "",
    ),
    (
        "unaffordable",
        "Repayment not affordable",
        "features.disposable_income < 0",
        "decline",
        "UNAFFORDABLE",
        "CONC 5.2A: the repayment must be sustainable from disposable income.",
    ),
    (
        "recent_ccj",
        "Recent county court judgment",
        "bureau.ccj_count_6y > 0",
        "refer",
        "RECENT_CCJ",
        "",
    ),
    ("high_fraud_score", "High fraud score", "fraud.fraud_score >= 80", "refer", "FRAUD_RISK", ""),
)

BUILTIN_RULES: tuple[RuleSpec, ...] = tuple(
    RuleSpec(key=k, name=n, condition=c, action=a, reason_code=r, order=(i + 1) * 10, description=d)
    for i, (k, n, c, a, r, d) in enumerate(_RULES)
)

CLEAN_SIGNALS: dict[str, Any] = {
    "kyc": {"status": "pass", "identity_score": 92},
    "sanctions": {"sanctions_hit": False, "pep_hit": False},
    "fraud": {"fraud_score": 5, "device_risk": "low"},
    "bureau": {"ccj_count_6y": 0, "defaults_count_6y": 0, "arrears_count_12m": 0},
}


def example_application(product: str, **overrides: Any) -> dict[str, Any]:
    """An API request body for a creditworthy applicant; override applicant/loan fields by name."""
    applicant: dict[str, Any] = {
        "first_name": "Grace",
        "last_name": "Patel",
        "date_of_birth": "1985-04-12",
        "postcode": "LS1 4AP",
        "uk_resident": True,
        "residential_status": "mortgage",
        "months_at_address": 96,
        "employment_status": "employed",
        "months_in_employment": 72,
        "annual_income": "52000.00",
        "monthly_expenditure": "900.00",
        "existing_debt": "1000.00",
        "monthly_debt_payments": "50.00",
        "dependants": 0,
        "bankrupt_or_iva": False,
    }
    loan: dict[str, Any] = {"amount": "5000.00", "term_months": 36, "purpose": "car"}
    for key, value in overrides.items():
        (loan if key in loan else applicant)[key] = value
    return {"product": product, "reference": "TEST", "applicant": applicant, "loan": loan}


def _signals(**changes: Any) -> dict[str, Any]:
    out = {k: dict(v) for k, v in CLEAN_SIGNALS.items()}
    for name, value in changes.items():
        out[name] = None if value is None else {**out[name], **value}
    return out


def builtin_test_cases(product: str) -> tuple[TestCaseSpec, ...]:
    app = lambda **o: example_application(product, **o)  # noqa: E731
    return (
        TestCaseSpec("Clean application approves", app(), "approve", (), 0.02, _signals()),
        TestCaseSpec(
            "Minor is declined",
            app(date_of_birth="2015-01-01"),
            "decline",
            ("UNDER_18",),
            0.02,
            _signals(),
        ),
        TestCaseSpec(
            "Sanctions match is declined",
            app(),
            "decline",
            ("SANCTIONS_HIT",),
            0.02,
            _signals(sanctions={"sanctions_hit": True}),
        ),
        TestCaseSpec(
            "Failed KYC is declined",
            app(),
            "decline",
            ("KYC_FAILED",),
            0.02,
            _signals(kyc={"status": "fail"}),
        ),
        TestCaseSpec(
            "Non-resident is declined",
            app(uk_resident=False),
            "decline",
            ("NOT_UK_RESIDENT",),
            0.02,
            _signals(),
        ),
        TestCaseSpec(
            "Recent CCJ is referred",
            app(),
            "refer",
            ("RECENT_CCJ",),
            0.02,
            _signals(bureau={"ccj_count_6y": 1}),
        ),
        TestCaseSpec(
            "Missing credit file refers",
            app(),
            "refer",
            ("MISSING_BUREAU",),
            0.02,
            _signals(bureau=None),
        ),
        TestCaseSpec(
            "PD in the refer band refers", app(), "refer", ("PD_REFER_BAND",), 0.15, _signals()
        ),
        TestCaseSpec(
            "PD above the cut-off declines",
            app(),
            "decline",
            ("PD_ABOVE_CUTOFF",),
            0.40,
            _signals(),
        ),
    )
