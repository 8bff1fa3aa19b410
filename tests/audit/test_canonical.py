"""The fast canonical-JSON path (orjson) writes exactly the bytes of `canonical_json`.

Exports encode a million records with `canonical_json_bytes` / `canonical_json_of_loaded`; the
records' bytes (and so the file hashes in a manifest) must be those the reference encoder in
audit/canonical.py defines. Strings are compared over every Unicode code point, floats over
random bit patterns and every decade, and whole documents over seeded random trees.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import random
import struct
import sys
import uuid
from decimal import Decimal
from typing import Any

import pytest

from audit.canonical import canonical_json, canonical_json_bytes, canonical_json_of_loaded


def same(value: Any) -> None:
    assert canonical_json_bytes(value) == canonical_json(value).encode(), value


def test_it_matches_on_every_code_point() -> None:
    points = [c for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    for i in range(0, len(points), 4096):
        text = "".join(map(chr, points[i : i + 4096]))
        same(text)
        same({text: [text]})
    for c in range(0x80):  # each ASCII character alone, escapes included
        same(chr(c))
        same({"k": chr(c) + "0.00001" + chr(c)})


def _random_float(rng: random.Random) -> float:
    while True:
        value = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if value == value and value not in (float("inf"), float("-inf")):
            return value


def test_it_matches_on_floats_of_every_magnitude() -> None:
    rng = random.Random(20261204)
    values = [_random_float(rng) for _ in range(8_000)]
    values += [
        rng.choice((1, -1)) * float(f"{rng.random():.{rng.randint(1, 17)}g}") * 10.0**exponent
        for exponent in range(-12, 22)
        for _ in range(100)
    ]
    values += [0.0, -0.0, 1e-4, 1e-5, 1e-10, 9.999999e-11, 1e16, 2.0**63, 2.0**64, 5e-324]
    for value in values:
        same(value)
        same([value])
        same({"a": value, "b": [1, value, "x"], "c": {"d": value}})
    same(values)  # one long document, many rewritten tokens


def test_it_leaves_strings_that_look_like_small_floats_alone() -> None:
    for text in ('x":1e-7,"', ":0.00001,", "[1e-7]", '\\":1e-7,', "a\\", 'q"uote'):
        same({"s": text, "f": 1e-7, "g": [0.00005, text]})
        same([text, 1e-06, {text: 5.5e-05}])


class Plain(enum.Enum):
    A = "a"


class Text(enum.StrEnum):
    B = "b"


class Number(enum.IntEnum):
    C = 3


@dataclasses.dataclass
class Point:
    x: int


def test_it_matches_on_the_types_canonical_json_accepts() -> None:
    same(
        {
            "decimal": Decimal("1234.50"),
            "datetime": dt.datetime(2026, 12, 4, 16, 44, 17, 123, tzinfo=dt.UTC),
            "naive": dt.datetime(2026, 12, 4, 16, 44),
            "date": dt.date(2026, 12, 4),
            "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
            "enums": [Plain.A, Text.B, Number.C],
            "tuple": (1, 2.5e-7, "x"),
            "big": [2**63, 2**64, -(2**70), 10**30],
            "bools": [True, False, None],
            "int_keys": {1: "a", 2: "b"},
            "unicode": "é € 𝄞 \u2028",
        }
    )


@pytest.mark.parametrize(
    "value",
    [Point(1), {"set": {1, 2}}, {"time": dt.time(12, 0)}, "\ud800"],
    ids=["dataclass", "set", "time", "lone-surrogate"],
)
def test_it_refuses_what_canonical_json_refuses(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)) as reference:
        canonical_json(value).encode()
    with pytest.raises(type(reference.value)):
        canonical_json_bytes(value)


def _random_tree(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 4 else 5)
    if kind == 0:
        return _random_float(rng) * rng.choice((1, 1e-6, 1e-9))
    if kind == 1:
        return rng.choice((rng.randint(-(2**80), 2**80), rng.randint(-1000, 1000)))
    if kind == 2:
        return "".join(
            chr(rng.choice((rng.randint(0, 0x7F), rng.randint(0, 0xD7FF))))
            for _ in range(rng.randint(0, 12))
        )
    if kind == 3:
        return rng.choice((True, False, None))
    if kind == 4:
        return rng.choice(("0.00001", "1e-7", '":1e-7,"', "generate-7", "x\\y"))
    if kind in (5, 6):
        return [_random_tree(rng, depth + 1) for _ in range(rng.randint(0, 6))]
    return {
        str(_random_tree(rng, 4)) if rng.random() < 0.3 else f"k{rng.randint(0, 99)}": _random_tree(
            rng, depth + 1
        )
        for _ in range(rng.randint(0, 6))
    }


def test_it_matches_on_random_documents() -> None:
    rng = random.Random(6)
    for _ in range(3000):
        same(_random_tree(rng))


def test_loaded_documents_come_out_as_the_standard_library_would_write_them() -> None:
    rng = random.Random(7)
    texts = [json.dumps(_random_tree(rng)) for _ in range(500)]
    texts += [
        '{"big": 123456789012345678901234567890, "neg": -18446744073709551617}',
        '{"u64": 18446744073709551615, "i64": -9223372036854775808}',
        '{"dup": 1, "dup": 2}',
        '"\\ud83d\\ude00 \\u00e9"',
        "[1E5, 1.0e-7, 0.000012, -0.0, 12345678901234567890123.5]",
    ]
    for text in texts:

        def build(loads: Any, text: str = text) -> Any:
            return {"doc": loads(text)}

        value, out = canonical_json_of_loaded(build)
        assert out == canonical_json({"doc": json.loads(text)}).encode(), text
        assert value == {"doc": json.loads(text)}


@pytest.mark.parametrize("text", ["[NaN]", '{"x": Infinity}', "[1e400]", "[-1e400]"])
def test_loaded_non_finite_numbers_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        canonical_json(json.loads(text))  # the reference refuses them too
    with pytest.raises(ValueError):
        canonical_json_of_loaded(lambda loads: loads(text))
