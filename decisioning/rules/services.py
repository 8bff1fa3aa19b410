"""Rule-set state changes. Each is keyword-only, atomic, checks the caller's role, and writes its
audit event in the same transaction as the change.

`user=None` means the system itself (management commands, seeding): shell access already
implies every right, so no role is checked, and the audit actor is the system.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit.services import Actor, audit_record
from config.errors import ApplicationError, Conflict
from decisioning.models import (
    Product,
    ReasonCode,
    RuleDefinition,
    RuleSet,
    RuleSetSimulation,
    RuleSetTestCase,
    RuleSetVersion,
)
from decisioning.rules import selectors as rule_selectors
from decisioning.rules.builtin import (
    APPROVE_MAX_PD,
    BUILTIN_RULES,
    DECLINE_MIN_PD,
    builtin_test_cases,
)
from decisioning.rules.checks import Finding, check_version, errors
from decisioning.rules.compiler import RuleSpec, TestCaseSpec, VersionSpec, content_hash
from decisioning.rules.diff import diff_versions
from decisioning.rules.language import ConditionError, parse
from decisioning.rules.testcases import run_case

logger = logging.getLogger(__name__)
Status = RuleSetVersion.Status
EDIT, PUBLISH = "decisioning.edit_policy", "decisioning.publish_policy"
DEFAULT_SAMPLE_SIZE = 1000
MAX_SAMPLE_SIZE = 50_000


class Forbidden(ApplicationError):
    status_code = 403

    def __init__(self, message: str) -> None:
        super().__init__(message, code="permission_denied")


def _actor(user: Any | None) -> Actor:
    return Actor.system("rules") if user is None else Actor.for_user(user)


def _require(user: Any | None, perm: str, what: str) -> None:
    if user is not None and not user.has_perm(perm):
        raise Forbidden(f"You may not {what}.")


def _lock(version: RuleSetVersion) -> RuleSetVersion:
    """Re-read the version under a row lock: every transition and edit is serialised per version."""
    return (
        RuleSetVersion.objects.select_for_update()
        .select_related("rule_set__product")
        .get(pk=version.pk)
    )


def _require_draft(version: RuleSetVersion) -> None:
    if version.status != Status.DRAFT:
        raise Conflict(
            f"{version.label} is {version.get_status_display().lower()}: it can no longer change. "
            "Clone it into a new draft instead.",
            code="version_immutable",
        )


def _subject(version: RuleSetVersion) -> dict[str, str]:
    return {"subject_type": "ruleset_version", "subject_id": version.label}


def _label(product: Product, number: int) -> str:
    return f"{product.code}-v{number}"


def _next_number(rule_set: RuleSet) -> int:
    # The rule set row is locked by the caller, so two clones cannot take the same number.
    return (rule_set.versions.aggregate(n=Max("number"))["n"] or 0) + 1


def _write_rules(version: RuleSetVersion, rules: tuple[RuleSpec, ...] | list[RuleSpec]) -> None:
    for r in rules:
        RuleDefinition.objects.create(
            version=version,
            key=r.key,
            name=r.name,
            description=r.description,
            condition=r.condition,
            action=r.action,
            parameter=r.parameter,
            reason_code_id=r.reason_code,
            order=r.order,
            enabled=r.enabled,
        )


def _write_cases(version: RuleSetVersion, cases: Any) -> None:
    for c in cases:
        RuleSetTestCase.objects.create(
            version=version,
            name=c.name,
            application=dict(c.application),
            model_pd=c.model_pd,
            signal_overrides=dict(c.signal_overrides),
            expected_outcome=c.expected_outcome,
            expected_reasons=list(c.expected_reasons),
        )


def _new_version(
    *,
    rule_set: RuleSet,
    user: Any | None,
    approve_max_pd: float,
    decline_min_pd: float,
    rules: Any,
    cases: Any,
    change_summary: str,
    based_on: RuleSetVersion | None,
) -> RuleSetVersion:
    number = _next_number(rule_set)
    version = RuleSetVersion.objects.create(
        rule_set=rule_set,
        number=number,
        label=_label(rule_set.product, number),
        approve_max_pd=approve_max_pd,
        decline_min_pd=decline_min_pd,
        change_summary=change_summary,
        based_on=based_on,
        created_by=user,
    )
    _write_rules(version, rules)
    _write_cases(version, cases)
    return version


def _known_reasons() -> set[str]:
    return set(ReasonCode.objects.filter(is_active=True).values_list("code", flat=True))


# ---- checks and tests ---------------------------------------------------------------------------


def ruleset_check(*, version: RuleSetVersion) -> list[Finding]:
    """Static checks of the version's current content (stored on drafts for the admin)."""
    findings = check_version(rule_selectors.version_spec(version), known_reasons=_known_reasons())
    if version.status == Status.DRAFT:
        RuleSetVersion.objects.filter(pk=version.pk).update(
            check_findings=[f.as_dict() for f in findings]
        )
        version.check_findings = [f.as_dict() for f in findings]
    return findings


def _parse_application(body: Any) -> Any:
    from decisioning.apis import DecisionCreateIn, application_from_input

    serializer = DecisionCreateIn(data=body)
    if not serializer.is_valid():
        raise ValueError(f"application is not a valid request body: {dict(serializer.errors)}")
    return application_from_input(serializer.validated_data)


def _run_tests(version: RuleSetVersion, *, now: dt.datetime) -> dict[str, Any]:
    policy = rule_selectors.compiled_policy(version)
    results = []
    for _row, spec in rule_selectors.test_case_specs(version):
        try:
            app = _parse_application(spec.application)
        except ValueError as e:
            results.append({"name": spec.name, "passed": False, "error": str(e)})
            continue
        results.append(run_case(spec, app, policy, now=now))
    digest = version.content_hash or content_hash(rule_selectors.version_spec(version))
    return {
        "content_hash": digest,
        "ran_at": now.isoformat(),
        "total": len(results),
        "passed": sum(1 for r in results if r["passed"]),
        "failed": sum(1 for r in results if not r["passed"]),
        "results": results,
    }


def ruleset_run_tests(
    *, version: RuleSetVersion, user: Any | None, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Run the version's test cases and keep the report on the version (not content: a frozen
    version's report can be refreshed)."""
    _require(user, EDIT, "run rule-set tests")
    now = now or timezone.now()
    with transaction.atomic():
        version = _lock(version)
        report = _run_tests(version, now=now)
        RuleSetVersion.objects.filter(pk=version.pk).update(test_report=report)
        audit_record(
            actor=_actor(user),
            event_type="ruleset.tests_run",
            **_subject(version),
            payload={
                "content_hash": report["content_hash"],
                "total": report["total"],
                "failed": report["failed"],
            },
            occurred_at=now,
        )
    return report


def _refuse_unless_tests_pass(report: dict[str, Any], action: str) -> None:
    if report["total"] == 0:
        raise ApplicationError(
            f"Cannot {action}: the version has no test cases.", code="no_test_cases"
        )
    if report["failed"]:
        failing = [r["name"] for r in report["results"] if not r["passed"]]
        raise ApplicationError(
            f"Cannot {action}: {report['failed']} of {report['total']} test cases fail.",
            code="tests_failing",
            errors={"test_cases": failing},
        )


# ---- drafting -----------------------------------------------------------------------------------


def ruleset_create(
    *, product: Product, user: Any | None, now: dt.datetime | None = None
) -> RuleSet:
    """Give a product its rule set. Version 1 is the built-in policy, published at once, so creating
    a rule set changes no decision and the product always has exactly one published version."""
    _require(user, PUBLISH, "create rule sets")
    now = now or timezone.now()
    with transaction.atomic():
        if RuleSet.objects.filter(product=product).exists():
            raise Conflict(f"{product.code} already has a rule set.", code="exists")
        rule_set = RuleSet.objects.create(product=product, name=f"{product.name} credit policy")
        version = _new_version(
            rule_set=rule_set,
            user=user,
            approve_max_pd=APPROVE_MAX_PD,
            decline_min_pd=DECLINE_MIN_PD,
            rules=BUILTIN_RULES,
            cases=builtin_test_cases(product.code),
            change_summary="The built-in policy (builtin-1), as the starting point.",
            based_on=None,
        )
        audit_record(
            actor=_actor(user),
            event_type="ruleset.created",
            subject_type="rule_set",
            subject_id=product.code,
            payload={"product": product.code, "version": version.label},
            occurred_at=now,
        )
        _submit(version, user=user, now=now)
        _publish(version, user=user, now=now, simulation=None, event="ruleset.published")
    return rule_set


def ruleset_version_clone(
    *, version: RuleSetVersion, user: Any | None, change_summary: str = ""
) -> RuleSetVersion:
    """A new draft with the content of `version` (rules, cut-offs, test cases)."""
    _require(user, EDIT, "draft rule-set changes")
    with transaction.atomic():
        rule_set = (
            RuleSet.objects.select_for_update()
            .select_related("product")
            .get(pk=version.rule_set_id)
        )
        spec = rule_selectors.version_spec(version)
        draft = _new_version(
            rule_set=rule_set,
            user=user,
            approve_max_pd=spec.approve_max_pd,
            decline_min_pd=spec.decline_min_pd,
            rules=spec.rules,
            cases=[s for _, s in rule_selectors.test_case_specs(version)],
            change_summary=change_summary,
            based_on=version,
        )
        ruleset_check(version=draft)
        audit_record(
            actor=_actor(user),
            event_type="ruleset.draft_created",
            **_subject(draft),
            payload={"based_on": version.label, "based_on_hash": version.content_hash},
        )
    return draft


def _audit_draft_change(version: RuleSetVersion, *, before: VersionSpec, user: Any | None) -> None:
    after = rule_selectors.version_spec(version)
    changes = diff_versions(before, after)
    cutoffs = [c for c in changes if c.kind == "cutoff"]
    rest = [c for c in changes if c.kind != "cutoff"]
    if cutoffs:
        audit_record(
            actor=_actor(user),
            event_type="cutoffs.changed",
            **_subject(version),
            payload={"changes": [c.as_dict() for c in cutoffs]},
        )
    if rest:
        audit_record(
            actor=_actor(user),
            event_type="ruleset.draft_changed",
            **_subject(version),
            payload={"changes": [c.as_dict() for c in rest]},
        )


def ruleset_draft_saved(
    *, version: RuleSetVersion, before: VersionSpec, user: Any | None
) -> list[Finding]:
    """After the admin saved a draft (inside the admin's transaction): audit what changed, re-run
    the static checks. The admin has already validated every condition."""
    _require(user, EDIT, "edit rule sets")
    version = _lock(version)
    _require_draft(version)
    _audit_draft_change(version, before=before, user=user)
    return ruleset_check(version=version)


def ruleset_draft_update(
    *,
    version: RuleSetVersion,
    user: Any | None,
    approve_max_pd: float | None = None,
    decline_min_pd: float | None = None,
    change_summary: str | None = None,
    rules: list[RuleSpec] | None = None,
    test_cases: list[TestCaseSpec] | None = None,
) -> list[Finding]:
    """Change a draft programmatically (commands, tests): cut-offs, and/or replace its rules or
    test cases wholesale. Conditions are validated first; nothing is written if one is invalid."""
    _require(user, EDIT, "edit rule sets")
    for r in rules or []:
        try:
            parse(r.condition)
        except ConditionError as e:
            raise ApplicationError(
                f"Rule {r.key}: {e}",
                code="invalid_condition",
                errors={f"rules.{r.key}.condition": [str(e)]},
            ) from e
    with transaction.atomic():
        version = _lock(version)
        _require_draft(version)
        before = rule_selectors.version_spec(version)
        fields = []
        if approve_max_pd is not None:
            version.approve_max_pd, fields = approve_max_pd, [*fields, "approve_max_pd"]
        if decline_min_pd is not None:
            version.decline_min_pd, fields = decline_min_pd, [*fields, "decline_min_pd"]
        if change_summary is not None:
            version.change_summary, fields = change_summary, [*fields, "change_summary"]
        if fields:
            version.save(update_fields=fields)
        if rules is not None:
            version.rules.all().delete()
            _write_rules(version, rules)
        if test_cases is not None:
            version.test_cases.all().delete()
            _write_cases(version, test_cases)
        _audit_draft_change(version, before=before, user=user)
        return ruleset_check(version=version)


def ruleset_draft_discard(*, version: RuleSetVersion, user: Any | None) -> None:
    _require(user, EDIT, "discard drafts")
    with transaction.atomic():
        version = _lock(version)
        _require_draft(version)
        audit_record(
            actor=_actor(user),
            event_type="ruleset.draft_discarded",
            **_subject(version),
            payload={"content_hash": content_hash(rule_selectors.version_spec(version))},
        )
        version.simulations.all().delete()
        version.delete()


# ---- lifecycle ----------------------------------------------------------------------------------


def _submit(version: RuleSetVersion, *, user: Any | None, now: dt.datetime) -> RuleSetVersion:
    findings = ruleset_check(version=version)
    blocking = errors(findings)
    if blocking:
        raise ApplicationError(
            f"Cannot submit {version.label}: {len(blocking)} check(s) fail.",
            code="checks_failing",
            errors={"checks": [f.message for f in blocking]},
        )
    report = _run_tests(version, now=now)
    _refuse_unless_tests_pass(report, "submit")
    spec = rule_selectors.version_spec(version)
    missing = sorted({r.reason_code for r in spec.rules} - set(spec.reason_texts))
    if missing:
        raise ApplicationError(
            f"Reason codes without wording: {', '.join(missing)}", code="reason_wording"
        )
    digest = content_hash(spec)
    version.reason_texts = dict(spec.reason_texts)
    version.content_hash = digest
    version.status = Status.SUBMITTED
    version.submitted_by, version.submitted_at = user, now
    version.test_report = report
    version.save(
        update_fields=[
            "reason_texts",
            "content_hash",
            "status",
            "submitted_by",
            "submitted_at",
            "test_report",
        ]
    )
    audit_record(
        actor=_actor(user),
        event_type="ruleset.submitted",
        **_subject(version),
        payload={
            "content_hash": digest,
            "tests": {"total": report["total"], "failed": 0},
            "warnings": [f.message for f in findings],
        },
        occurred_at=now,
    )
    return version


def ruleset_submit(
    *, version: RuleSetVersion, user: Any | None, now: dt.datetime | None = None
) -> RuleSetVersion:
    """Freeze a draft for publication: static checks clean, test cases pass, wording frozen."""
    _require(user, EDIT, "submit rule sets")
    now = now or timezone.now()
    with transaction.atomic():
        version = _lock(version)
        _require_draft(version)
        return _submit(version, user=user, now=now)


def ruleset_withdraw(*, version: RuleSetVersion, user: Any | None) -> RuleSetVersion:
    """Send a submitted version back to draft (to change it)."""
    _require(user, EDIT, "withdraw rule sets")
    with transaction.atomic():
        version = _lock(version)
        if version.status != Status.SUBMITTED:
            raise Conflict(f"{version.label} is not submitted.", code="not_submitted")
        version.status, version.submitted_by, version.submitted_at = Status.DRAFT, None, None
        version.save(update_fields=["status", "submitted_by", "submitted_at"])
        RuleSetVersion.objects.filter(pk=version.pk).update(content_hash="", reason_texts={})
        audit_record(
            actor=_actor(user), event_type="ruleset.withdrawn", **_subject(version), payload={}
        )
    version.refresh_from_db()
    return version


def _publish(
    version: RuleSetVersion,
    *,
    user: Any | None,
    now: dt.datetime,
    simulation: RuleSetSimulation | None,
    event: str,
    extra: dict[str, Any] | None = None,
) -> RuleSetVersion:
    rule_set = RuleSet.objects.select_for_update().get(pk=version.rule_set_id)
    if content_hash(rule_selectors.version_spec(version)) != version.content_hash:
        raise Conflict(f"{version.label} content does not match its hash.", code="hash_mismatch")
    report = _run_tests(version, now=now)
    _refuse_unless_tests_pass(report, "publish")
    previous = rule_set.versions.filter(status=Status.PUBLISHED).first()
    if previous is not None:
        previous.status, previous.retired_at = Status.RETIRED, now
        previous.save(update_fields=["status", "retired_at"])
    version.status, version.published_by, version.published_at = Status.PUBLISHED, user, now
    version.test_report = report
    version.save(update_fields=["status", "published_by", "published_at", "test_report"])
    audit_record(
        actor=_actor(user),
        event_type=event,
        **_subject(version),
        payload={
            "product": rule_set.product.code if hasattr(rule_set, "product") else "",
            "content_hash": version.content_hash,
            "previous": previous.label if previous else "builtin-1",
            "cutoffs": {
                "approve_max_pd": version.approve_max_pd,
                "decline_min_pd": version.decline_min_pd,
            },
            "simulation": None
            if simulation is None
            else {
                "id": simulation.pk,
                "count": simulation.results.get("count"),
                "flipped": simulation.results.get("flipped"),
                "approval_rate_change": simulation.results.get("approval_rate_change"),
            },
            "tests": {"total": report["total"], "failed": 0},
            **(extra or {}),
        },
        occurred_at=now,
    )
    product_id = rule_set.product_id
    transaction.on_commit(lambda: rule_selectors.invalidate_policy_cache(product_id))
    return version


def ruleset_publish(
    *,
    version: RuleSetVersion,
    user: Any | None,
    simulation: RuleSetSimulation | None,
    now: dt.datetime | None = None,
) -> RuleSetVersion:
    """Make a submitted version the product's policy, atomically retiring the published one.

    Refused unless: the caller is a risk manager other than the submitter (four eyes), every test
    case passes, and `simulation` is a finished impact simulation of exactly this content — the
    one the publisher was shown.
    """
    _require(user, PUBLISH, "publish rule sets")
    now = now or timezone.now()
    with transaction.atomic():
        version = _lock(version)
        if version.status != Status.SUBMITTED:
            raise Conflict(
                f"Only a submitted version can be published; {version.label} is {version.status}.",
                code="not_submitted",
            )
        if user is not None and version.submitted_by_id == user.pk:
            raise Forbidden(
                "The person who submitted a version cannot also publish it (four eyes)."
            )
        if simulation is None or simulation.version_id != version.pk:
            raise ApplicationError(
                "Publish needs the impact simulation of this version.", code="simulation_required"
            )
        simulation.refresh_from_db()
        if (
            simulation.content_hash != version.content_hash
            or simulation.status != RuleSetSimulation.Status.DONE
        ):
            raise ApplicationError(
                "The simulation shown is not a finished simulation of exactly this content; simulate again.",
                code="simulation_stale",
            )
        return _publish(
            version, user=user, now=now, simulation=simulation, event="ruleset.published"
        )


def ruleset_rollback(
    *, to_version: RuleSetVersion, user: Any | None, reason: str, now: dt.datetime | None = None
) -> RuleSetVersion:
    """Publish an earlier version's content again, as a new version (history is never rewritten)."""
    _require(user, PUBLISH, "roll back rule sets")
    if not reason.strip():
        raise ApplicationError("Say why you roll back.", errors={"reason": ["Required."]})
    now = now or timezone.now()
    with transaction.atomic():
        source = _lock(to_version)
        if source.status not in (Status.RETIRED, Status.PUBLISHED):
            raise Conflict(
                "Only a version that was published can be rolled back to.", code="never_published"
            )
        rule_set = (
            RuleSet.objects.select_for_update().select_related("product").get(pk=source.rule_set_id)
        )
        current = rule_set.versions.filter(status=Status.PUBLISHED).first()
        if current is not None and current.content_hash == source.content_hash:
            raise Conflict(f"{current.label} already has exactly this content.", code="no_change")
        spec = rule_selectors.version_spec(source)
        version = _new_version(
            rule_set=rule_set,
            user=user,
            approve_max_pd=spec.approve_max_pd,
            decline_min_pd=spec.decline_min_pd,
            rules=spec.rules,
            cases=[s for _, s in rule_selectors.test_case_specs(source)],
            change_summary=f"Rollback to {source.label}: {reason.strip()}",
            based_on=source,
        )
        # The wording is the wording that was published then, not today's catalogue.
        RuleSetVersion.objects.filter(pk=version.pk).update(reason_texts=dict(source.reason_texts))
        version.refresh_from_db()
        report = _run_tests(version, now=now)
        _refuse_unless_tests_pass(report, "roll back")
        version.content_hash = content_hash(rule_selectors.version_spec(version))
        version.status, version.submitted_by, version.submitted_at = Status.SUBMITTED, user, now
        version.save(update_fields=["content_hash", "status", "submitted_by", "submitted_at"])
        audit_record(
            actor=_actor(user),
            event_type="ruleset.rolled_back",
            **_subject(version),
            payload={
                "to": source.label,
                "replacing": current.label if current else None,
                "reason": reason.strip(),
                "content_hash": version.content_hash,
            },
            occurred_at=now,
        )
        return _publish(
            version,
            user=user,
            now=now,
            simulation=None,
            event="ruleset.published",
            extra={"rollback_of": source.label},
        )


# ---- reason codes ------------------------------------------------------------------------------


def reason_code_save(
    *,
    user: Any | None,
    code: str,
    customer_text: str,
    description: str = "",
    is_active: bool = True,
) -> ReasonCode:
    """Create or change a reason code. Versions keep the wording frozen when they were submitted;
    new drafts pick up the change."""
    _require(user, PUBLISH, "change customer-facing reason wording")
    if not customer_text.strip():
        raise ApplicationError(
            "Customer wording is required.", errors={"customer_text": ["Required."]}
        )
    with transaction.atomic():
        reason = ReasonCode.objects.select_for_update().filter(code=code).first()
        before = (
            None
            if reason is None
            else {
                "customer_text": reason.customer_text,
                "description": reason.description,
                "is_active": reason.is_active,
            }
        )
        if reason is None:
            reason = ReasonCode(code=code)
        reason.customer_text, reason.description, reason.is_active = (
            customer_text.strip(),
            description,
            is_active,
        )
        reason.full_clean()
        reason.save()
        audit_record(
            actor=_actor(user),
            event_type="reason_code.created" if before is None else "reason_code.changed",
            subject_type="reason_code",
            subject_id=code,
            payload={
                "before": before,
                "after": {
                    "customer_text": reason.customer_text,
                    "description": reason.description,
                    "is_active": is_active,
                },
            },
        )
    return reason


# ---- impact simulation --------------------------------------------------------------------------


def simulation_request(
    *, version: RuleSetVersion, user: Any | None, sample_size: int = DEFAULT_SAMPLE_SIZE
) -> RuleSetSimulation:
    """Queue an impact simulation of the version's current content (a Celery task after commit)."""
    _require(user, EDIT, "run impact simulations")
    if not 1 <= sample_size <= MAX_SAMPLE_SIZE:
        raise ApplicationError(
            f"Sample size must be between 1 and {MAX_SAMPLE_SIZE:,}.",
            errors={"sample_size": ["Out of range."]},
        )
    with transaction.atomic():
        version = _lock(version)
        spec = rule_selectors.version_spec(version)
        blocking = errors(check_version(spec, known_reasons=_known_reasons()))
        if blocking:
            raise ApplicationError(
                "Fix the failing checks before simulating.",
                code="checks_failing",
                errors={"checks": [f.message for f in blocking]},
            )
        baseline = rule_selectors.published_version(product=version.rule_set.product)
        simulation = RuleSetSimulation.objects.create(
            version=version,
            content_hash=version.content_hash or content_hash(spec),
            baseline_label=baseline.label if baseline else "builtin-1",
            sample_size=sample_size,
            requested_by=user,
        )
        audit_record(
            actor=_actor(user),
            event_type="ruleset.simulation_requested",
            **_subject(version),
            payload={
                "simulation": simulation.pk,
                "content_hash": simulation.content_hash,
                "baseline": simulation.baseline_label,
                "sample_size": sample_size,
            },
        )

        from decisioning.tasks import ruleset_simulate

        transaction.on_commit(lambda: ruleset_simulate.delay(simulation.pk))
    return simulation


def simulation_run(*, simulation_id: int, progress_every: int = 50) -> RuleSetSimulation | None:
    """Do the simulation (idempotent: only a queued simulation is claimed)."""
    from decisioning.rules.simulation_runner import run_simulation

    claimed = RuleSetSimulation.objects.filter(
        pk=simulation_id, status=RuleSetSimulation.Status.QUEUED
    ).update(status=RuleSetSimulation.Status.RUNNING, started_at=timezone.now())
    if not claimed:
        return None
    simulation = RuleSetSimulation.objects.select_related("version__rule_set__product").get(
        pk=simulation_id
    )
    try:
        results = run_simulation(simulation, progress_every=progress_every)
    except Exception as e:  # the row must say why (the admin shows it); the log keeps the traceback
        logger.exception("simulation %s failed", simulation_id)
        RuleSetSimulation.objects.filter(pk=simulation_id).update(
            status=RuleSetSimulation.Status.FAILED,
            error=f"{type(e).__name__}: {e}"[:2000],
            finished_at=timezone.now(),
        )
        simulation.refresh_from_db()
        return simulation
    RuleSetSimulation.objects.filter(pk=simulation_id).update(
        status=RuleSetSimulation.Status.DONE,
        results=results,
        done=results["count"] + results["errors"],
        progress=1.0,
        finished_at=timezone.now(),
    )
    simulation.refresh_from_db()
    return simulation


__all__ = [
    "Forbidden",
    "reason_code_save",
    "ruleset_check",
    "ruleset_create",
    "ruleset_draft_discard",
    "ruleset_draft_saved",
    "ruleset_draft_update",
    "ruleset_publish",
    "ruleset_rollback",
    "ruleset_run_tests",
    "ruleset_submit",
    "ruleset_version_clone",
    "ruleset_withdraw",
    "simulation_request",
    "simulation_run",
]
