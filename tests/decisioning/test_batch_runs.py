"""Batch runs through the services: end to end, stored with flips, what-if, a killed worker."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Actor
from decisioning.batches import services
from decisioning.models import Batch, BatchChunk, BatchResult, Decision
from modeling.serving import set_scorer_version
from tests.conftest import PRODUCT_CODE
from tests.decisioning.batch_helpers import ShiftedScorer, decide_some

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")


def generated(product: Any, n: int, *, chunk_size: int = 100, **kw: Any) -> Batch:
    return services.batch_create(product=product, source="generated", actor=SYSTEM, generate_count=n,
                                 chunk_size=chunk_size, dispatch=False, **kw)


def no_duplicates(batch: Batch) -> None:
    rows = BatchResult.objects.filter(batch=batch)
    assert rows.count() == batch.total
    assert rows.values("item").distinct().count() == batch.total
    assert set(rows.values_list("item", flat=True)) == set(range(batch.total))


def test_it_runs_a_generated_batch_on_celery(product: Any, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        batch = services.batch_create(product=product, source="generated", actor=SYSTEM, generate_count=250, chunk_size=100)
    batch.refresh_from_db()
    assert batch.status == "done", batch.error
    assert (batch.total, batch.done, batch.errors, batch.chunks_total, batch.chunks_done) == (250, 250, 0, 3, 3)
    assert sum(batch.summary["outcomes"].values()) == 250
    assert batch.ruleset_version == "builtin-1" and batch.model_version == "1"
    assert batch.throughput and batch.throughput > 0
    no_duplicates(batch)
    events = list(AuditEvent.objects.filter(subject_type="batch", subject_id=str(batch.pk)).values_list("event_type", flat=True))
    assert sorted(events) == ["batch.created", "batch.finished", "batch.started"]


def test_it_regenerates_the_same_applications_for_the_same_seed(product: Any) -> None:
    a, b = generated(product, 120, seed=3), generated(product, 120, seed=3)
    for batch in (a, b):
        services.batch_plan(batch_id=batch.pk)
        services.batch_work(batch_id=batch.pk)
    rows = lambda batch: list(BatchResult.objects.filter(batch=batch).order_by("item").values_list("outcome", "pd"))  # noqa: E731
    assert rows(a) == rows(b)


def test_it_rescores_stored_decisions_and_finds_no_flips_under_the_same_policy_and_model(
    product: Any, api: Any, other_api: Any
) -> None:
    mine = decide_some(api, 8)
    decide_some(other_api, 2)  # another client's: not in a client's batch
    batch = services.batch_create(product=product, source="stored", actor=SYSTEM, chunk_size=100, dispatch=False)
    services.batch_plan(batch_id=batch.pk)
    services.batch_work(batch_id=batch.pk)
    batch.refresh_from_db()
    assert batch.total == 10 and batch.status == "done"
    s = batch.summary
    assert s["compared"] == 10 and s["flipped"] == 0
    assert s["score_shift"]["mean_abs_shift"] == 0.0  # replay-exact PDs
    by_app = {str(d.application_id): d for d in Decision.objects.all()}
    for r in BatchResult.objects.filter(batch=batch):
        d = by_app[str(r.application_id)]
        assert (r.outcome, r.pd, r.original_outcome) == (d.outcome, d.pd, d.outcome)
    assert {m["reference"] for m in mine} <= set(BatchResult.objects.values_list("reference", flat=True))


def test_it_scopes_a_clients_stored_batch_to_its_own_decisions(product: Any, api: Any, other_api: Any, integration: Any) -> None:
    decide_some(api, 3)
    decide_some(other_api, 2)
    batch = services.batch_create(product=product, source="stored", actor=SYSTEM, client=integration[0], chunk_size=100, dispatch=False)
    services.batch_plan(batch_id=batch.pk)
    services.batch_work(batch_id=batch.pk)
    batch.refresh_from_db()
    assert batch.total == 3


def test_it_runs_a_what_if_model_version_and_reports_flips_and_shift(product: Any, api: Any, trained_scorer: Any) -> None:
    decide_some(api, 10)
    set_scorer_version(PRODUCT_CODE, "2", ShiftedScorer(trained_scorer, shift=0.3, version="2"))
    batch = services.batch_create(product=product, source="stored", actor=SYSTEM, model_version="2", chunk_size=100, dispatch=False)
    services.batch_plan(batch_id=batch.pk)
    services.batch_work(batch_id=batch.pk)
    batch.refresh_from_db()
    assert batch.is_what_if and batch.model_version == "2"
    s = batch.summary
    assert s["score_shift"]["mean_shift"] > 0.2
    assert s["flipped"] > 0 and s["outcomes"]["approve"] < sum(s["flip_matrix"]["approve"].values())


def test_it_refuses_unknown_what_if_versions(product: Any) -> None:
    from config.errors import ApplicationError

    with pytest.raises(ApplicationError) as e:
        generated(product, 10, ruleset_version="personal-loan-v99", model_version="77")
    assert set(e.value.errors) == {"ruleset_version", "model_version"}


def test_it_survives_a_worker_killed_midway_without_duplicates(product: Any) -> None:
    batch = generated(product, 500, chunk_size=100)
    chunk_ids = services.batch_plan(batch_id=batch.pk)
    # A worker claims chunk 2 and dies before finishing it (nothing of it is committed).
    dead_token = services.chunk_claim(chunk_id=chunk_ids[2])
    assert dead_token is not None
    services.batch_work(batch_id=batch.pk)  # the other workers carry on
    batch.refresh_from_db()
    assert batch.status == "running" and batch.done == 400
    assert services.batch_reclaim(batch_id=batch.pk) == []  # lease not yet expired

    BatchChunk.objects.filter(pk=chunk_ids[2]).update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    assert services.batch_reclaim(batch_id=batch.pk) == [chunk_ids[2]]
    assert services.chunk_run(chunk_id=chunk_ids[2]) == "done"

    batch.refresh_from_db()
    assert batch.status == "done" and batch.done == 500 and batch.chunks_done == 5
    assert BatchChunk.objects.get(pk=chunk_ids[2]).attempts == 2
    no_duplicates(batch)
    # The "dead" worker comes back and tries to finish with its old claim: it writes nothing.
    assert services.chunk_process(chunk_id=chunk_ids[2], token=dead_token) == "lost"
    assert services.chunk_run(chunk_id=chunk_ids[2]) == "skipped"  # a redelivered message
    no_duplicates(batch)
    batch.refresh_from_db()
    assert batch.done == 500


def test_it_retries_a_failing_chunk_then_marks_it_failed(product: Any, monkeypatch: Any) -> None:
    batch = generated(product, 200, chunk_size=100)
    chunk_ids = services.batch_plan(batch_id=batch.pk)

    def broken(*a: Any, **k: Any) -> Any:
        raise services.ChunkRetry("model store unreachable")

    monkeypatch.setattr(services, "_policy_and_scorer", broken)
    for _ in range(services.MAX_ATTEMPTS):
        with pytest.raises(services.ChunkRetry):
            services.chunk_run(chunk_id=chunk_ids[0])
    chunk = BatchChunk.objects.get(pk=chunk_ids[0])
    assert chunk.status == "failed" and chunk.attempts == services.MAX_ATTEMPTS
    monkeypatch.undo()
    services.chunk_run(chunk_id=chunk_ids[1])
    batch.refresh_from_db()
    assert batch.status == "failed" and "1 chunk(s) failed" in batch.error
    assert BatchResult.objects.filter(batch=batch).count() == 100


CSV = (
    "reference,first_name,last_name,date_of_birth,postcode,uk_resident,residential_status,months_at_address,"
    "employment_status,months_in_employment,annual_income,monthly_expenditure,existing_debt,"
    "monthly_debt_payments,dependants,bankrupt_or_iva,amount,term_months,purpose\n"
    "U-1,Grace,Patel,1985-04-12,LS1 4AP,true,mortgage,96,employed,72,52000.00,900.00,1000.00,50.00,0,false,5000.00,36,car\n"
    "U-2,Oliver,Smith,2015-01-01,LS1 4AP,true,rent,12,employed,12,30000.00,900.00,0,0,0,false,5000.00,36,car\n"
    "U-3,Ava,Jones,1970-02-03,NOT A CODE,true,owner,100,retired,0,20000.00,600.00,0,0,0,false,3000.00,24,holiday\n"
    "U-4,Noah,Brown,1990-06-07,M1 1AA,true,rent,30,employed,40,41000.00,1100.00,2000.00,80.00,1,,90000.00,36,car\n"
)


def test_it_decides_an_uploaded_csv_and_reports_bad_rows(product: Any) -> None:
    batch = services.batch_create(product=product, source="upload", actor=SYSTEM, upload=io.BytesIO(CSV.encode()), chunk_size=100, dispatch=False)
    services.batch_plan(batch_id=batch.pk)
    services.batch_work(batch_id=batch.pk)
    batch.refresh_from_db()
    assert (batch.status, batch.total, batch.errors) == ("done", 4, 2)
    rows = {r.reference: r for r in BatchResult.objects.filter(batch=batch)}
    assert rows["U-1"].outcome in ("approve", "refer", "decline") and not rows["U-1"].error
    assert rows["U-2"].outcome == "decline" and "UNDER_18" in rows["U-2"].reasons
    assert "postcode" in rows["U-3"].error
    assert "requested_amount" in rows["U-4"].error  # outside the product's limits
    assert {e["reference"] for e in batch.error_samples} == {"U-3", "U-4"}


def test_it_refuses_a_csv_with_unknown_columns(product: Any) -> None:
    from config.errors import ApplicationError

    with pytest.raises(ApplicationError) as e:
        services.batch_create(product=product, source="upload", actor=SYSTEM, upload=io.BytesIO(b"reference,shoe_size\nA,9\n"), dispatch=False)
    assert "shoe_size" in e.value.errors["file"][0]


@pytest.mark.parametrize("method", ["bulk", "copy"])
def test_it_stores_the_same_rows_with_bulk_create_and_copy(product: Any, method: str) -> None:
    if method == "copy" and connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL only")
    batch = generated(product, 150, seed=9)
    services.batch_plan(batch_id=batch.pk)
    services.batch_work(batch_id=batch.pk, method=method)
    batch.refresh_from_db()
    assert batch.status == "done"
    no_duplicates(batch)
    counts = dict(BatchResult.objects.filter(batch=batch).values_list("outcome").annotate(n=Count("pk")))
    assert counts == {k: v for k, v in batch.summary["outcomes"].items() if v}


def test_it_runs_a_chunk_in_a_constant_number_of_queries(product: Any, django_assert_max_num_queries: Any) -> None:
    batch = generated(product, 400, chunk_size=400)
    (chunk_id,) = services.batch_plan(batch_id=batch.pk)
    # Claim, load, store (one bulk insert), finish the chunk, then close the batch and audit it.
    with django_assert_max_num_queries(25):
        services.chunk_run(chunk_id=chunk_id)


def test_it_copies_awkward_text_exactly(product: Any) -> None:
    """COPY's text format: tabs, newlines, backslashes and a literal backslash-N survive as text;
    None is NULL."""
    from decimal import Decimal

    from decisioning.batches import storage
    from decisioning.batches.engine import ChunkResults, ItemResult

    if connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL only")
    batch = generated(product, 10)
    awkward = ["tab\there", "new\nline", "back\\slash", "\\N", "cr\rx", "é ünïcode"]
    rows = [
        ItemResult(i, ref, None, "refer", 0.1 + i / 100, 0.05, 0.2, Decimal("1234.50") if i % 2 else None,
                   "A B", "", None, error="" if i % 3 else ref)
        for i, ref in enumerate(awkward)
    ]
    storage.store(batch.pk, ChunkResults.from_items(rows), method="copy")
    stored = {r.item: r for r in BatchResult.objects.filter(batch=batch)}
    for r in rows:
        s = stored[r.item]
        assert (s.reference, s.error, s.pd, s.original_pd) == (r.reference, r.error, r.pd, None)
        assert s.approved_amount == r.approved_amount


def test_it_finds_a_dead_workers_chunk_from_any_chunk_of_its_batch(product: Any) -> None:
    batch = generated(product, 300, chunk_size=100)
    chunk_ids = services.batch_plan(batch_id=batch.pk)
    assert services.chunk_claim(chunk_id=chunk_ids[1]) is not None
    BatchChunk.objects.filter(pk=chunk_ids[1]).update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    other = generated(product, 100, chunk_size=100)
    (other_chunk,) = services.batch_plan(batch_id=other.pk)
    assert services.batch_reclaim(chunk_id=chunk_ids[0]) == [chunk_ids[1]]
    assert services.batch_reclaim(chunk_id=other_chunk) == []


def test_the_chunk_task_lowers_its_workers_priority_only_on_a_real_worker(product: Any, monkeypatch: Any) -> None:
    import os

    from decisioning.tasks import batch_chunk

    calls: list[int] = []
    monkeypatch.setattr(os, "nice", lambda inc: calls.append(inc) or 0)
    monkeypatch.setattr(os, "getpriority", lambda *a: 0)
    batch = generated(product, 200, chunk_size=100)
    first, second = services.batch_plan(batch_id=batch.pk)
    assert batch_chunk.apply(args=(first,)).get() == "done"  # eager: the web process, never niced
    assert calls == []
    monkeypatch.setenv("BATCH_NICE", "7")
    batch_chunk.push_request(is_eager=False)  # as a worker runs it
    try:
        assert batch_chunk.run(second) == "done"
    finally:
        batch_chunk.pop_request()
    assert calls == [7]


def test_a_starting_worker_rearms_the_watchdog_of_running_batches(product: Any, monkeypatch: Any, settings: Any) -> None:
    from decisioning import tasks

    batch = generated(product, 200, chunk_size=100)
    services.batch_plan(batch_id=batch.pk)
    sent: list[tuple] = []
    monkeypatch.setattr(tasks.batch_watch, "apply_async", lambda args, countdown: sent.append((args, countdown)))
    settings.CELERY_TASK_ALWAYS_EAGER = False
    tasks._rearm_batch_watchdogs()
    assert sent == [((batch.pk,), 0)]
