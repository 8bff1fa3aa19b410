"""Typed signals ⇄ their stored JSON form. Framework-free.

The stored form is flat: one key per field of the typed signal, `Decimal` as a string, enums as
their value. Replay rebuilds the typed signal from exactly this, whatever provider produced it.
Extra keys (an HTTP provider's kept `evidence`) are ignored when rebuilding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from decisioning.engine.types import (
    BureauSignal,
    FraudSignal,
    KycSignal,
    KycStatus,
    SanctionsSignal,
)

SIGNAL_TYPES: dict[str, type] = {
    "bureau": BureauSignal,
    "kyc": KycSignal,
    "sanctions": SanctionsSignal,
    "fraud": FraudSignal,
}

# Closed vocabularies that the dataclasses type only as `str`.
CHOICES: dict[tuple[str, str], frozenset[str]] = {
    ("fraud", "device_risk"): frozenset({"low", "medium", "high"}),
}


def field_types(signal_type: str) -> dict[str, str]:
    """Field name → annotation string (`int`, `float`, `bool`, `str`, `Decimal`, `KycStatus`)."""
    return {f.name: str(f.type) for f in dataclasses.fields(SIGNAL_TYPES[signal_type])}


def to_response(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(value):
        v = getattr(value, f.name)
        if isinstance(v, Decimal):
            v = str(v)
        elif isinstance(v, Enum):
            v = v.value
        out[f.name] = v
    return out


def from_response(signal_type: str, response: Mapping[str, Any]) -> Any:
    """Typed signal from a stored/received response; raises ValueError/TypeError if malformed."""
    klass = SIGNAL_TYPES[signal_type]
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(klass):
        if f.name not in response:
            raise ValueError(f"{signal_type} response lacks {f.name}")
        v = response[f.name]
        if f.type in ("Decimal",):
            if isinstance(v, bool) or not isinstance(v, str | int | float | Decimal):
                raise TypeError(f"{signal_type}.{f.name} must be a decimal number")
            try:
                v = Decimal(str(v))
            except InvalidOperation as e:
                raise ValueError(f"{signal_type}.{f.name} must be a decimal number") from e
            if not v.is_finite():
                raise ValueError(f"{signal_type}.{f.name} must be finite")
        elif f.type == "KycStatus":
            v = KycStatus(v)
        elif f.type == "int":
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"{signal_type}.{f.name} must be an integer")
        elif f.type == "float":
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise TypeError(f"{signal_type}.{f.name} must be a number")
            v = float(v)
            if v != v or v in (float("inf"), float("-inf")):
                raise ValueError(f"{signal_type}.{f.name} must be finite")
        elif f.type == "bool":
            if not isinstance(v, bool):
                raise TypeError(f"{signal_type}.{f.name} must be a boolean")
        elif f.type == "str":
            if not isinstance(v, str):
                raise TypeError(f"{signal_type}.{f.name} must be a string")
            choices = CHOICES.get((signal_type, f.name))
            if choices is not None and v not in choices:
                raise ValueError(
                    f"{signal_type}.{f.name} must be one of {', '.join(sorted(choices))}"
                )
        kwargs[f.name] = v
    return klass(**kwargs)
