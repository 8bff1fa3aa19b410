"""Batch state changes: create, plan, run a chunk, finish. Keyword-only; each writes its audit
event in its own transaction (docs/batches.md).

Exactly-once per item rests on three things, in this order:
1. a chunk is claimed with a conditional UPDATE (pending, or running with an expired lease) that
   stamps a fresh claim token;
2. a chunk is finished in one transaction that first flips it to done *only if the token is still
   ours* and then writes its results and advances the batch counters — a worker killed before
   commit leaves nothing behind, and a slow worker whose lease was taken over loses the race and
   writes nothing;
3. the (batch, item) unique constraint on results backs both up in the database.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
import os
import uuid
from collections.abc import Callable
from typing import Any, BinaryIO

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.services import Actor, audit_record
from config.errors import ApplicationError, NotFound
from decisioning import selectors
from decisioning.batches import sources, storage
from decisioning.batches.engine import ChunkResults, ChunkStats, ItemResult, Timings, decide_chunk
from decisioning.models import Batch, BatchChunk, IntegrationClient, Product

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
MAX_ERROR_SAMPLES = 20
MAX_ITEMS = 10_000_000
PLAN_PAGE = 500  # chunk rows written per bulk insert while planning


class ChunkRetry(Exception):
    """A chunk failed for a reason that may pass (the task retries it with backoff)."""


def lease_seconds() -> int:
    return int(getattr(settings, "BATCH_LEASE_SECONDS", None) or os.environ.get("BATCH_LEASE_SECONDS") or 120)


def lower_priority(nice: int | None = None) -> int:
    """Lower this process's CPU priority to `nice` (default `BATCH_NICE`, 19: the lowest), so that a batch
    worker sharing cores with the web workers yields to live decisions. One-way (an unprivileged
    process cannot raise it back): call it only in processes that are batch workers — the Celery
    task does on a real worker (never in eager mode, where the worker is the web process), and
    `run_batch` and the benchmark do for their own workers. Returns the resulting niceness."""
    target = int(os.environ.get("BATCH_NICE", "19")) if nice is None else nice
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if target > current:
        os.nice(target - current)
    return os.getpriority(os.PRIO_PROCESS, 0)


# ---- create -------------------------------------------------------------------------------------


def _check_versions(*, product: Product, ruleset_version: str, model_version: str) -> None:
    errors: dict[str, list[str]] = {}
    if ruleset_version:
        try:
            selectors.policy_for_version(product=product, version=ruleset_version)
        except NotFound:
            errors["ruleset_version"] = [f"No published or retired version {ruleset_version!r} of {product.code}."]
    if model_version:
        scorer, error = _scorer_version(product, model_version)
        if scorer is None:
            errors["model_version"] = [f"Model version {model_version!r} cannot be loaded: {error}"]
    if errors:
        raise ApplicationError("The what-if versions are not available.", errors=errors)


def batch_create(
    *,
    product: Product,
    source: str,
    actor: Actor,
    client: IntegrationClient | None = None,
    user: Any = None,
    date_from: dt.datetime | None = None,
    date_to: dt.datetime | None = None,
    generate_count: int | None = None,
    seed: int = 1,
    upload: BinaryIO | None = None,
    ruleset_version: str = "",
    model_version: str = "",
    chunk_size: int = 5000,
    dispatch: bool = True,
    now: dt.datetime | None = None,
) -> Batch:
    """Queue a batch; with `dispatch`, planning starts on the `batches` queue after commit."""
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    if source not in Batch.Source.values:
        errors["source"] = [f"One of {', '.join(Batch.Source.values)}."]
    if source == Batch.Source.GENERATED and not (generate_count and 0 < generate_count <= MAX_ITEMS):
        errors["count"] = [f"Between 1 and {MAX_ITEMS:,} applications."]
    if source == Batch.Source.UPLOAD and upload is None:
        errors["file"] = ["Upload a CSV of applications."]
    if date_from and date_to and date_from >= date_to:
        errors["date_to"] = ["Must be after date_from."]
    if not 100 <= chunk_size <= 50_000:
        errors["chunk_size"] = ["Between 100 and 50,000."]
    if errors:
        raise ApplicationError("The batch request is invalid; see `errors`.", errors=errors)
    _check_versions(product=product, ruleset_version=ruleset_version, model_version=model_version)

    upload_path = ""
    if source == Batch.Source.UPLOAD and upload is not None:
        upload_path = _save_upload(upload)
    if source == Batch.Source.STORED and (date_to is None or date_to > now):
        date_to = now  # freeze the selection: later decisions are not part of this batch

    with transaction.atomic():
        batch = Batch.objects.create(
            product=product, source=source, client=client,
            requested_by=user if getattr(user, "pk", None) else None,
            date_from=date_from if source == Batch.Source.STORED else None,
            date_to=date_to if source == Batch.Source.STORED else None,
            generate_count=generate_count if source == Batch.Source.GENERATED else None,
            seed=seed, upload_path=upload_path, as_of=now.date(),
            requested_ruleset_version=ruleset_version, requested_model_version=model_version,
            chunk_size=chunk_size,
        )
        audit_record(
            actor=actor, event_type="batch.created", subject_type="batch", subject_id=str(batch.pk),
            payload={
                "product": product.code, "source": source, "date_from": date_from, "date_to": date_to,
                "count": generate_count, "ruleset_version": ruleset_version or "live",
                "model_version": model_version or "champion",
            },
            occurred_at=now,
        )
        if dispatch:
            from decisioning.tasks import batch_plan

            transaction.on_commit(lambda: batch_plan.delay(batch.pk))
    return batch


def _save_upload(upload: BinaryIO) -> str:
    import csv

    path = sources.uploads_dir() / f"{uuid.uuid4().hex}.csv"
    with open(path, "wb") as out:
        for block in iter(lambda: upload.read(1 << 20), b""):
            out.write(block if isinstance(block, bytes) else block.encode())
    with open(path, encoding="utf-8-sig", newline="") as f:
        header = next(csv.reader([f.readline()]), [])
    try:
        sources.check_csv_header(header)
    except sources.CsvHeaderError as e:
        path.unlink(missing_ok=True)
        raise ApplicationError("The CSV header is not valid.", errors={"file": [str(e)]}) from e
    return str(path)


# ---- plan ---------------------------------------------------------------------------------------


def _scorer_version(product: Product, version: str) -> tuple[Any | None, str]:
    from modeling.serving import get_scorer, get_scorer_version

    champion, _ = get_scorer(product.code)
    if champion is not None and str(champion.model_version) == version:
        return champion, ""
    return get_scorer_version(product.code, version)


def _fail(batch_id: int, message: str) -> None:
    with transaction.atomic():
        updated = Batch.objects.filter(pk=batch_id, status__in=[Batch.Status.QUEUED, Batch.Status.RUNNING]).update(
            status=Batch.Status.FAILED, error=message[:2000], finished_at=timezone.now()
        )
        if updated:
            audit_record(actor=Actor.system("batches"), event_type="batch.finished", subject_type="batch",
                         subject_id=str(batch_id), payload={"status": "failed", "error": message[:500]})


def batch_plan(*, batch_id: int) -> list[int] | None:
    """Freeze the policy and model versions, split the selection into chunks and start the batch.
    Idempotent: only a queued batch is planned; it all commits together or not at all."""
    batch = Batch.objects.select_related("product").filter(pk=batch_id, status=Batch.Status.QUEUED).first()
    if batch is None:
        return None
    product = batch.product
    try:
        if batch.requested_ruleset_version:
            policy = selectors.policy_for_version(product=product, version=batch.requested_ruleset_version)
        else:
            policy = selectors.policy_for_product(product=product)
        if batch.requested_model_version:
            scorer, error = _scorer_version(product, batch.requested_model_version)
        else:
            scorer, error = selectors.scorer_for_product(product=product)
        if scorer is None:
            raise RuntimeError(f"model unavailable: {error}")
    except (ApplicationError, RuntimeError) as e:
        _fail(batch_id, getattr(e, "message", str(e)))
        return None

    now = timezone.now()
    with transaction.atomic():
        claimed = Batch.objects.filter(pk=batch_id, status=Batch.Status.QUEUED).update(
            status=Batch.Status.RUNNING, started_at=now, ruleset_version=policy.version,
            model_name=scorer.model_name, model_version=str(scorer.model_version),
        )
        if not claimed:
            return None
        seq, total, page = 0, 0, []
        for spec in sources.plan(batch):
            page.append(BatchChunk(batch_id=batch_id, seq=seq, start=spec.start, size=spec.size,
                                   after_key=spec.after_key, last_key=spec.last_key,
                                   byte_offset=spec.byte_offset))
            seq += 1
            total += spec.size
            if len(page) == PLAN_PAGE:
                BatchChunk.objects.bulk_create(page)
                page = []
        BatchChunk.objects.bulk_create(page)
        Batch.objects.filter(pk=batch_id).update(total=total, chunks_total=seq)
        audit_record(
            actor=Actor.system("batches"), event_type="batch.started", subject_type="batch",
            subject_id=str(batch_id),
            payload={"total": total, "chunks": seq, "ruleset_version": policy.version,
                     "model": f"{scorer.model_name}:{scorer.model_version}",
                     "what_if": batch.is_what_if},
            occurred_at=now,
        )
    if seq == 0:
        batch_finalize(batch_id=batch_id)
    return list(BatchChunk.objects.filter(batch_id=batch_id).order_by("seq").values_list("pk", flat=True))


# ---- run a chunk --------------------------------------------------------------------------------


def chunk_claim(*, chunk_id: int, lease: int | None = None) -> str | None:
    """Claim a chunk (pending, or running with an expired lease). The claim token, or None."""
    now = timezone.now()
    token = uuid.uuid4().hex
    claimed = (
        BatchChunk.objects.filter(pk=chunk_id, batch__status=Batch.Status.RUNNING)
        .filter(Q(status=BatchChunk.Status.PENDING) | Q(status=BatchChunk.Status.RUNNING, lease_until__lt=now))
        .update(status=BatchChunk.Status.RUNNING, claim_token=token, attempts=F("attempts") + 1,
                lease_until=now + dt.timedelta(seconds=lease if lease is not None else lease_seconds()))
    )
    return token if claimed else None


def _policy_and_scorer(batch: Batch) -> tuple[Any, Any]:
    policy = selectors.policy_for_version(product=batch.product, version=batch.ruleset_version)
    scorer, error = _scorer_version(batch.product, batch.model_version)
    if scorer is None:
        raise ChunkRetry(f"model {batch.model_version} unavailable: {error}")
    return policy, scorer


@contextlib.contextmanager
def gc_paused() -> Any:
    """Python's cyclic garbage collector off for the duration of one chunk.

    A chunk allocates ~100 container objects per application (applications, signals, Decimals,
    results) and almost no reference cycles; each gen-2 collection the allocations trigger walks
    every object of the process (~400 k in a worker: Django, xgboost, MLflow, the model). Measured
    in a batch worker: generating a chunk costs 41 us an application with the collector on, 26 us
    with it paused. Memory stays flat: a chunk's objects are freed by reference counting, and the
    collector runs again (catching any cycle) as soon as the chunk is done.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def chunk_process(*, chunk_id: int, token: str, method: str | None = None, timings: Timings | None = None) -> str:
    """Decide and store a claimed chunk. "done", or "lost" when another worker took it over."""
    with gc_paused():
        return _chunk_process(chunk_id=chunk_id, token=token, method=method, timings=timings)


def _chunk_process(*, chunk_id: int, token: str, method: str | None, timings: Timings | None) -> str:
    chunk = BatchChunk.objects.select_related("batch__product").get(pk=chunk_id)
    batch = chunk.batch
    t = Timings()
    policy, scorer = _policy_and_scorer(batch)  # loaded once per process, then cached
    mark = t.now()
    items, failed = sources.load_items(batch, chunk)
    t.stop("load", mark)
    results = decide_chunk(items, policy=policy, scorer=scorer, timings=t)
    if failed:
        results.extend(ChunkResults.from_items(
            [ItemResult(n, ref, None, "", None, None, None, None, "", "", None, error=err) for n, ref, err in failed]
        ))
    mark = t.now()
    stats = results.stats()
    samples: list[dict[str, Any]] = [
        {"item": results.item[i], "reference": results.reference[i], "error": results.error[i]}
        for i in range(len(results)) if results.error[i]
    ][:MAX_ERROR_SAMPLES]
    try:
        with transaction.atomic():
            finished = BatchChunk.objects.filter(
                pk=chunk_id, status=BatchChunk.Status.RUNNING, claim_token=token
            ).update(status=BatchChunk.Status.DONE, finished_at=timezone.now(), lease_until=None,
                     stats={**stats.to_dict(), "error_samples": samples}, error="")
            if not finished:
                return "lost"
            storage.store(batch.pk, results, method=method)
            recorded = Timings.from_dict(t.as_dict())
            recorded.stop("storage", mark)  # up to here; the commit follows
            BatchChunk.objects.filter(pk=chunk_id).update(
                timings={**recorded.as_dict(), "per_row": results.per_row, "rule_rechecks": results.rule_rechecks}
            )
            Batch.objects.filter(pk=batch.pk).update(
                done=F("done") + stats.count, errors=F("errors") + stats.errors,
                chunks_done=F("chunks_done") + 1,
            )
    except IntegrityError:
        # Another claim of this chunk already stored these items: nothing duplicated, nothing lost.
        logger.warning("batch %s chunk %s: results already stored; discarding this run", batch.pk, chunk.seq)
        return "lost"
    t.stop("storage", mark)  # with the commit
    if timings is not None:
        timings.add(t)
    return "done"


def chunk_run(*, chunk_id: int, method: str | None = None, lease: int | None = None) -> str:
    """Claim, decide, store; finish the batch when this was its last chunk. Idempotent."""
    token = chunk_claim(chunk_id=chunk_id, lease=lease)
    if token is None:
        return "skipped"
    try:
        status = chunk_process(chunk_id=chunk_id, token=token, method=method)
    except Exception as e:
        _chunk_failed(chunk_id=chunk_id, token=token, error=e)
        raise
    _maybe_finalize(chunk_id=chunk_id)
    return status


def _chunk_failed(*, chunk_id: int, token: str, error: Exception) -> None:
    """Release the chunk for a retry, or mark it failed after MAX_ATTEMPTS."""
    logger.exception("batch chunk %s failed", chunk_id)
    message = f"{type(error).__name__}: {error}"[:2000]
    chunk = BatchChunk.objects.filter(pk=chunk_id, claim_token=token, status=BatchChunk.Status.RUNNING).first()
    if chunk is None:
        return
    final = chunk.attempts >= MAX_ATTEMPTS
    BatchChunk.objects.filter(pk=chunk_id, claim_token=token, status=BatchChunk.Status.RUNNING).update(
        status=BatchChunk.Status.FAILED if final else BatchChunk.Status.PENDING, error=message, lease_until=None,
    )
    if final:
        _maybe_finalize(chunk_id=chunk_id)


def _maybe_finalize(*, chunk_id: int) -> None:
    batch_id = BatchChunk.objects.filter(pk=chunk_id).values_list("batch_id", flat=True).first()
    if batch_id is not None and not BatchChunk.objects.filter(
        batch_id=batch_id, status__in=[BatchChunk.Status.PENDING, BatchChunk.Status.RUNNING]
    ).exists():
        batch_finalize(batch_id=batch_id)


def chunk_claim_next(*, batch_id: int, lease: int | None = None) -> tuple[int, str] | None:
    """Claim any available chunk of the batch (in-process workers: `run_batch`, the benchmark)."""
    now = timezone.now()
    while True:
        candidates = list(
            BatchChunk.objects.filter(batch_id=batch_id)
            .filter(Q(status=BatchChunk.Status.PENDING) | Q(status=BatchChunk.Status.RUNNING, lease_until__lt=now))
            .order_by("seq").values_list("pk", flat=True)[:8]
        )
        if not candidates:
            return None
        for pk in candidates:
            token = chunk_claim(chunk_id=pk, lease=lease)
            if token is not None:
                return pk, token


def batch_work(
    *,
    batch_id: int,
    method: str | None = None,
    lease: int | None = None,
    on_chunk: Callable[[], None] | None = None,
    timings: Timings | None = None,
) -> int:
    """Work the batch's chunks in this process until none is left to claim. Chunks done here."""
    n = 0
    while True:
        claim = chunk_claim_next(batch_id=batch_id, lease=lease)
        if claim is None:
            break
        chunk_id, token = claim
        try:
            chunk_process(chunk_id=chunk_id, token=token, method=method, timings=timings)
        except Exception as e:
            _chunk_failed(chunk_id=chunk_id, token=token, error=e)
            if not isinstance(e, ChunkRetry):
                raise
        n += 1
        if on_chunk is not None:
            on_chunk()
    _maybe_finalize_batch(batch_id)
    return n


def _maybe_finalize_batch(batch_id: int) -> None:
    if not BatchChunk.objects.filter(
        batch_id=batch_id, status__in=[BatchChunk.Status.PENDING, BatchChunk.Status.RUNNING]
    ).exists():
        batch_finalize(batch_id=batch_id)


def batch_reclaim(*, batch_id: int | None = None, chunk_id: int | None = None) -> list[int]:
    """Chunks whose worker went away (running, lease expired) of running batches (of one batch, or
    of the batch of `chunk_id`): ids to dispatch again. Claiming them is still conditional, so a
    duplicate dispatch is harmless."""
    qs = BatchChunk.objects.filter(
        batch__status=Batch.Status.RUNNING, status=BatchChunk.Status.RUNNING, lease_until__lt=timezone.now()
    )
    if batch_id is not None:
        qs = qs.filter(batch_id=batch_id)
    if chunk_id is not None:
        qs = qs.filter(batch_id__in=BatchChunk.objects.filter(pk=chunk_id).values("batch_id"))
    return list(qs.values_list("pk", flat=True))


# ---- finish -------------------------------------------------------------------------------------


def batch_finalize(*, batch_id: int) -> bool:
    """Summarise the chunks and close the batch (once: a conditional update)."""
    total = ChunkStats()
    samples: list[dict[str, Any]] = []
    failed = 0
    for status, stats, error in BatchChunk.objects.filter(batch_id=batch_id).values_list("status", "stats", "error"):
        if status == BatchChunk.Status.FAILED:
            failed += 1
            if len(samples) < MAX_ERROR_SAMPLES:
                samples.append({"chunk_error": error[:300]})
            continue
        total.merge(ChunkStats.from_dict({k: v for k, v in stats.items() if k != "error_samples"}))
        samples += stats.get("error_samples", [])[: MAX_ERROR_SAMPLES - len(samples)]
    batch = Batch.objects.get(pk=batch_id)
    now = timezone.now()
    elapsed = (now - batch.started_at).total_seconds() if batch.started_at else 0.0
    throughput = total.count / elapsed if elapsed > 0 else None
    status = Batch.Status.FAILED if failed else Batch.Status.DONE
    summary = total.summary()
    with transaction.atomic():
        closed = Batch.objects.filter(pk=batch_id, status=Batch.Status.RUNNING).update(
            status=status, summary=summary, error_samples=samples, finished_at=now, throughput=throughput,
            error=f"{failed} chunk(s) failed after {MAX_ATTEMPTS} attempts." if failed else "",
        )
        if not closed:
            return False
        audit_record(
            actor=Actor.system("batches"), event_type="batch.finished", subject_type="batch",
            subject_id=str(batch_id),
            payload={"status": status, "count": total.count, "errors": total.errors,
                     "outcomes": summary["outcomes"], "flipped": summary["flipped"],
                     "throughput": round(throughput or 0.0, 1), "seconds": round(elapsed, 3)},
            occurred_at=now,
        )
    return True
