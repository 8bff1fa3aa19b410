"""Champion/challenger state changes: shadow scoring, starting and stopping challengers,
promotion through the gate and rollback (docs/champion_challenger.md).

Every change of a model's role is one transaction that writes its audit event; the MLflow aliases
are moved inside that transaction (an MLflow failure rolls the change back) and the serving cache
is refreshed after it, so the next decision in this process names the new champion and other
processes follow within MODEL_REFRESH_SECONDS.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import Actor, audit_record
from config.errors import ApplicationError, Conflict, NotFound
from decisioning.engine.pipeline import resolve
from decisioning.engine.types import FeatureVector
from decisioning.models import Decision, Product
from decisioning.snapshots import application_data
from modeling.models import ModelAssignment, PromotionGate, ShadowScore

logger = logging.getLogger(__name__)

CHAMPION = ModelAssignment.Role.CHAMPION
CHALLENGER = ModelAssignment.Role.CHALLENGER
MIN_RATIONALE = 10


# ---- the hot-path hook: does this product have challengers? --------------------------------------

#: How long a process trusts its answer to "does product X have open challengers?". The process
#: that starts or stops a challenger clears its own entry; other web workers notice within this.
SHADOW_TTL_SECONDS = 2.0
_clock = time.monotonic
_has_challengers: dict[int, tuple[float, bool]] = {}
_lock = threading.Lock()


def invalidate_shadow_cache(product_id: int | None = None) -> None:
    with _lock:
        if product_id is None:
            _has_challengers.clear()
        else:
            _has_challengers.pop(product_id, None)


def _product_has_challengers(product_id: int) -> bool:
    entry = _has_challengers.get(product_id)
    if entry is not None and entry[0] > _clock():
        return entry[1]
    found = ModelAssignment.objects.filter(
        product_id=product_id, role=CHALLENGER, ended_at__isnull=True
    ).exists()
    with _lock:
        _has_challengers[product_id] = (_clock() + SHADOW_TTL_SECONDS, found)
    return found


def shadow_schedule(*, decision: Decision) -> bool:
    """Called by `decision_create` inside its transaction: if the product has challengers, queue
    their scoring for after the commit. Zero queries while the per-process answer is fresh.

    Why after commit on Celery, not inline (docs/champion_challenger.md, measured): score + resolve
    is ~0.5 ms median per challenger — cheap — but a challenger's first use in a process loads it
    from MLflow (~1 s, ~3 s more to import MLflow), the cost grows with every challenger, and a
    broken challenger must never touch a live decision. The publish is ~0.5 ms, once per decision.
    """
    if not _product_has_challengers(decision.product_id):
        return False
    from modeling.tasks import shadow_score

    decision_id = str(decision.pk)
    transaction.on_commit(lambda: _enqueue(shadow_score, decision_id))
    return True


#: After a failed publish this process stops trying for a while: with the broker down every
#: attempt costs the request its connect timeout and publish retries (measured 0.6-1.3 s with
#: Redis refusing, tests/faults/test_redis_down.py). What is skipped, the backfill sweep scores.
ENQUEUE_PAUSE_SECONDS = 10.0
_enqueue_paused_until = 0.0


def _enqueue(task: Any, decision_id: str) -> None:
    global _enqueue_paused_until
    if _clock() < _enqueue_paused_until:
        logger.info("shadow scoring of %s not queued (broker down); the sweep will", decision_id)
        return
    try:
        task.delay(decision_id)
    except Exception:  # the broker is down: the decision stands; the backfill sweep scores it later
        _enqueue_paused_until = _clock() + ENQUEUE_PAUSE_SECONDS
        logger.warning("shadow scoring of %s not queued", decision_id, exc_info=True)


# ---- shadow scoring -----------------------------------------------------------------------------


def _stored_vector(decision: Decision) -> FeatureVector:
    """Exactly the feature vector the champion scored (catalogue order; JSON null is missing)."""
    from modeling.features import FEATURE_NAMES

    values = (decision.features or {}).get("values", {})
    return FeatureVector(
        version=(decision.features or {}).get("version", decision.feature_version),
        names=tuple(FEATURE_NAMES),
        values=tuple(
            math.nan if values.get(n) is None else float(values[n]) for n in FEATURE_NAMES
        ),
    )


def _open_challengers(product: Product, at: dt.datetime) -> list[ModelAssignment]:
    """Challengers that were shadowing at `at` (started by then, not ended before)."""
    from django.db.models import Q

    return list(
        ModelAssignment.objects.filter(product=product, role=CHALLENGER, started_at__lte=at)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=at))
        .order_by("started_at")
    )


def shadow_score_decision(
    *, decision_id: str, versions: set[str] | None = None, now: dt.datetime | None = None
) -> list[ShadowScore]:
    """Score one stored decision with every challenger that was shadowing when it was made and
    store what each would have decided. Idempotent: versions already stored are skipped, and a
    concurrent duplicate is stopped by the unique constraint.

    The challenger's outcome comes from `pipeline.resolve` — the one outcome logic — with the
    decision's own policy version, signals and feature vector, and the challenger's score.
    """
    from decisioning.selectors import policy_for_version
    from decisioning.signals.gateway import signals_from_stored
    from modeling.serving import get_scorer_version

    now = now or timezone.now()
    try:
        decision = Decision.objects.select_related("application", "product").get(pk=decision_id)
    except (Decision.DoesNotExist, ValueError):
        return []
    challengers = _open_challengers(decision.product, decision.created_at)
    done = set(
        ShadowScore.objects.filter(decision=decision).values_list("model_version", flat=True)
    )
    todo = [
        c
        for c in challengers
        if c.model_version not in done and (versions is None or c.model_version in versions)
    ]
    if not todo:
        return []
    app = application_data(decision.application)
    signals = signals_from_stored(decision.signals or [])
    policy = policy_for_version(product=decision.product, version=decision.ruleset_version)
    features = _stored_vector(decision)
    created = []
    for assignment in todo:
        scorer, error = get_scorer_version(decision.product.code, assignment.model_version)
        if scorer is None:
            # Not silently skipped: the missing rows lower the report's coverage, which the gate checks.
            logger.error("challenger %s unavailable for shadow scoring: %s", assignment, error)
            continue
        started = time.perf_counter()
        score = scorer.score(features)
        result = resolve(app, signals=signals, policy=policy, features=features, score=score)
        elapsed = (time.perf_counter() - started) * 1000
        try:
            with transaction.atomic():
                created.append(
                    ShadowScore.objects.create(
                        decision=decision,
                        product=decision.product,
                        model_name=score.model_name,
                        model_version=score.model_version,
                        model_hash=score.model_hash,
                        raw_pd=score.pd,
                        pd=result.pd if result.pd is not None else score.pd,
                        pd_lower=score.pd_lower,
                        pd_upper=score.pd_upper,
                        outcome=result.outcome.value,
                        reasons=[
                            {"code": r.code, "description": r.description, "source": r.source}
                            for r in result.reasons
                        ],
                        ruleset_version=result.ruleset_version,
                        champion_version=decision.model_version,
                        champion_pd=decision.pd,
                        champion_outcome=decision.outcome,
                        decided_at=decision.created_at,
                        scored_at=now,
                        score_ms=elapsed,
                    )
                )
        except IntegrityError:  # a concurrent retry stored it first
            continue
    return created


def shadow_backfill(*, product: Product, version: str, limit: int = 5000) -> int:
    """Score the window's decisions the challenger missed (broker outage, a worker lost, the few
    seconds before other web workers noticed the new challenger). Returns how many were scored."""
    assignment = (
        ModelAssignment.objects.filter(product=product, role=CHALLENGER, model_version=version)
        .order_by("-started_at")
        .first()
    )
    if assignment is None:
        return 0
    qs = Decision.objects.filter(product=product, created_at__gte=assignment.started_at)
    if assignment.ended_at:
        qs = qs.filter(created_at__lt=assignment.ended_at)
    scored = ShadowScore.objects.filter(product=product, model_version=version).values(
        "decision_id"
    )
    ids = list(
        qs.exclude(pk__in=scored).order_by("created_at").values_list("pk", flat=True)[:limit]
    )
    scored = 0
    for pk in ids:
        try:
            scored += len(shadow_score_decision(decision_id=str(pk), versions={version}))
        except Exception:  # one decision that cannot be scored must not stop the sweep for all
            logger.exception("shadow backfill of decision %s with version %s failed", pk, version)
    return scored


# ---- roles ------------------------------------------------------------------------------------


def gate_for_product(*, product: Product) -> PromotionGate:
    gate, _ = PromotionGate.objects.get_or_create(product=product)
    return gate


def _tracking_uri() -> str:
    return str(settings.MLFLOW_TRACKING_URI)


def _model_name(product: Product) -> str:
    from modeling.registry import model_name

    return model_name(product.code)


def current_champion(*, product: Product) -> ModelAssignment | None:
    return ModelAssignment.objects.filter(
        product=product, role=CHAMPION, ended_at__isnull=True
    ).first()


def _ensure_champion_row(*, product: Product, now: dt.datetime) -> ModelAssignment:
    """The open champion row; the first time, recorded from what serves now (the MLflow alias)."""
    row = current_champion(product=product)
    if row is not None:
        return row
    from modeling.serving import get_scorer

    scorer, error = get_scorer(product.code)
    if scorer is None:
        raise Conflict(
            f"Product {product.code} has no champion model to compare with: {error}",
            code="no_champion",
        )
    return ModelAssignment.objects.create(
        product=product,
        role=CHAMPION,
        model_name=scorer.model_name,
        model_version=scorer.model_version,
        model_hash=scorer.model_hash,
        rationale="Recorded from the serving champion.",
        started_at=now,
    )


def _challenger_alias(version: str) -> str:
    return f"challenger-{version}"


def _sync_challenger_aliases(product: Product) -> None:
    """Mirror the open challengers to MLflow: `challenger-<version>` each, and `challenger` on the
    most recently started one (what `train_model --alias challenger` and older tools read).

    Best effort, unlike the champion alias: shadow scoring loads challengers by exact version
    from the assignment rows, so a stale challenger alias misleads a person reading the MLflow
    UI but never a decision. It is logged, and corrected by the next change of roles.
    """
    try:
        _mirror_challenger_aliases(product)
    except (
        Exception
    ) as e:  # MLflow unreachable, or a model installed without a registry (demo, tests)
        logger.error("challenger aliases of %s not mirrored to MLflow: %s", product.code, e)


def _mirror_challenger_aliases(product: Product) -> None:
    from modeling import registry

    uri = _tracking_uri()
    open_rows = list(
        ModelAssignment.objects.filter(
            product=product, role=CHALLENGER, ended_at__isnull=True
        ).order_by("started_at")
    )
    name = _model_name(product)
    client = registry._client(uri)
    aliases = dict(client.get_registered_model(name).aliases or {})
    wanted = {_challenger_alias(r.model_version): r.model_version for r in open_rows}
    if open_rows:
        wanted["challenger"] = open_rows[-1].model_version
    for alias, version in aliases.items():
        if (alias == "challenger" or alias.startswith("challenger-")) and wanted.get(alias) != str(
            version
        ):
            client.delete_registered_model_alias(name, alias)
    for alias, version in wanted.items():
        if str(aliases.get(alias)) != version:
            client.set_registered_model_alias(name, alias, version)


def _user(actor: Actor, user: Any) -> Any:
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def challenger_start(
    *,
    product: Product,
    version: str,
    actor: Actor,
    user: Any = None,
    rationale: str = "",
    now: dt.datetime | None = None,
) -> ModelAssignment:
    """Start shadowing registry version `version` of the product's model. Its window starts now."""
    from modeling.serving import get_scorer_version

    now = now or timezone.now()
    version = str(version).strip()
    with transaction.atomic():
        champion = _ensure_champion_row(product=product, now=now)
        if champion.model_version == version:
            raise Conflict("This version is the champion.", code="is_champion")
        # Loading it here proves it exists and its file matches its recorded hash, before any traffic.
        scorer, _error = get_scorer_version(product.code, version)
        if scorer is None:
            raise NotFound(f"Model version {version} of {product.code} cannot be loaded.")
        try:
            with transaction.atomic():
                row = ModelAssignment.objects.create(
                    product=product,
                    role=CHALLENGER,
                    model_name=scorer.model_name,
                    model_version=version,
                    model_hash=scorer.model_hash,
                    rationale=rationale,
                    started_at=now,
                    started_by=_user(actor, user),
                )
        except IntegrityError as e:
            raise Conflict(
                "This version is already a challenger.", code="already_challenger"
            ) from e
        audit_record(
            actor=actor,
            event_type="model.challenger_started",
            subject_type="model",
            subject_id=f"{scorer.model_name}:{version}",
            payload={
                "product": product.code,
                "version": version,
                "model_hash": scorer.model_hash,
                "champion_version": champion.model_version,
                "rationale": rationale,
                "window_starts": now,
            },
            occurred_at=now,
        )
        _sync_challenger_aliases(product)
    invalidate_shadow_cache(product.pk)
    return row


def _open_challenger(product: Product, version: str, *, lock: bool = False) -> ModelAssignment:
    qs = ModelAssignment.objects.filter(
        product=product, role=CHALLENGER, model_version=version, ended_at__isnull=True
    )
    row = (qs.select_for_update() if lock else qs).first()
    if row is None:
        raise NotFound(f"Version {version} is not a challenger of {product.code}.")
    return row


def challenger_stop(
    *,
    product: Product,
    version: str,
    actor: Actor,
    rationale: str = "",
    now: dt.datetime | None = None,
) -> ModelAssignment:
    now = now or timezone.now()
    with transaction.atomic():
        row = _open_challenger(product, version, lock=True)
        row.ended_at, row.end_reason = now, ModelAssignment.EndReason.STOPPED
        row.save(update_fields=["ended_at", "end_reason"])
        audit_record(
            actor=actor,
            event_type="model.challenger_stopped",
            subject_type="model",
            subject_id=f"{row.model_name}:{version}",
            payload={
                "product": product.code,
                "version": version,
                "rationale": rationale,
                "window": [row.started_at, now],
            },
            occurred_at=now,
        )
        _sync_challenger_aliases(product)
    invalidate_shadow_cache(product.pk)
    return row


@dataclass(frozen=True, slots=True)
class Promotion:
    champion: ModelAssignment
    from_version: str
    to_version: str
    gate: dict[str, Any]


def _check_rationale(rationale: str) -> str:
    rationale = (rationale or "").strip()
    if len(rationale) < MIN_RATIONALE:
        raise ApplicationError(
            "Say why.",
            code="rationale_required",
            errors={"rationale": [f"Give a rationale of at least {MIN_RATIONALE} characters."]},
        )
    return rationale


def _serve(product: Product) -> None:
    """Make this process serve the new champion now (other processes: within MODEL_REFRESH_SECONDS)."""
    from modeling import serving

    serving.refresh(product.code)


def model_promote(
    *,
    product: Product,
    version: str,
    actor: Actor,
    rationale: str,
    user: Any = None,
    now: dt.datetime | None = None,
) -> Promotion:
    """Make challenger `version` the product's champion, if the promotion gate allows it now.

    Refused (409 `gate_not_met`, with every failed check) before the minimum window, under the
    minimum volume or with any gate metric breached; a refusal is itself audited.
    """
    from modeling import registry
    from modeling.selectors import shadow_report

    now = now or timezone.now()
    rationale = _check_rationale(rationale)
    version = str(version).strip()
    with transaction.atomic():
        challenger = _open_challenger(product, version, lock=True)
        champion = _ensure_champion_row(product=product, now=now)
        report = shadow_report(product=product, version=version, now=now)
        gate = report.gate_summary()
        if not report.gate.passed:
            failed = report.gate.failures()
            refusal = {
                "product": product.code,
                "from_version": champion.model_version,
                "to_version": version,
                "rationale": rationale,
                "gate": gate,
            }
            # The refusal is evidence too: it commits (nothing else is written) and then we raise.
            audit_record(
                actor=actor,
                event_type="model.promotion_refused",
                subject_type="model",
                subject_id=f"{challenger.model_name}:{version}",
                payload=refusal,
                occurred_at=now,
            )
        else:
            failed = []
            challenger.ended_at, challenger.end_reason = now, ModelAssignment.EndReason.PROMOTED
            challenger.save(update_fields=["ended_at", "end_reason"])
            champion.ended_at, champion.end_reason = now, ModelAssignment.EndReason.REPLACED
            champion.save(update_fields=["ended_at", "end_reason"])
            new = ModelAssignment.objects.create(
                product=product,
                role=CHAMPION,
                model_name=challenger.model_name,
                model_version=version,
                model_hash=challenger.model_hash,
                previous_version=champion.model_version,
                rationale=rationale,
                started_at=now,
                started_by=_user(actor, user),
            )
            audit_record(
                actor=actor,
                event_type="model.promoted",
                subject_type="model",
                subject_id=f"{challenger.model_name}:{version}",
                payload={
                    "product": product.code,
                    "from_version": champion.model_version,
                    "to_version": version,
                    "model_hash": challenger.model_hash,
                    "rationale": rationale,
                    "gate": gate,
                },
                occurred_at=now,
            )
            registry.set_alias(
                product.code, version=version, alias="champion", tracking_uri=_tracking_uri()
            )
            _sync_challenger_aliases(product)
    if failed:
        raise Conflict(
            "The promotion gate is not met: " + "; ".join(failed),
            code="gate_not_met",
        )
    invalidate_shadow_cache(product.pk)
    _serve(product)
    return Promotion(
        champion=new, from_version=champion.model_version, to_version=version, gate=gate
    )


def model_rollback(
    *,
    product: Product,
    actor: Actor,
    rationale: str,
    user: Any = None,
    now: dt.datetime | None = None,
) -> Promotion:
    """Put the champion that the current one replaced back in place — one action, no gate (it is
    the way out of a bad promotion), audited as `model.rolled_back`."""
    from modeling import registry

    now = now or timezone.now()
    rationale = _check_rationale(rationale)
    with transaction.atomic():
        current = (
            ModelAssignment.objects.select_for_update()
            .filter(product=product, role=CHAMPION, ended_at__isnull=True)
            .first()
        )
        if current is None or not current.previous_version:
            raise Conflict(
                "There is no previous champion to roll back to.", code="nothing_to_roll_back"
            )
        previous = current.previous_version
        # A version shadowing as a challenger cannot also be champion: stop it first.
        for shadowing in ModelAssignment.objects.filter(
            product=product, role=CHALLENGER, model_version=previous, ended_at__isnull=True
        ):
            shadowing.ended_at, shadowing.end_reason = now, ModelAssignment.EndReason.STOPPED
            shadowing.save(update_fields=["ended_at", "end_reason"])  # save(): history sees it
        old = (
            ModelAssignment.objects.filter(product=product, role=CHAMPION, model_version=previous)
            .order_by("-started_at")
            .first()
        )
        current.ended_at, current.end_reason = now, ModelAssignment.EndReason.ROLLED_BACK
        current.save(update_fields=["ended_at", "end_reason"])
        restored = ModelAssignment.objects.create(
            product=product,
            role=CHAMPION,
            model_name=current.model_name,
            model_version=previous,
            model_hash=old.model_hash if old else "",
            previous_version=current.model_version,
            rationale=rationale,
            started_at=now,
            started_by=_user(actor, user),
        )
        audit_record(
            actor=actor,
            event_type="model.rolled_back",
            subject_type="model",
            subject_id=f"{current.model_name}:{previous}",
            payload={
                "product": product.code,
                "from_version": current.model_version,
                "to_version": previous,
                "rationale": rationale,
            },
            occurred_at=now,
        )
        registry.set_alias(
            product.code, version=previous, alias="champion", tracking_uri=_tracking_uri()
        )
        _sync_challenger_aliases(product)
    invalidate_shadow_cache(product.pk)
    _serve(product)
    return Promotion(
        champion=restored, from_version=current.model_version, to_version=previous, gate={}
    )
