"""The vectorised chunk decision equals `decide` row for row (no database)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from decisioning.batches.engine import BatchItem, ChunkStats, ItemResult, decide_items
from decisioning.engine.pipeline import decide
from decisioning.engine.policy import BUILTIN_POLICY
from modeling.synthetic import generate

END = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def test_it_matches_decide_row_for_row(trained_scorer: Any) -> None:
    cases = generate(300, seed=5, start=END - dt.timedelta(days=30), end=END)
    items = [BatchItem(item=i, app=c.app, signals=c.signals, as_of=c.app.submitted_at.date()) for i, c in enumerate(cases)]
    results = decide_items(items, policy=BUILTIN_POLICY, scorer=trained_scorer)
    assert len({r.outcome for r in results}) == 3  # the sample exercises every outcome
    for item, r in zip(items, results, strict=True):
        one = decide(item.app, signals=item.signals, policy=BUILTIN_POLICY, scorer=trained_scorer, as_of=item.as_of)
        assert (r.outcome, r.pd, r.pd_lower, r.pd_upper) == (one.outcome.value, one.pd, one.pd_lower, one.pd_upper)
        assert r.approved_amount == one.approved_amount
        # Rule and system reasons are the same; batches leave out the model's top factors.
        assert r.reasons.split() == [x.code for x in one.reasons if x.source != "model"]


def test_it_refers_every_row_without_a_model() -> None:
    cases = generate(5, seed=6, start=END - dt.timedelta(days=30), end=END)
    items = [BatchItem(item=i, app=c.app, signals=c.signals, as_of=END.date()) for i, c in enumerate(cases)]
    results = decide_items(items, policy=BUILTIN_POLICY, scorer=None)
    assert {r.outcome for r in results} <= {"refer", "decline"}
    assert all("MODEL_UNAVAILABLE" in r.reasons for r in results if r.outcome == "refer")


def test_it_adds_up_chunk_statistics() -> None:
    def result(item: int, outcome: str, pd: float, original: str, original_pd: float) -> ItemResult:
        return ItemResult(item, "", None, outcome, pd, pd, pd, None, "", original, original_pd)

    a, b = ChunkStats(), ChunkStats()
    a.add(result(0, "approve", 0.05, "approve", 0.04))
    a.add(result(1, "decline", 0.30, "refer", 0.20))
    b.add(result(2, "refer", 0.10, "approve", 0.07))
    b.add(ItemResult(3, "", None, "", None, None, None, None, "", "", None, error="bad row"))
    total = ChunkStats.from_dict(a.to_dict())
    total.merge(ChunkStats.from_dict(b.to_dict()))
    s = total.summary()
    assert s["count"] == 4 and s["errors"] == 1
    assert s["outcomes"] == {"approve": 1, "refer": 1, "decline": 1}
    assert s["flipped"] == 2 and s["compared"] == 3
    assert s["flip_matrix"]["refer"]["decline"] == 1
    assert abs(s["score_shift"]["mean_shift"] - (0.01 + 0.10 + 0.03) / 3) < 1e-12
