"""Canonical JSON: the one byte representation that hashes are computed over."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from typing import Any

import orjson


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"not canonical-JSON serialisable: {type(value).__name__}")


def canonical_json(value: Any) -> str:
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=_default,
        allow_nan=False,
    )


def sha256_hex(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def jsonable(value: Any) -> Any:
    """Round-trip through canonical JSON so stored JSON equals what was hashed."""
    return json.loads(canonical_json(value))


# ---- the fast path (exports) ---------------------------------------------------------------------
#
# orjson is several times faster than the standard library and, with sorted keys, writes the same
# bytes for every value canonical JSON accepts except some floats: with 1e-10 <= |x| < 1e-4 it
# writes "0.00001" / "1e-7" where Python's repr (which canonical JSON uses) writes "1e-05" /
# "1e-07". Both spellings read back as the same float, so those number tokens are rewritten with
# repr. Everything orjson would treat differently from the standard library (subclasses of
# builtins, dataclasses, datetimes, integers beyond 64 bits, non-string keys) is passed to
# `_default` or makes orjson raise, and `canonical_json` decides. Non-finite floats, which orjson
# writes as null, are the caller's to exclude. Pinned by tests/audit/test_canonical.py.

_ORJSON_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
# The number tokens concerned. In compact JSON a number outside a string follows ":", "," or "["
# and is followed by ",", "]" or "}"; each candidate is found by a plain substring search (a
# regex over the whole output costs more than the encoding) and then checked exactly.
_ORJSON_SMALL_FLOAT = re.compile(rb"-?(?:0\.0000[0-9]+|[1-9](?:\.[0-9]+)?e-[1-9])")
_NUMBER_CHARS = frozenset(b"0123456789.-")
_DIGITS = frozenset(b"0123456789")


def _small_float_tokens(out: bytes) -> list[tuple[int, int]]:
    """(start, end) of every float token orjson spells differently from repr, in order."""
    candidates: list[int] = []
    for needle in (b"0.0000", b"e-"):
        at = out.find(needle)
        while at >= 0:
            candidates.append(at)
            at = out.find(needle, at + 1)
    found: list[tuple[int, int]] = []
    quotes = quotes_at = 0
    size = len(out)
    for at in sorted(candidates):
        if found and at < found[-1][1]:
            continue
        start = at
        while start > 0 and out[start - 1] in _NUMBER_CHARS:
            start -= 1
        end = at + 2
        while end < size and (out[end] in _DIGITS or out[end] == 46):  # digits and "."
            end += 1
        if (
            start == 0
            or end >= size
            or out[start - 1] not in b":,["
            or out[end] not in b",]}"
            or not _ORJSON_SMALL_FLOAT.fullmatch(out, start, end)
        ):
            continue
        if start > quotes_at:
            quotes += out.count(b'"', quotes_at, start)
            quotes_at = start
        if quotes & 1:  # no backslash, so quotes alternate: an odd count means inside a string
            continue
        found.append((start, end))
    return found


def canonical_json_bytes(value: Any) -> bytes:
    """`canonical_json(value).encode()`, byte for byte, several times faster.

    The caller guarantees that every float in `value` is finite (canonical JSON would raise).
    """
    if type(value) is float:
        return canonical_json(value).encode()
    try:
        out = orjson.dumps(value, default=_default, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: let the reference encoder decide (or raise)
        return canonical_json(value).encode()
    if b"0.0000" not in out and b"e-" not in out:
        return out
    if b"\\" in out:
        # An escaped quote would break the string test; rare enough to do it the slow way.
        return canonical_json(value).encode()
    tokens = _small_float_tokens(out)
    if not tokens:
        return out
    parts: list[bytes] = []
    last = 0
    for start, end in tokens:
        parts += (out[last:start], repr(float(out[start:end])).encode())
        last = end
    parts.append(out[last:])
    return b"".join(parts)


def canonical_json_of_loaded(build: Callable[[Callable[[str], Any]], Any]) -> tuple[Any, bytes]:
    """`(value, canonical_json(value).encode())` with `value = build(json.loads)`, byte for
    byte, faster.

    `build` turns stored JSON texts into the value to encode with the loader it is given. It is
    first given orjson's, which reads every text as the standard library does except integers
    beyond 64 bits, which it reads as floats (>= 2**63 in magnitude, so always written with an
    exponent "e+"): if the output has "e+" anywhere, the value is built again with `json.loads`
    and encoded by `canonical_json`. A non-finite number in a text raises ValueError either way,
    as canonical JSON would.
    """
    value = build(_loads_fast)
    out = canonical_json_bytes(value)
    if b"e+" in out:
        value = build(json.loads)
        return value, canonical_json(value).encode()
    return value, out


def _loads_fast(text: str) -> Any:
    try:
        return orjson.loads(text)  # refuses NaN, Infinity and numbers beyond the float range
    except orjson.JSONDecodeError:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"not canonical-JSON serialisable: {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"not canonical-JSON serialisable: {text}")
    return value
