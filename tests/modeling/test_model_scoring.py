from __future__ import annotations

import dataclasses

import numpy as np

from modeling.features import build_vector


def _vectors(cases: list, n: int = 200) -> list:
    return [build_vector(c.app, c.signals, as_of=c.app.submitted_at.date()) for c in cases[:n]]


def test_it_scores_like_the_vectorised_path(modeling_cases: list, modeling_scorer: object) -> None:
    vectors = _vectors(modeling_cases)
    X = np.array([v.values for v in vectors])
    batch = modeling_scorer.score_matrix(X)  # type: ignore[attr-defined]
    single = [modeling_scorer.score(v).pd for v in vectors]  # type: ignore[attr-defined]
    assert np.allclose(batch, single, rtol=1e-6, atol=1e-7)


def test_it_gives_reasons_only_for_adverse_contributions(
    modeling_cases: list, modeling_scorer: object
) -> None:
    biases = []
    for v in _vectors(modeling_cases):
        s = modeling_scorer.score(v)  # type: ignore[attr-defined]
        contributions = dict(s.contributions)
        assert len(s.reasons) <= 4
        assert len({r.code for r in s.reasons}) == len(s.reasons)
        weights = [r.weight for r in s.reasons]
        assert weights == sorted(weights, reverse=True)
        for r in s.reasons:
            assert r.weight > 0
            assert r.source == "model"
            assert r.weight in contributions.values()
        # features' contributions + a constant bias add up to the PD's log-odds
        biases.append(np.log(s.pd / (1 - s.pd)) - sum(contributions.values()))
    assert np.ptp(biases) < 1e-4


def test_it_brackets_the_pd_with_the_interval(
    modeling_cases: list, modeling_scorer: object
) -> None:
    for v in _vectors(modeling_cases):
        s = modeling_scorer.score(v)  # type: ignore[attr-defined]
        assert 0.0 <= s.pd_lower <= s.pd <= s.pd_upper <= 1.0
    assert modeling_scorer.interval.n_bootstrap == 3  # type: ignore[attr-defined]


def test_it_reorders_features_by_name(modeling_cases: list, modeling_scorer: object) -> None:
    v = _vectors(modeling_cases, 1)[0]
    shuffled = dataclasses.replace(v, names=v.names[::-1], values=v.values[::-1])
    a = modeling_scorer.score(v)  # type: ignore[attr-defined]
    b = modeling_scorer.score(shuffled)  # type: ignore[attr-defined]
    assert a.pd == b.pd


def _wrapper(scorer: object, x: np.ndarray) -> tuple[float, list[float]]:
    """What xgboost's Python API answers for one float32 row."""
    import xgboost as xgb

    booster = scorer.booster  # type: ignore[attr-defined]
    pd = float(booster.inplace_predict(x)[0])
    contribs = booster.predict(xgb.DMatrix(x, nthread=1), pred_contribs=True, approx_contribs=True)[0]
    return pd, [float(c) for c in contribs[:-1]]


def test_direct_xgboost_calls_answer_bit_for_bit_like_the_python_api(
    modeling_cases: list, modeling_scorer: object
) -> None:
    scorer = modeling_scorer
    assert scorer._forest is not None  # type: ignore[attr-defined]  # the fast paths are in use
    assert scorer._native is not None  # type: ignore[attr-defined]
    vectors = _vectors(modeling_cases, 300)
    rng = np.random.default_rng(5)
    wild = rng.standard_normal((300, len(vectors[0].values))) * rng.choice([0.1, 10.0, 1e4], size=(300, 1))
    wild[rng.random(wild.shape) < 0.15] = np.nan
    vectors += [dataclasses.replace(vectors[0], values=tuple(float(v) for v in row)) for row in wild]
    for v in vectors:
        s = scorer.score(v)  # type: ignore[attr-defined]
        pd, contribs = _wrapper(scorer, np.asarray(v.values, dtype=np.float32).reshape(1, -1))
        assert s.pd == pd
        assert [c for _, c in s.contributions] == contribs
    X = np.asarray([v.values for v in vectors], dtype=np.float32)
    expected = [float(p) for p in scorer.booster.inplace_predict(X)]  # type: ignore[attr-defined]
    assert scorer.pd_only(vectors) == expected  # type: ignore[attr-defined]


def test_a_scorer_whose_direct_calls_disagree_keeps_the_python_api(
    modeling_cases: list, modeling_scorer: object, monkeypatch: object
) -> None:
    from modeling import scoring

    monkeypatch.setattr(scoring._NativeCalls, "pds", lambda self, x: [0.5] * x.shape[0])  # type: ignore[attr-defined]
    monkeypatch.setattr(scoring.FlatForest, "score", lambda self, x: (0.5, [0.0] * len(x)))  # type: ignore[attr-defined]
    s = modeling_scorer
    copy = scoring.XGBoostScorer(
        s.booster, model_name=s.model_name, model_version=s.model_version, model_hash=s.model_hash,  # type: ignore[attr-defined]
        feature_names=s.feature_names, interval=s.interval, reason_map=s.reason_map,  # type: ignore[attr-defined]
        feature_version=s.feature_version,  # type: ignore[attr-defined]
    )
    assert copy._native is None and copy._forest is None
    for v in _vectors(modeling_cases, 20):
        x = np.asarray(v.values, dtype=np.float32).reshape(1, -1)
        assert copy.score(v).pd == _wrapper(s, x)[0] != 0.5


def test_a_pickled_scorer_scores_identically_with_its_direct_calls(modeling_cases: list, modeling_scorer: object) -> None:
    import pickle

    copy = pickle.loads(pickle.dumps(modeling_scorer))
    assert copy._native is not None
    for v in _vectors(modeling_cases, 50):
        assert copy.score(v) == modeling_scorer.score(v)  # type: ignore[attr-defined]


def test_the_flat_forest_walks_every_edge_like_xgboost(modeling_scorer: object) -> None:
    """Split points exactly, one float32 step either side, missing and far-out values."""
    import xgboost as xgb

    forest = modeling_scorer._forest  # type: ignore[attr-defined]
    booster = modeling_scorer.booster  # type: ignore[attr-defined]
    X = forest.probe_rows(rows=2000, seed=99)
    pds = booster.inplace_predict(X)
    contribs = booster.predict(xgb.DMatrix(X, nthread=1), pred_contribs=True, approx_contribs=True)
    for i in range(len(X)):
        pd, features = forest.score(X[i])
        assert pd == float(pds[i])
        assert features == [float(c) for c in contribs[i][:-1]]


def test_what_the_flat_forest_does_not_model_is_refused() -> None:
    import pytest
    import xgboost as xgb

    from modeling.forest import FlatForest, Unsupported

    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((200, 3)), rng.standard_normal(200)
    booster = xgb.train({"objective": "reg:squarederror", "max_depth": 2}, xgb.DMatrix(X, label=y), 3)
    with pytest.raises(Unsupported, match="objective"):
        FlatForest(booster, 3)
