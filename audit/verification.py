"""Verifying the chain as a recorded act: who asked, when, and what was found."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.models import VerificationRun
from audit.selectors import chain_verify, missing_triggers
from audit.services import Actor, audit_record, chain_seal


def verification_start(*, user: Any | None, source: str) -> VerificationRun:
    """Record that a verification was asked for and hand it to a worker (inline when eager)."""
    from audit import tasks

    run = VerificationRun.objects.create(
        requested_by=user if user is not None and user.is_authenticated else None,
        requested_by_display=_display(user, source),
        source=source,
        started_at=timezone.now(),
    )
    transaction.on_commit(lambda: tasks.chain_verify_task.delay(run.pk))
    return run


def verification_execute(*, run_id: int) -> VerificationRun:
    """Seal what is pending, recompute the whole chain, check the triggers, store the result
    and write an `audit.verified` event. Idempotent: a finished run is returned as it is."""
    claimed = VerificationRun.objects.filter(pk=run_id, finished_at__isnull=True).exists()
    run = VerificationRun.objects.get(pk=run_id)
    if not claimed:
        return run
    try:
        chain_seal()
        check = chain_verify()
        missing = missing_triggers()
    except Exception as e:
        VerificationRun.objects.filter(pk=run_id).update(
            status=VerificationRun.Status.ERROR,
            finished_at=timezone.now(),
            problem=f"{type(e).__name__}: {e}"[:2000],
        )
        raise
    status = (
        VerificationRun.Status.PASSED if check.ok and not missing else VerificationRun.Status.FAILED
    )
    problem = check.problem
    if missing:
        problem = (
            (problem + "; " if problem else "")
            + "immutability triggers missing: "
            + ", ".join(missing)
        )
    actor = (
        Actor.for_user(run.requested_by)
        if run.requested_by
        else Actor.system(run.requested_by_display)
    )
    with transaction.atomic():
        VerificationRun.objects.filter(pk=run_id, finished_at__isnull=True).update(
            status=status,
            finished_at=timezone.now(),
            checked=check.checked,
            first_bad_seq=check.first_bad_seq,
            first_bad_position=check.first_bad_position,
            problem=problem,
            head_seq=check.head_position,
            head_hash=check.head_hash,
            triggers_ok=not missing,
            missing_triggers=missing,
        )
        audit_record(
            actor=actor,
            event_type="audit.verified",
            subject_type="audit_chain",
            subject_id="main",
            payload={
                "run_id": run_id,
                "status": status,
                "checked": check.checked,
                "first_bad_seq": check.first_bad_seq,
                "first_bad_position": check.first_bad_position,
                "problem": problem,
                "head_position": check.head_position,
                "head_hash": check.head_hash,
                "missing_triggers": missing,
            },
        )
    run.refresh_from_db()
    return run


def verification_run_now(*, user: Any | None, source: str) -> VerificationRun:
    """Start and execute in this process (the CLI)."""
    with transaction.atomic():
        run = VerificationRun.objects.create(
            requested_by=user,
            requested_by_display=_display(user, source),
            source=source,
            started_at=timezone.now(),
        )
    return verification_execute(run_id=run.pk)


def _display(user: Any | None, source: str) -> str:
    if user is not None and getattr(user, "is_authenticated", False):
        return (user.get_full_name() or user.get_username())[:150]
    return f"system ({source})"
