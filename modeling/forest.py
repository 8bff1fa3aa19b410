"""A booster's trees as flat numpy arrays: one application's PD and reason contributions in about
fifty vector operations, no call into xgboost (issue 11).

Why: a decision scores one row. xgboost answers it through a 1-row DMatrix, a thread-local
prediction cache and a per-call recomputation of every node's mean value (~175 us of CPU, more in
a busy worker); the arithmetic itself is 200 trees x 4 levels. Here every node's comparison is
done at once (one gather over all nodes), each tree then follows its path in one gather per level,
and the contributions are the path's changes of node mean value (Saabas, what xgboost's
`approx_contribs=True` computes).

Exactness: everything is float32 in xgboost's order — the margin is the base margin plus the
leaves added tree by tree, each tree's contributions are summed along its path and then added to
the total tree by tree, node mean values are computed bottom-up as xgboost does, and the PD is
`1 / (1 + expf(-margin))` with the C library's own `expf`. `XGBoostScorer` checks a forest against
xgboost bit for bit on probe rows when it loads a model and keeps xgboost's own calls on any
difference (or for anything this does not model: categorical splits, other objectives, several
outputs); `tests/modeling/test_model_scoring.py` compares hundreds of rows bit for bit.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import json

import numpy as np
import xgboost as xgb

_libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
_expf = _libm.expf
_expf.restype = ctypes.c_float
_expf.argtypes = [ctypes.c_float]
_ONE = np.float32(1.0)


class Unsupported(ValueError):
    """The booster uses something the flat forest does not model."""


class FlatForest:
    def __init__(self, booster: xgb.Booster, n_features: int) -> None:
        model = json.loads(bytes(booster.save_raw(raw_format="json")))
        learner = model["learner"]
        params = learner["learner_model_param"]
        if learner["objective"]["name"] != "binary:logistic":
            raise Unsupported(f"objective {learner['objective']['name']}")
        if int(params.get("num_class", 0)) > 1 or int(params.get("num_target", 1)) != 1:
            raise Unsupported("several outputs")
        booster_model = learner["gradient_booster"]
        if booster_model.get("name") != "gbtree":
            raise Unsupported(f"booster {booster_model.get('name')}")
        trees = booster_model["model"]["trees"]
        if not trees:
            raise Unsupported("no trees")
        if any(t.get("categories_nodes") or any(t.get("split_type", [])) for t in trees):
            raise Unsupported("categorical splits")
        base_score = np.float32(float(str(params["base_score"]).strip("[]")))
        # binary:logistic's ProbToMargin, in float32
        self._base_margin = np.float32(-np.log(np.float32(_ONE / base_score - _ONE)))
        self._n = n_features

        sizes = [len(t["left_children"]) for t in trees]
        offsets = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
        total = int(sum(sizes))
        left = np.empty(total, np.int64)
        right = np.empty(total, np.int64)
        feature = np.empty(total, np.int64)
        cond = np.empty(total, np.float32)
        default_left = np.empty(total, bool)
        hess = np.empty(total, np.float32)
        for t, off, size in zip(trees, offsets, sizes, strict=True):
            own = np.arange(off, off + size)
            lc = np.asarray(t["left_children"], np.int64)
            rc = np.asarray(t["right_children"], np.int64)
            leaf = lc == -1
            left[own] = np.where(leaf, own, lc + off)  # a leaf is its own child: paths just stop
            right[own] = np.where(leaf, own, rc + off)
            feature[own] = np.where(leaf, 0, np.asarray(t["split_indices"], np.int64))
            cond[own] = np.asarray(t["split_conditions"], np.float32)  # a leaf's value, at a leaf
            default_left[own] = np.asarray(t["default_left"], bool)
            hess[own] = np.asarray(t["sum_hessian"], np.float32)
        if feature.max() >= n_features:
            raise Unsupported("a split on a feature the scorer does not have")
        self._left, self._right, self._feature = left, right, feature
        self._cond, self._default_left = cond, default_left
        self._is_leaf = left == np.arange(total)
        self._roots = offsets
        self._mean = self._mean_values(hess)
        self._depth = self._max_depth()
        self._path_contribs = self._leaf_contributions()

    def _mean_values(self, hess: np.ndarray) -> np.ndarray:
        """xgboost's FillNodeMeanValues: leaves their value; an inner node the hessian-weighted
        mean of its children, `(l * h_l + r * h_r) / h`, all in float32."""
        mean = np.zeros(len(self._cond), np.float32)
        for root in self._roots:
            stack, order = [int(root)], []
            while stack:  # children after parents, then walked backwards: children first
                nid = stack.pop()
                order.append(nid)
                if not self._is_leaf[nid]:
                    stack += [int(self._left[nid]), int(self._right[nid])]
            for nid in reversed(order):
                if self._is_leaf[nid]:
                    mean[nid] = self._cond[nid]
                else:
                    lc, rc = self._left[nid], self._right[nid]
                    value = np.float32(mean[lc] * hess[lc])
                    value = np.float32(value + np.float32(mean[rc] * hess[rc]))
                    mean[nid] = np.float32(value / hess[nid])
        return mean

    def _max_depth(self) -> int:
        depth, frontier = 0, self._roots.copy()
        while True:
            inner = frontier[~self._is_leaf[frontier]]
            if inner.size == 0:
                return depth
            frontier = np.concatenate((self._left[inner], self._right[inner]))
            depth += 1

    def _leaf_contributions(self) -> np.ndarray:
        """Per node, the contributions of the path from its tree's root when it is the leaf
        reached: a (nodes, n) float32 table, rows of inner nodes unused. Each row is summed exactly
        as walking the path does it — `self._depth` steps, each adding the change of node mean
        value to the split feature's entry in float32, a reached leaf adding its own zero change —
        so looking a row up gives the walk's result bit for bit."""
        table = np.zeros((len(self._cond), self._n), np.float32)
        mean, feature = self._mean, self._feature
        for root in self._roots:
            stack = [(int(root), [int(root)])]
            while stack:
                nid, path = stack.pop()
                if not self._is_leaf[nid]:
                    stack += [(int(self._left[nid]), [*path, int(self._left[nid])]),
                              (int(self._right[nid]), [*path, int(self._right[nid])])]
                    continue
                path = path + [nid] * (self._depth + 1 - len(path))  # a leaf is its own child
                acc = table[nid]
                for node, child in itertools.pairwise(path):
                    f = feature[node]
                    acc[f] = np.float32(acc[f] + np.float32(mean[child] - mean[node]))
        return table

    def score(self, x: np.ndarray) -> tuple[float, list[float]]:
        """PD and the contributions of one float32 row (features only, no bias)."""
        value = x[self._feature]
        go_left = np.where(np.isnan(value), self._default_left, value < self._cond)
        step = np.where(go_left, self._left, self._right)
        node = self._roots
        for _ in range(self._depth):
            node = step[node]
        margin = np.cumsum(np.concatenate(((self._base_margin,), self._cond[node])), dtype=np.float32)[-1]
        pd = float(_ONE / (_ONE + np.float32(_expf(float(-margin)))))
        return pd, np.cumsum(self._path_contribs[node], axis=0, dtype=np.float32)[-1].tolist()

    def probe_rows(self, rows: int = 128, seed: int = 7) -> np.ndarray:
        """Rows that exercise the forest's edges: each value one of its feature's split points,
        exactly or one float32 step either side, or missing, or far out."""
        rng = np.random.default_rng(seed)
        inner = ~self._is_leaf
        x = np.empty((rows, self._n), np.float32)
        for j in range(self._n):
            points = self._cond[inner & (self._feature == j)]
            if points.size == 0:
                points = np.asarray([0.0], np.float32)
            v = rng.choice(points, size=rows)
            nudge = rng.integers(0, 3, size=rows)
            v = np.where(nudge == 1, np.nextafter(v, np.float32(np.inf)), v)
            v = np.where(nudge == 2, np.nextafter(v, np.float32(-np.inf)), v)
            kind = rng.random(rows)
            v = np.where(kind < 0.1, np.nan, v)
            v = np.where((kind >= 0.1) & (kind < 0.15), rng.standard_normal(rows) * 1e6, v)
            x[:, j] = v
        return np.ascontiguousarray(x)
