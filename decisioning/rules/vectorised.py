"""Rule conditions evaluated column-wise over a chunk of applications (batch rescoring).

`Rule.evaluate` costs ~10 µs per rule per application (building the context, calling the ZEN VM,
recording inputs); a batch of a million applications under a ten-rule policy spends most of its
time there. This module translates each rule's condition into numpy operations over columns of
the rule context, so a whole chunk is evaluated in a few vector operations per rule.

It is a *second evaluator*, so it is built to be provably identical to the first:

- it translates only a small, statically typed subset of the language: field reads, number /
  text / true-false literals, `+ - * /`, unary minus, `abs()`, the six comparisons, `and`, `or`,
  `not` / `!`, `in` / `not in` over a literal list or interval (`[a..b]`, `(a..b)`, `[a..b)`, `(a..b]`),
  `'bureau' in signals.missing` and `len(signals.missing)`. Anything else leaves that rule to
  the per-row evaluator (the caller runs `Rule.evaluate` on every row for it);
- missing values follow `compile_condition`: a read value that is absent makes the rule an error
  (not fired) whatever the expression, before anything is evaluated;
- ZEN computes with decimals, numpy with binary floats. A comparison is trusted only when the two
  cannot disagree: both sides exact integers (below 2**53), or the sides further apart than a
  margin (1e-9 relative, at least 1e-9 absolute) that covers float rounding and ZEN's
  float-to-decimal conversion. Rows too close to call, a division by zero, an overflow — are
  flagged `recheck` for that rule, and the caller evaluates them per row with `Rule.evaluate`;
- every translation is checked when compiled: the vectorised rule and the rule's own callable are
  run on a few hundred probe rows (typical, boundary and missing values); any disagreement and
  the rule is left to the per-row evaluator.

`tests/decisioning/test_rules_vectorised.py` proves outcome, reasons and per-rule flags equal to
per-row `resolve` for every row of many generated chunks, every seeded policy and tricky
expressions. Framework-free: imports nothing from Django.
"""

from __future__ import annotations

import random
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from decisioning.engine.policy import BUILTIN_POLICY, Policy, Rule
from decisioning.rules.language import FIELDS, sample_context

SIGNAL_NAMES = ("bureau", "kyc", "sanctions", "fraud")
EXACT_LIMIT = float(2**53)
OVERFLOW_LIMIT = 1e20  # well below ZEN's decimal limit (~7.9e28): beyond it, recheck
TOLERANCE = 1e-9


class Untranslatable(Exception):
    """The condition uses something this evaluator does not translate (the rule runs per row)."""


# ---- columns --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    """One field of the rule context over a chunk. `null[i]`: the value is absent (None) in row i.
    Numbers are float64 (integers are exact below 2**53), text is an object array, true/false a
    bool array; `signals.missing` is a dict of one bool array per signal name."""

    values: Any
    null: np.ndarray | None = None


Columns = Mapping[str, Column]


# ---- parsing ---------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d+(?:\.(?!\.)\d*)?(?![\w]))
      | (?P<string>'[^'\\]*'|"[^"\\]*")
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)
      | (?P<op>==|!=|<=|>=|\.\.|[<>+\-*/()\[\],!\]])
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos, n = 0, len(text)
    while pos < n:
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise Untranslatable(f"cannot tokenise at {pos}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    """Precedence (checked against ZEN): or < and < comparisons and `in` (left-associative) <
    + - < * / < unary `not` `!` `-` < atoms. `not` binds tighter than a comparison in ZEN
    (`not x > 3` negates x), which the type check then rejects unless x is true/false."""

    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, k: int = 0) -> tuple[str, str] | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise Untranslatable("unexpected end")
        self.i += 1
        return tok

    def accept(self, value: str) -> bool:
        tok = self.peek()
        if tok is not None and tok[1] == value and tok[0] in ("op", "name"):
            self.i += 1
            return True
        return False

    def expect(self, value: str) -> None:
        if not self.accept(value):
            raise Untranslatable(f"expected {value!r}")

    def parse(self) -> tuple:
        node = self.or_()
        if self.peek() is not None:
            raise Untranslatable(f"unexpected {self.peek()}")
        return node

    def or_(self) -> tuple:
        node = self.and_()
        while self.accept("or"):
            node = ("or", node, self.and_())
        return node

    def and_(self) -> tuple:
        node = self.cmp()
        while self.accept("and"):
            node = ("and", node, self.cmp())
        return node

    def cmp(self) -> tuple:
        node = self.add()
        while True:
            tok = self.peek()
            if tok is None:
                return node
            if tok[0] == "op" and tok[1] in ("==", "!=", "<", "<=", ">", ">="):
                self.i += 1
                node = ("cmp", tok[1], node, self.add())
            elif tok == ("name", "in"):
                self.i += 1
                node = ("in", node, self.container())
            elif tok == ("name", "not") and self.peek(1) == ("name", "in"):
                self.i += 2
                node = ("not", ("in", node, self.container()))
            else:
                return node

    def add(self) -> tuple:
        node = self.mul()
        while True:
            tok = self.peek()
            if tok is not None and tok[0] == "op" and tok[1] in ("+", "-"):
                self.i += 1
                node = ("arith", tok[1], node, self.mul())
            else:
                return node

    def mul(self) -> tuple:
        node = self.unary()
        while True:
            tok = self.peek()
            if tok is not None and tok[0] == "op" and tok[1] in ("*", "/"):
                self.i += 1
                node = ("arith", tok[1], node, self.unary())
            else:
                return node

    def unary(self) -> tuple:
        tok = self.peek()
        if tok in (("name", "not"), ("op", "!")):
            self.i += 1
            return ("not", self.unary())
        if tok == ("op", "-"):
            self.i += 1
            return ("neg", self.unary())
        return self.atom()

    def atom(self) -> tuple:
        kind, value = self.take()
        if kind == "number":
            return ("lit", "number", float(value))
        if kind == "string":
            return ("lit", "string", value[1:-1])
        if kind == "op" and value == "(":
            node = self.or_()
            self.expect(")")
            return node
        if kind == "name":
            if value in ("true", "false"):
                return ("lit", "bool", value == "true")
            if value in ("and", "or", "not", "in", "null"):
                raise Untranslatable(f"unexpected {value}")
            if self.accept("("):
                args = [self.or_()]
                while self.accept(","):
                    args.append(self.or_())
                self.expect(")")
                return ("call", value, args)
            if value not in FIELDS:
                raise Untranslatable(f"unknown field {value}")
            return ("field", value)
        raise Untranslatable(f"unexpected {value!r}")

    def container(self) -> tuple:
        """`[a, b, …]` (a list of literals) or an interval `[a..b]`, `(a..b)`, `(a..b]`, `[a..b)`.
        ZEN's reversed brackets (`]a..b]`, `[a..b[`) mean something else (measured: `x in ]1..5]`
        holds for 0) and are not translated."""
        kind, value = self.take()
        if kind == "name" and value in FIELDS:
            return ("field", value)
        if kind != "op" or value not in ("[", "("):
            raise Untranslatable("`in` needs a literal list, an interval or a list field")
        open_closed = value == "["
        items = [self.literal()]
        if self.accept(".."):
            hi = self.literal()
            closer = self.take()
            if closer[1] not in ("]", ")"):
                raise Untranslatable("bad interval")
            return ("interval", items[0], hi, open_closed, closer[1] == "]")
        if value != "[":
            raise Untranslatable("a list is written with []")
        while self.accept(","):
            items.append(self.literal())  # a trailing comma is not accepted (ZEN treats it oddly)
        self.expect("]")
        return ("list", items)

    def literal(self) -> tuple:
        negative = self.accept("-")
        kind, value = self.take()
        if kind == "number":
            return ("lit", "number", -float(value) if negative else float(value))
        if negative:
            raise Untranslatable("only numbers can be negative")
        if kind == "string":
            return ("lit", "string", value[1:-1])
        if kind == "name" and value in ("true", "false"):
            return ("lit", "bool", value == "true")
        raise Untranslatable("lists hold literals only")


def parse_expression(text: str) -> tuple:
    """The condition as a small tree, or `Untranslatable`."""
    return _Parser(" ".join(text.split())).parse()


# ---- compiling to column operations ----------------------------------------------------------------


@dataclass(slots=True)
class _Val:
    kind: str  # "number" | "bool" | "string" | "missing"
    v: Any
    exact: Any = True  # numbers: bool or bool array — the value is an exact integer below 2**53
    unc: np.ndarray | None = None  # rows where the result cannot be trusted (recheck per row)


def _or(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    if b is None:
        return a
    return a | b


def _integral(x: Any) -> Any:
    with np.errstate(invalid="ignore"):
        return (np.floor(x) == x) & (np.abs(x) < EXACT_LIMIT)


def _field_kind(path: str) -> str:
    kind = FIELDS[path].type
    if kind in ("number", "integer"):
        return "number"
    if kind == "boolean":
        return "bool"
    if kind == "string":
        return "string"
    return "missing"  # the only list field


Evaluator = Callable[[Columns], _Val]


def _compile(node: tuple) -> tuple[str, Evaluator]:
    """(static kind, evaluator). Raises `Untranslatable` for anything outside the subset."""
    tag = node[0]
    if tag == "lit":
        _, kind, value = node
        exact = bool(kind == "number" and float(value).is_integer() and abs(value) < EXACT_LIMIT)
        const = _Val(kind, value, exact)
        return kind, lambda cols: const
    if tag == "field":
        path = node[1]
        kind = _field_kind(path)
        if kind == "number":

            def number(cols: Columns) -> _Val:
                v = cols[path].values
                return _Val("number", v, _integral(v))

            return kind, number
        return kind, lambda cols: _Val(kind, cols[path].values)
    if tag == "not":
        kind, inner = _compile(node[1])
        if kind != "bool":
            raise Untranslatable("not of a non-boolean")

        def negate(cols: Columns) -> _Val:
            x = inner(cols)
            return _Val("bool", np.logical_not(x.v), unc=x.unc)

        return "bool", negate
    if tag == "neg":
        kind, inner = _compile(node[1])
        if kind != "number":
            raise Untranslatable("minus of a non-number")

        def minus(cols: Columns) -> _Val:
            x = inner(cols)
            return _Val("number", -x.v, x.exact, x.unc)

        return "number", minus
    if tag in ("and", "or"):
        lk, left = _compile(node[1])
        rk, right = _compile(node[2])
        if lk != "bool" or rk != "bool":
            raise Untranslatable(f"{tag} of non-booleans")
        op = np.logical_and if tag == "and" else np.logical_or

        def logic(cols: Columns) -> _Val:
            a, b = left(cols), right(cols)
            return _Val("bool", op(a.v, b.v), unc=_or(a.unc, b.unc))

        return "bool", logic
    if tag == "arith":
        _, sym, ln, rn = node
        lk, left = _compile(ln)
        rk, right = _compile(rn)
        if lk != "number" or rk != "number":
            raise Untranslatable("arithmetic on non-numbers")
        return "number", _arith(sym, left, right)
    if tag == "call":
        _, name, args = node
        if name == "abs" and len(args) == 1:
            kind, inner = _compile(args[0])
            if kind != "number":
                raise Untranslatable("abs of a non-number")

            def absolute(cols: Columns) -> _Val:
                x = inner(cols)
                return _Val("number", np.abs(x.v), x.exact, x.unc)

            return "number", absolute
        if name == "len" and len(args) == 1 and args[0] == ("field", "signals.missing"):

            def count(cols: Columns) -> _Val:
                m = cols["signals.missing"].values
                return _Val("number", sum(m[s].astype(np.float64) for s in SIGNAL_NAMES), True)

            return "number", count
        raise Untranslatable(f"function {name}")
    if tag == "cmp":
        _, sym, ln, rn = node
        lk, left = _compile(ln)
        rk, right = _compile(rn)
        return "bool", _comparison(sym, lk, left, rk, right)
    if tag == "in":
        return "bool", _membership(node[1], node[2])
    raise Untranslatable(tag)


def _arith(sym: str, left: Evaluator, right: Evaluator) -> Evaluator:
    def run(cols: Columns) -> _Val:
        a, b = left(cols), right(cols)
        unc = _or(a.unc, b.unc)
        with np.errstate(all="ignore"):
            if sym == "+":
                v = a.v + b.v
            elif sym == "-":
                v = a.v - b.v
            elif sym == "*":
                v = a.v * b.v
            else:
                zero = np.asarray(b.v == 0)
                if zero.any():
                    shape = np.broadcast(np.asarray(a.v), zero).shape
                    unc = _or(unc, np.broadcast_to(zero, shape).copy())
                v = a.v / np.where(zero, 1.0, b.v)
            v = np.asarray(v, dtype=np.float64)
            bad = ~np.isfinite(v) | (np.abs(v) > OVERFLOW_LIMIT)
        if bad.any():
            unc = _or(unc, bad)
        exact = (
            a.exact & b.exact & _integral(v)
            if sym == "/"
            else a.exact & b.exact & (np.abs(v) < EXACT_LIMIT)
        )
        return _Val("number", v, exact, unc)

    return run


_CMP: dict[str, Callable[[Any, Any], Any]] = {
    "==": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}


def _near(a: _Val, b: _Val) -> np.ndarray | None:
    """Rows where a float comparison might not be the decimal one: not both exact, and close."""
    both_exact = a.exact & b.exact
    if both_exact is True or (isinstance(both_exact, np.ndarray) and both_exact.all()):
        return None
    with np.errstate(all="ignore"):
        scale = np.maximum(1.0, np.maximum(np.abs(a.v), np.abs(b.v)))
        close = np.abs(np.asarray(a.v) - np.asarray(b.v)) <= TOLERANCE * scale
    near = close & ~np.asarray(both_exact)
    return near if near.any() else None


def _comparison(sym: str, lk: str, left: Evaluator, rk: str, right: Evaluator) -> Evaluator:
    if lk != rk or lk == "missing":
        raise Untranslatable("comparison of different types")
    if lk in ("bool", "string") and sym not in ("==", "!="):
        raise Untranslatable(f"{sym} on {lk}")
    op = _CMP[sym]

    def run(cols: Columns) -> _Val:
        a, b = left(cols), right(cols)
        unc = _or(a.unc, b.unc)
        if lk == "number":
            unc = _or(unc, _near(a, b))
        return _Val("bool", np.asarray(op(a.v, b.v), dtype=bool), unc=unc)

    return run


def _membership(item: tuple, container: tuple) -> Evaluator:
    if container[0] == "field":
        # Only `'name' in signals.missing`.
        if container[1] != "signals.missing" or item[0] != "lit" or item[1] != "string":
            raise Untranslatable("`in` a field other than signals.missing")
        name = item[2]

        def missing(cols: Columns) -> _Val:
            m = cols["signals.missing"].values
            n = len(next(iter(m.values())))
            return _Val("bool", m[name].copy() if name in m else np.zeros(n, dtype=bool))

        return missing
    kind, value = _compile(item)
    if container[0] == "interval":
        _, lo, hi, lo_closed, hi_closed = container
        if kind != "number" or lo[1] != "number" or hi[1] != "number":
            raise Untranslatable("interval of non-numbers")
        lo_eval = _comparison(
            ">=" if lo_closed else ">", "number", value, "number", _compile(lo)[1]
        )
        hi_eval = _comparison(
            "<=" if hi_closed else "<", "number", value, "number", _compile(hi)[1]
        )

        def interval(cols: Columns) -> _Val:
            a, b = lo_eval(cols), hi_eval(cols)
            return _Val("bool", a.v & b.v, unc=_or(a.unc, b.unc))

        return interval
    items = container[1]
    if any(lit[1] != kind for lit in items):
        raise Untranslatable("list of another type")
    tests = [_comparison("==", kind, value, kind, _compile(lit)[1]) for lit in items]

    def member(cols: Columns) -> _Val:
        out: np.ndarray | None = None
        unc: np.ndarray | None = None
        for test in tests:
            r = test(cols)
            out = r.v if out is None else out | r.v
            unc = _or(unc, r.unc)
        return _Val("bool", out, unc=unc)

    return member


# ---- rules and policies -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VectorRule:
    """One rule of a policy: its position, what it reads, and its column evaluator (None: the
    rule runs per row with `Rule.evaluate`, and `reason` says why)."""

    index: int
    rule: Rule
    reads: tuple[str, ...]
    evaluate: Evaluator | None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class VectorPolicy:
    policy: Policy
    rules: tuple[VectorRule, ...]

    @property
    def reads(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for r in self.rules:
            for path in r.reads:
                seen.setdefault(path, None)
        return tuple(seen)

    @property
    def per_row(self) -> tuple[VectorRule, ...]:
        return tuple(r for r in self.rules if r.evaluate is None)


@dataclass(frozen=True, slots=True)
class ChunkRules:
    """Per-rule results over a chunk, shape (rows, rules). `recheck[i, k]`: rule k could not be
    decided column-wise for row i (the caller evaluates it per row and fills fired/error)."""

    fired: np.ndarray
    error: np.ndarray
    recheck: np.ndarray


def _builtin_expressions() -> dict[str, str]:
    from decisioning.rules.builtin import BUILTIN_RULES

    return {r.key: r.condition for r in BUILTIN_RULES}


def expression_of(rule: Rule, policy: Policy) -> str | None:
    """The condition's source text: attached by `compile_condition`; for the Python built-in
    policy, the rule language's own version of it (the probe check confirms they agree)."""
    text = getattr(rule.condition, "expression", None)
    if text:
        return str(text)
    if policy is BUILTIN_POLICY:
        return _builtin_expressions().get(rule.id)
    return None


def compile_rule(index: int, rule: Rule, policy: Policy, *, probes: int = 256) -> VectorRule:
    text = expression_of(rule, policy)
    if text is None:
        return VectorRule(index, rule, rule.reads, None, "no expression text")
    try:
        tree = parse_expression(text)
        kind, evaluate = _compile(tree)
        if kind != "bool":
            raise Untranslatable("not a true/false condition")
        reads = tuple(rule.reads)
        for path in reads:
            if path not in FIELDS:
                raise Untranslatable(f"unknown field {path}")
        vr = VectorRule(index, rule, reads, evaluate)
        mismatch = _probe_mismatch(vr, tree, probes)
        if mismatch:
            return VectorRule(index, rule, rule.reads, None, f"probe mismatch: {mismatch}")
        return vr
    except Untranslatable as e:
        return VectorRule(index, rule, rule.reads, None, str(e))


def compile_vector_policy(policy: Policy) -> VectorPolicy:
    return VectorPolicy(
        policy, tuple(compile_rule(i, r, policy) for i, r in enumerate(policy.rules))
    )


class _Cache:
    """Vector policies by policy object (policies themselves are cached per version + content hash
    by `compiler.POLICIES`, so the same object comes back for the same version)."""

    def __init__(self, size: int = 32) -> None:
        self._items: OrderedDict[int, tuple[Policy, VectorPolicy]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, policy: Policy) -> VectorPolicy:
        with self._lock:
            hit = self._items.get(id(policy))
            if hit is not None and hit[0] is policy:
                self._items.move_to_end(id(policy))
                return hit[1]
        vp = compile_vector_policy(policy)
        with self._lock:
            self._items[id(policy)] = (policy, vp)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return vp


VECTOR_POLICIES = _Cache()


def evaluate_chunk(vp: VectorPolicy, cols: Columns, n: int) -> ChunkRules:
    """Fired / error / recheck for every (row, rule). Rules without an evaluator are all recheck."""
    k = len(vp.rules)
    fired = np.zeros((n, k), dtype=bool)
    error = np.zeros((n, k), dtype=bool)
    recheck = np.zeros((n, k), dtype=bool)
    for r in vp.rules:
        if r.evaluate is None:
            recheck[:, r.index] = True
            continue
        null = np.zeros(n, dtype=bool)
        for path in r.reads:
            col_null = cols[path].null
            if col_null is not None:
                null |= col_null
        out = r.evaluate(cols)
        value = np.broadcast_to(np.asarray(out.v, dtype=bool), (n,))
        unc = np.zeros(n, dtype=bool) if out.unc is None else np.broadcast_to(out.unc, (n,))
        error[:, r.index] = null
        recheck[:, r.index] = unc & ~null
        fired[:, r.index] = value & ~null & ~unc
    return ChunkRules(fired=fired, error=error, recheck=recheck)


# ---- columns from contexts (probes, tests) ----------------------------------------------------------


def columns_from_contexts(
    contexts: Sequence[Mapping[str, Mapping[str, Any]]], reads: Sequence[str]
) -> dict[str, Column]:
    """Columns of the given rule contexts (the shape of `modeling.features.rule_context`).
    Slow (per value); the batch engine builds its columns directly from the chunk."""
    n = len(contexts)
    out: dict[str, Column] = {}
    for path in reads:
        ns, _, name = path.partition(".")
        raw = [ctx.get(ns, {}).get(name) for ctx in contexts]
        null = np.array([v is None for v in raw], dtype=bool)
        kind = _field_kind(path)
        if kind == "number":
            values: Any = np.array([0.0 if v is None else float(v) for v in raw], dtype=np.float64)
        elif kind == "bool":
            values = np.array([bool(v) for v in raw], dtype=bool)
        elif kind == "string":
            values = np.array(["" if v is None else str(v) for v in raw], dtype=object)
        else:
            values = {s: np.array([s in (v or ()) for v in raw], dtype=bool) for s in SIGNAL_NAMES}
        out[path] = Column(values, null if null.any() else None)
    if "signals.missing" not in out:
        out["signals.missing"] = Column({s: np.zeros(n, dtype=bool) for s in SIGNAL_NAMES})
    return out


def _literals(tree: Any) -> list[Any]:
    found: list[Any] = []
    if isinstance(tree, tuple):
        if tree and tree[0] == "lit":
            found.append(tree[2])
        else:
            for part in tree:
                found += _literals(part)
    elif isinstance(tree, list):
        for part in tree:
            found += _literals(part)
    return found


def probe_contexts(
    reads: Sequence[str], literals: Sequence[Any], n: int, seed: int = 0
) -> list[dict[str, dict[str, Any]]]:
    """Rule contexts mixing typical values, the expression's own literals and their neighbours,
    small integers, and missing values, for the compile-time agreement check."""
    rng = random.Random(seed)
    numbers = [0.0, 1.0, -1.0, 0.5, 17.0, 18.0, 100.0, 1e6, 0.1 + 0.2]
    for lit in literals:
        if isinstance(lit, float):
            numbers += [lit, lit + 1, lit - 1, lit + 0.5, lit - 0.5, lit * 2, lit + 1e-12]
    texts = [lit for lit in literals if isinstance(lit, str)]
    base = sample_context()
    out = []
    for _ in range(n):
        ctx = {ns: dict(v) for ns, v in base.items()}
        for path in reads:
            ns, _, name = path.partition(".")
            f = FIELDS[path]
            r = rng.random()
            if path == "signals.missing":
                ctx[ns][name] = [s for s in SIGNAL_NAMES if rng.random() < 0.3]
                continue
            if r < 0.08:
                ctx[ns][name] = None
                continue
            if f.type in ("number", "integer"):
                v = rng.choice(numbers)
                ctx[ns][name] = int(v) if f.type == "integer" and float(v).is_integer() else v
            elif f.type == "boolean":
                ctx[ns][name] = rng.random() < 0.5
            elif f.type == "string":
                ctx[ns][name] = rng.choice([*f.choices, *texts, str(f.example), "x"])
        out.append(ctx)
    return out


def _probe_mismatch(vr: VectorRule, tree: tuple, n: int) -> str:
    contexts = probe_contexts(vr.reads, _literals(tree), n)
    cols = columns_from_contexts(contexts, vr.reads)
    vp = VectorPolicy(BUILTIN_POLICY, (VectorRule(0, vr.rule, vr.reads, vr.evaluate),))
    res = evaluate_chunk(vp, cols, n)
    for i, ctx in enumerate(contexts):
        if res.recheck[i, 0]:
            continue
        real = vr.rule.evaluate(ctx)
        if (real.fired, bool(real.error)) != (bool(res.fired[i, 0]), bool(res.error[i, 0])):
            return f"row {i}: per-row fired={real.fired} error={real.error!r}"
    return ""
