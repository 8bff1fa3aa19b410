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
