"""A declared mapping from a provider's JSON answer to a typed signal. Framework-free.

Each field of the typed signal names where it is in the provider's JSON (a dotted path; a
numeric segment indexes a list), the JSON type it must have there, and optionally a value map
(`"VERIFIED" → "pass"`), bounds and a default for an absent value. Anything that does not match
is a malformed answer: the provider failed, the decision goes on without that signal.

What is stored is an allow-list: the typed fields plus the `keep` paths the schema names as
evidence (a report reference, say). Everything else the provider sent — names, addresses,
full reports — is dropped before the decision is stored or cached; only the SHA-256 of the raw
body is kept, so a provider's own copy can be matched later.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from decisioning.signals.convert import field_types, from_response

JSON_TYPES = ("integer", "number", "string", "boolean", "decimal")

# Which provider-side JSON types may feed each typed field (after any value map).
_COMPATIBLE: dict[str, tuple[str, ...]] = {
    "int": ("integer",),
    "float": ("number", "integer"),
    "Decimal": ("decimal", "number", "integer"),
    "bool": ("boolean",),
    "str": ("string",),
    "KycStatus": ("string",),
}
_DEFAULT_JSON_TYPE = {
    "int": "integer",
    "float": "number",
    "Decimal": "decimal",
    "bool": "boolean",
    "str": "string",
    "KycStatus": "string",
}

_MISSING = object()


class MalformedResponse(ValueError):
    """The provider answered, but not in the declared shape."""


class SchemaConfigError(ValueError):
    """The schema itself is wrong (a configuration error, raised when the registry is built)."""


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    path: tuple[str, ...]
    json_type: str
    value_map: Mapping[str, Any] | None = None
    minimum: float | None = None
    maximum: float | None = None
    default: Any = _MISSING


def _lookup(document: Any, path: tuple[str, ...]) -> Any:
    node = document
    for segment in path:
        if isinstance(node, Mapping):
            if segment not in node:
                return _MISSING
            node = node[segment]
        elif isinstance(node, list) and segment.isdigit():
            index = int(segment)
            if index >= len(node):
                return _MISSING
            node = node[index]
        else:
            return _MISSING
    return node


def _check_json_type(value: Any, json_type: str) -> Any:
    """The value if it has `json_type`; raises otherwise. `decimal` accepts a string or number."""
    if json_type == "boolean":
        ok = isinstance(value, bool)
    elif json_type == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif json_type == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    elif json_type == "string":
        ok = isinstance(value, str)
    else:  # decimal
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            ok = False
        else:
            try:
                ok = Decimal(str(value)).is_finite()
            except InvalidOperation:
                ok = False
    if not ok:
        raise MalformedResponse(f"expected {json_type}, got {type(value).__name__}")
    return value


@dataclass(frozen=True, slots=True)
class ResponseSchema:
    signal_type: str
    fields: tuple[FieldSpec, ...]
    keep: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def from_config(cls, signal_type: str, config: Mapping[str, Any]) -> ResponseSchema:
        if not isinstance(config, Mapping):
            raise SchemaConfigError(
                "schema must be an object with 'fields' (and optionally 'keep')"
            )
        unknown = set(config) - {"fields", "keep"}
        if unknown:
            raise SchemaConfigError(f"schema: unknown key(s) {', '.join(sorted(unknown))}")
        targets = field_types(signal_type)
        declared = config.get("fields")
        if not isinstance(declared, Mapping):
            raise SchemaConfigError(
                "schema.fields must be an object: typed field → {path, type, …}"
            )
        missing = set(targets) - set(declared)
        extra = set(declared) - set(targets)
        if missing or extra:
            raise SchemaConfigError(
                f"schema.fields must map exactly the {signal_type} fields "
                f"({', '.join(targets)}); missing: {sorted(missing)}, unknown: {sorted(extra)}"
            )
        specs = []
        for name, target in targets.items():
            spec = declared[name]
            if isinstance(spec, str):
                spec = {"path": spec}
            if (
                not isinstance(spec, Mapping)
                or not isinstance(spec.get("path"), str)
                or not spec["path"]
            ):
                raise SchemaConfigError(
                    f"schema.fields.{name} needs a 'path' (e.g. \"report.score\")"
                )
            bad = set(spec) - {"path", "type", "map", "min", "max", "default"}
            if bad:
                raise SchemaConfigError(
                    f"schema.fields.{name}: unknown key(s) {', '.join(sorted(bad))}"
                )
            json_type = spec.get("type", _DEFAULT_JSON_TYPE[target])
            value_map = spec.get("map")
            if value_map is not None and not isinstance(value_map, Mapping):
                raise SchemaConfigError(f"schema.fields.{name}.map must be an object")
            # With a value map the JSON type describes the raw value; without one it must fit the field.
            if json_type not in JSON_TYPES or (
                value_map is None and json_type not in _COMPATIBLE[target]
            ):
                raise SchemaConfigError(
                    f"schema.fields.{name}.type {json_type!r} cannot feed a {target} field "
                    f"(use one of {', '.join(_COMPATIBLE[target])})"
                )
            for bound in ("min", "max"):
                if bound in spec and (
                    isinstance(spec[bound], bool) or not isinstance(spec[bound], int | float)
                ):
                    raise SchemaConfigError(f"schema.fields.{name}.{bound} must be a number")
            specs.append(
                FieldSpec(
                    name=name,
                    path=tuple(spec["path"].split(".")),
                    json_type=json_type,
                    value_map=value_map,
                    minimum=spec.get("min"),
                    maximum=spec.get("max"),
                    default=spec.get("default", _MISSING),
                )
            )
        keep_config = config.get("keep", {})
        if not isinstance(keep_config, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in keep_config.items()
        ):
            raise SchemaConfigError("schema.keep must be an object: stored name → path")
        keep = tuple((k, tuple(v.split("."))) for k, v in keep_config.items())
        return cls(signal_type=signal_type, fields=tuple(specs), keep=keep)

    def parse(self, document: Any) -> tuple[Any, dict[str, Any]]:
        """(typed signal, kept evidence) from a decoded JSON document; raises MalformedResponse."""
        flat: dict[str, Any] = {}
        for spec in self.fields:
            where = f"{self.signal_type}.{spec.name} at {'.'.join(spec.path)}"
            value = _lookup(document, spec.path)
            if value is _MISSING or value is None:
                if spec.default is _MISSING:
                    raise MalformedResponse(f"{where}: missing")
                value = spec.default
            try:
                _check_json_type(value, spec.json_type)
            except MalformedResponse as e:
                raise MalformedResponse(f"{where}: {e}") from None
            if spec.value_map is not None:
                key = (
                    value
                    if isinstance(value, str)
                    else str(value).lower()
                    if isinstance(value, bool)
                    else str(value)
                )
                if key not in spec.value_map:
                    raise MalformedResponse(f"{where}: unexpected value {value!r}")
                value = spec.value_map[key]
            if spec.minimum is not None or spec.maximum is not None:
                number = float(Decimal(str(value))) if not isinstance(value, bool) else None
                if (
                    number is None
                    or (spec.minimum is not None and number < spec.minimum)
                    or (spec.maximum is not None and number > spec.maximum)
                ):
                    raise MalformedResponse(
                        f"{where}: {value!r} outside [{spec.minimum}, {spec.maximum}]"
                    )
            flat[spec.name] = value
        try:
            signal = from_response(self.signal_type, flat)
        except (ValueError, TypeError) as e:
            raise MalformedResponse(str(e)) from None
        evidence: dict[str, Any] = {}
        for name, path in self.keep:
            value = _lookup(document, path)
            if (
                value is not _MISSING
                and isinstance(value, str | int | float | bool)
                and not (isinstance(value, float) and not math.isfinite(value))
            ):
                evidence[name] = value
        return signal, evidence
