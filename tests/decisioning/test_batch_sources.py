"""Batch sources read their input without model instances or serializers per row, and give exactly
what the reference implementations give (`application_data` + `signals_from_stored` for stored
decisions; the API's serializers and product limits for an uploaded CSV)."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from typing import Any

import pytest

from audit.services import Actor
from decisioning.batches import services, sources
from decisioning.models import Batch, Decision
from decisioning.signals.gateway import signals_from_stored
from decisioning.snapshots import application_data
from tests.decisioning.batch_helpers import decide_some

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")


def _reference_stored(batch: Batch) -> tuple[list[tuple[Any, ...]], list[tuple[int, str, str]]]:
    items, failed = [], []
    qs = sources.stored_selection(batch).order_by("pk").select_related("application")
    for n, d in enumerate(qs):
        try:
            app = application_data(d.application)
            signals = signals_from_stored(d.signals)
        except (ValueError, TypeError, KeyError) as e:
            failed.append((n, d.application.reference, f"{type(e).__name__}: {e}"[:300]))
            continue
        items.append((n, app, dataclasses.replace(signals, records=()), d.created_at.astimezone(dt.UTC).date(),
                      d.application.reference, str(d.application_id), d.outcome, d.pd))
    return items, failed


def _broken(signals: list[dict[str, Any]], how: str) -> Any:
    signals = copy.deepcopy(signals)
    if how == "missing key":
        del signals[0]["fetched_at"]
    elif how == "failed record":
        signals[1]["ok"] = False
    elif how == "bad value":
        next(s for s in signals if s["signal_type"] == "bureau")["response"]["score"] = "high"
    elif how == "bool for int":
        next(s for s in signals if s["signal_type"] == "kyc")["response"]["identity_score"] = True
    elif how == "float for int":
        kyc = next(s for s in signals if s["signal_type"] == "kyc")["response"]
        kyc["identity_score"] = float(kyc["identity_score"])
    elif how == "unknown type":
        signals[2]["signal_type"] = "horoscope"
    elif how == "bad date":
        signals[3]["fetched_at"] = "yesterday"
    elif how == "list response":
        signals[2]["response"] = [1, 2]
    elif how == "not a list":
        signals = {"bureau": 1}
    return signals


def _outcome(f: Any, arg: Any) -> Any:
    try:
        return dataclasses.replace(f(arg), records=())
    except Exception as e:
        return (type(e), str(e))


@pytest.mark.parametrize(
    "how",
    ["intact", "missing key", "failed record", "bad value", "bool for int", "float for int", "unknown type",
     "bad date", "list response", "not a list"],
)
def test_stored_signals_equal_signals_from_stored_or_fail_the_same_way(product: Any, api: Any, how: str) -> None:
    decide_some(api, 2)
    for d in Decision.objects.all():
        # twice: the second call may come from the cache of typed signals
        for _ in range(2):
            stored = _broken(d.signals, how)
            assert _outcome(sources.stored_signals, stored) == _outcome(signals_from_stored, stored)


def test_the_stored_source_gives_what_the_orm_and_signals_from_stored_give(product: Any, api: Any) -> None:
    decide_some(api, 10)
    batch = services.batch_create(product=product, source="stored", actor=SYSTEM, chunk_size=100, dispatch=False)
    batch.chunk_size = 3  # (in memory: below the API's minimum) keyset pages of 3, 3, 3, 1
    specs = list(sources.plan(batch))
    assert [s.size for s in specs] == [3, 3, 3, 1]
    got_items, got_failed = [], []
    for chunk in specs:
        items, failed = sources.load_items(batch, chunk)  # type: ignore[arg-type]
        got_items += [(it.item, it.app, it.signals, it.as_of, it.reference, it.application_id,
                       it.original_outcome, it.original_pd) for it in items]
        got_failed += failed
    want_items, want_failed = _reference_stored(batch)
    assert got_failed == want_failed == []
    assert len(got_items) == 10
    assert got_items == want_items


def _reference_uploaded(batch: Batch, chunk: Any) -> tuple[list[tuple[Any, ...]], list[tuple[int, str, str]]]:
    """The upload source as it was: a serializer instance per row, `simulated_signals` per row."""
    from config.errors import ApplicationError
    from decisioning.apis import DecisionCreateIn, application_from_input
    from decisioning.services import _product_limits_check
    from decisioning.signals.gateway import simulated_signals

    items, failed = [], []
    for i, row in enumerate(sources._csv_rows(batch, chunk)):
        n = chunk.start + i
        reference = (row.get("reference") or "")[:64]
        data_in = DecisionCreateIn(data=sources.request_body_from_row(row, product=batch.product.code))
        if not data_in.is_valid():
            failed.append((n, reference, sources._flatten(data_in.errors)[:300]))
            continue
        app = application_from_input(data_in.validated_data)
        try:
            _product_limits_check(product=batch.product, app=app)
        except ApplicationError as e:
            failed.append((n, reference, sources._flatten(e.errors) or e.message))
            continue
        signals = simulated_signals(app, now=dt.datetime.now(dt.UTC))
        items.append((n, app, dataclasses.replace(signals, records=()), batch.as_of, reference))
    return items, failed


def _csv_text() -> str:
    import csv
    import io

    from modeling.synthetic import generate, to_payload

    end = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    rows = []
    for i, case in enumerate(generate(60, seed=5, start=end - dt.timedelta(days=30), end=end)):
        p = to_payload(case.app)
        p.update(reference=f"R-{i}", amount=p.pop("requested_amount"),
                 uk_resident="true" if p["uk_resident"] else "false",
                 bankrupt_or_iva="true" if p["bankrupt_or_iva"] else "false")
        rows.append(p)
    bad = {  # row -> (column, value): each one of the API's own refusals
        1: ("postcode", "NOT A POSTCODE"), 2: ("annual_income", "-5"), 3: ("residential_status", "castle"),
        4: ("amount", "999999"), 5: ("term_months", "7"), 6: ("date_of_birth", "2999-01-01"),
        7: ("uk_resident", "perhaps"), 8: ("months_at_address", ""), 9: ("first_name", "   "),
        10: ("annual_income", "12.345"), 11: ("dependants", "21"), 12: ("date_of_birth", "1.1.1980"),
        13: ("postcode", " sw1a 1aa "), 14: ("first_name", "  Ann  "), 15: ("bankrupt_or_iva", ""),
        16: ("amount", "1e3"), 17: ("term_months", "36.0"), 18: ("purpose", "Car"),
        19: ("date_of_birth", "1890-01-01"), 20: ("last_name", "x" * 101),
    }
    for i, (column, value) in bad.items():
        rows[i][column] = value
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(sources.CSV_COLUMNS))
    w.writeheader()
    w.writerows(rows)
    return out.getvalue()


def test_the_upload_source_gives_what_a_serializer_per_row_and_simulated_signals_give(product: Any) -> None:
    import io

    batch = services.batch_create(product=product, source="upload", actor=SYSTEM,
                                  upload=io.BytesIO(_csv_text().encode()), chunk_size=100, dispatch=False)
    batch.chunk_size = 25  # (in memory) three chunks: byte offsets other than the first
    specs = list(sources.plan(batch))
    assert [s.size for s in specs] == [25, 25, 10]
    got_items, got_failed, want_items, want_failed = [], [], [], []
    for chunk in specs:
        items, failed = sources.load_items(batch, chunk)  # type: ignore[arg-type]
        got_items += [(it.item, it.app, it.signals, it.as_of, it.reference) for it in items]
        got_failed += failed
        w_items, w_failed = _reference_uploaded(batch, chunk)
        want_items += w_items
        want_failed += w_failed
    assert got_failed == want_failed
    assert got_items == want_items
    assert 12 <= len(got_failed) <= 20 and len(got_items) + len(got_failed) == 60
