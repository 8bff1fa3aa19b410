"""What the API's input serializers accept, stated exactly in the OpenAPI schema.

drf-spectacular describes a DecimalField sent as a string with a pattern built from its digits
alone (`^-?\\d{0,10}(?:\\.\\d{0,2})?$`): it allows a sign, an empty string and a bare ".", and it
drops min/max because the type is a string. A client (or schemathesis) that trusts the schema
then sends values the server refuses. These fields carry the real bounds in their patterns, and
strict serializers say `additionalProperties: false`, which is what they enforce.
"""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

#: 0 to 9,999,999,999.99: up to ten whole digits, up to two decimals, no sign, no exponent.
MONEY_PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,2})?$"
#: A loan amount: 1.00 to 10,000,000.00.
AMOUNT_PATTERN = r"^([1-9][0-9]{0,6}(\.[0-9]{1,2})?|10000000(\.0{1,2})?)$"


@extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": MONEY_PATTERN, "example": "52000.00"}
)
class MoneyField(serializers.DecimalField):
    """GBP, 0 to 9,999,999,999.99, as a decimal string (`"52000.00"`). A string must match the
    schema's pattern (no exponent, no sign, no bare "."); a JSON number is still converted."""

    pattern = re.compile(MONEY_PATTERN)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and not self.pattern.fullmatch(data.strip()):
            self.fail("invalid")
        return super().to_internal_value(data)

    def __init__(self, **kwargs: Any) -> None:
        from decimal import Decimal

        kwargs.setdefault("max_digits", 12)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("min_value", Decimal("0"))
        kwargs.setdefault("max_value", Decimal("9999999999.99"))
        super().__init__(**kwargs)


@extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": AMOUNT_PATTERN, "example": "7500.00"}
)
class LoanAmountField(MoneyField):
    """GBP, 1.00 to 10,000,000.00, as a decimal string; the product narrows it further."""

    pattern = re.compile(AMOUNT_PATTERN)

    def __init__(self, **kwargs: Any) -> None:
        from decimal import Decimal

        kwargs.setdefault("max_digits", 12)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("min_value", Decimal("1"))
        kwargs.setdefault("max_value", Decimal("10000000"))
        super().__init__(**kwargs)


class StrictSerializerSchema(OpenApiSerializerExtension):
    """`decisioning.apis.StrictSerializer` and its subclasses refuse unknown fields: say so."""

    target_class = "decisioning.apis.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["additionalProperties"] = False
        return schema
