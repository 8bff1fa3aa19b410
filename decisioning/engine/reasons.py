"""The reason-code catalogue: stable codes and the wording a customer may be shown
(adverse-action notices). Model reason codes come from the feature catalogue."""

from __future__ import annotations

REASONS: dict[str, str] = {
    "SANCTIONS_HIT": "We are unable to offer you credit at this time.",
    "PEP_MATCH": "We need to carry out some additional checks on your application.",
    "KYC_FAILED": "We could not verify your identity.",
    "KYC_REFER": "We need to carry out some additional checks to verify your identity.",
    "NOT_UK_RESIDENT": "You need to be a UK resident to apply for this product.",
    "UNDER_18": "You need to be 18 or over to apply.",
    "BANKRUPTCY_IVA": "Your credit file shows a bankruptcy or an individual voluntary arrangement.",
    "UNAFFORDABLE": "The repayments would not be affordable based on your income and outgoings.",
    "RECENT_CCJ": "Your credit file shows a recent county court judgment.",
    "FRAUD_RISK": "We need to carry out some additional checks on your application.",
    "PD_ABOVE_CUTOFF": "Based on the information we hold, your application does not meet our lending criteria.",
    "PD_REFER_BAND": "An underwriter will review your application.",
    "MISSING_BUREAU": "We could not obtain your credit file; an underwriter will review your application.",
    "MISSING_KYC": "We could not complete identity checks; an underwriter will review your application.",
    "MISSING_SANCTIONS": "We could not complete our checks; an underwriter will review your application.",
    "MISSING_FRAUD": "We could not complete our checks; an underwriter will review your application.",
    "MODEL_UNAVAILABLE": "An underwriter will review your application.",
    "RULE_ERROR": "An underwriter will review your application.",
    "AMOUNT_CAPPED": "We can offer you a lower amount than you asked for.",
}


def describe(code: str, fallback: str = "") -> str:
    return REASONS.get(code, fallback or code.replace("_", " ").capitalize())
