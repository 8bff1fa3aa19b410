"""Decisioning state changes: deciding applications, recording outcomes, managing API tokens.

Every function here is keyword-only, atomic, takes the actor and writes its audit event in the
same transaction as the change it records.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.canonical import canonical_json_bytes, jsonable, sha256_hex
from audit.services import Actor, audit_record
from config.db import insert_new, one_statement, select_one
from config.errors import ApplicationError, Conflict
from decisioning import selectors
from decisioning.engine.pipeline import decide
from decisioning.engine.types import ApplicationData, DecisionResult, Outcome
from decisioning.models import (
    ApiToken,
    Application,
    Decision,
    IntegrationClient,
    LoanOutcome,
    Product,
)
from decisioning.rules.services import (  # noqa: F401  (rule-set services live in decisioning.rules)
    reason_code_save,
    ruleset_check,
    ruleset_create,
    ruleset_draft_discard,
    ruleset_draft_saved,
    ruleset_draft_update,
    ruleset_publish,
    ruleset_rollback,
    ruleset_run_tests,
    ruleset_submit,
    ruleset_version_clone,
    ruleset_withdraw,
    simulation_request,
    simulation_run,
)
from decisioning.signals.gateway import fetch_signals, record_to_json
from decisioning.snapshots import limits_of
from modeling.features import FEATURE_VERSION
from modeling.services import shadow_schedule
from reviews.services import case_build


@dataclass(frozen=True, slots=True)
class DecisionOutcome:
    decision: Decision
    created: bool  # False when an idempotent retry returned the stored decision


def _product_limits_check(*, product: Product, app: ApplicationData) -> None:
    errors: dict[str, list[str]] = {}
    if not product.min_amount <= app.requested_amount <= product.max_amount:
        errors["requested_amount"] = [
            f"Must be between £{product.min_amount:,.0f} and £{product.max_amount:,.0f} for {product.code}."
        ]
    if not product.min_term_months <= app.term_months <= product.max_term_months:
        errors["term_months"] = [
            f"Must be between {product.min_term_months} and {product.max_term_months} months for {product.code}."
        ]
    if errors:
        raise ApplicationError("The application is outside the product's limits.", code="invalid", errors=errors)


@functools.cache
def _key_probe_sql() -> str:
    """Built once from the model (the ORM would build and compile this query per request)."""
    meta, quote = Decision._meta, connection.ops.quote_name
    column = {name: quote(meta.get_field(name).column) for name in ("id", "request_hash", "client", "idempotency_key")}
    # Names from model metadata; the values are bound parameters.
    return (
        f"SELECT {column['id']}, {column['request_hash']} FROM {quote(meta.db_table)} "  # noqa: S608
        f"WHERE {column['client']} = %s AND {column['idempotency_key']} = %s LIMIT 1"
    )


def _existing_for_key(*, client: IntegrationClient, key: str, request_hash: str) -> Decision | None:
    # Every keyed request asks this and nearly all find nothing: a two-column probe on the unique
    # (client, key) index. The full decision (three tables) is loaded only for a real retry; the
    # select_related query's compilation was the largest single cost in a profile of the server.
    probe = select_one(_key_probe_sql(), [client.pk, key])  # prepared on PostgreSQL (config/db.py)
    if probe is None:
        return None
    pk, stored_hash = probe
    if stored_hash != request_hash:
        raise ApplicationError(
            "This Idempotency-Key was already used with a different request body.",
            code="idempotency_key_reused",
            status_code=422,
        )
    return Decision.objects.select_related("application", "product").get(pk=pk)


def decision_payload(result: DecisionResult) -> dict[str, Any]:
    """The JSON columns of a decision (what replay compares against)."""
    score = result.score
    inputs = jsonable([r.inputs for r in result.rule_results])  # one round trip for all the rules
    return {
        "reasons": [
            {"code": r.code, "description": r.description, "source": r.source} for r in result.reasons
        ],
        "rule_results": [
            {
                "rule_id": r.rule_id,
                "rule_version": r.rule_version,
                "name": r.name,
                "fired": r.fired,
                "action": r.action.value,
                "reason_code": r.reason_code,
                "inputs": rule_inputs,
                "error": r.error,
                "parameter": r.parameter,
            }
            for r, rule_inputs in zip(result.rule_results, inputs, strict=True)
        ],
        "features": {
            "version": result.features.version,
            "values": {
                n: (None if v != v else v) for n, v in zip(result.features.names, result.features.values, strict=True)
            },
        },
        "explanation": {
            "contributions": [[n, c] for n, c in score.contributions] if score else [],
            "model_reasons": [
                {"code": r.code, "description": r.description, "weight": r.weight} for r in score.reasons
            ]
            if score
            else [],
        },
    }


def decision_create(
    *,
    client: IntegrationClient,
    product: Product,
    application: ApplicationData,
    reference: str = "",
    request_body: dict[str, Any],
    idempotency_key: str | None = None,
    request_id: str = "",
    started: float | None = None,
    now: dt.datetime | None = None,
) -> DecisionOutcome:
    """Decide an application and persist everything needed to reconstruct the decision.

    Idempotent per (client, key): the same body returns the stored decision; a different body is
    refused with 422. Concurrent duplicates are stopped by the unique constraint, never by luck.
    `request_body` is the parsed JSON body: its numbers are finite (the API's parser refuses NaN
    and infinities), as the request hash's canonical JSON requires.
    """
    started = started if started is not None else time.perf_counter()
    now = now or timezone.now()
    # canonical_json's bytes, through orjson (finite numbers: see the docstring)
    request_hash = sha256_hex(canonical_json_bytes(request_body))
    if idempotency_key:
        existing = _existing_for_key(client=client, key=idempotency_key, request_hash=request_hash)
        if existing is not None:
            return DecisionOutcome(decision=existing, created=False)
    if not product.is_active:
        raise ApplicationError(f"Product {product.code} is not open for applications.", code="product_inactive",
                               errors={"product": ["This product is not open for applications."]})
    _product_limits_check(product=product, app=application)

    signals = fetch_signals(application, now=now)
    policy = selectors.policy_for_product(product=product)
    scorer, _model_error = selectors.scorer_for_product(product=product)
    result = decide(
        application, signals=signals, policy=policy, scorer=scorer, as_of=now.date(),
        limits=limits_of(product),
    )
    payload = decision_payload(result)
    latency_ms = (time.perf_counter() - started) * 1000

    # An approval or decline writes three rows and nothing else: on PostgreSQL that is one
    # INSERT statement (config.db.insert_new), atomic by itself, so outside a caller's transaction
    # it runs autocommitted — no BEGIN and COMMIT round trips. A referral takes two statements
    # (its audit event records the review case's id, known only after the first) and so a
    # transaction.
    alone = result.outcome != Outcome.REFER and not connection.in_atomic_block and one_statement()
    try:
        with contextlib.nullcontext() if alone else transaction.atomic():
            # Built in memory and inserted with prebuilt, prepared statements (config/db.py): the
            # ORM's per-call INSERT compilation was a tenth of a decision's CPU.
            app_row = Application(
                client=client,
                product=product,
                reference=reference,
                first_name=application.first_name,
                last_name=application.last_name,
                date_of_birth=application.date_of_birth,
                postcode=application.postcode,
                uk_resident=application.uk_resident,
                residential_status=application.residential_status.value,
                months_at_address=application.months_at_address,
                employment_status=application.employment_status.value,
                months_in_employment=application.months_in_employment,
                annual_income=application.annual_income,
                monthly_expenditure=application.monthly_expenditure,
                existing_debt=application.existing_debt,
                monthly_debt_payments=application.monthly_debt_payments,
                dependants=application.dependants,
                requested_amount=application.requested_amount,
                term_months=application.term_months,
                purpose=application.purpose.value,
                bankrupt_or_iva=application.bankrupt_or_iva,
                identity_hash=sha256_hex(application.identity_key()),
                submitted_at=now,
            )
            score = result.score
            decision = Decision(
                application=app_row,
                client=client,
                product=product,
                outcome=result.outcome.value,
                pd=result.pd,
                pd_lower=result.pd_lower,
                pd_upper=result.pd_upper,
                approved_amount=result.approved_amount,
                reasons=payload["reasons"],
                rule_results=payload["rule_results"],
                features=payload["features"],
                explanation=payload["explanation"],
                signals=[record_to_json(r) for r in signals.records],
                counterfactual=result.counterfactual,
                ruleset_version=result.ruleset_version,
                feature_version=FEATURE_VERSION,
                model_name=score.model_name if score else "",
                model_version=score.model_version if score else "",
                model_hash=score.model_hash if score else "",
                degraded=result.degraded,
                latency_ms=latency_ms,
                request_id=request_id,
                idempotency_key=idempotency_key or None,
                request_hash=request_hash,
                created_at=now,
            )
            if result.outcome == Outcome.REFER:
                # application, decision and review case in one round trip; the audit event, which
                # records the case's id, in a second
                case = case_build(decision=decision, now=now)
                insert_new(app_row, decision, case)
                rows: tuple[Application | Decision, ...] = ()
            else:  # application, decision and audit event in one round trip
                case, rows = None, (app_row, decision)
            # The response reads decision.review_case: answer it from memory, not a query.
            Decision.review_case.related.set_cached_value(decision, case)
            audit_record(
                actor=Actor.for_client(client),
                event_type="decision.created",
                subject_type="decision",
                subject_id=str(decision.pk),
                payload={
                    "application_id": str(app_row.pk),
                    "product": product.code,
                    "outcome": decision.outcome,
                    "pd": decision.pd,
                    "reasons": [r["code"] for r in payload["reasons"]],
                    "ruleset_version": decision.ruleset_version,
                    "model": f"{decision.model_name}:{decision.model_version}" if score else "",
                    "model_hash": decision.model_hash,
                    "request_hash": request_hash,
                    "review_case_id": case.pk if case else None,
                    "degraded": decision.degraded,
                },
                correlation_id=request_id,
                occurred_at=now,
                with_rows=rows,
            )
            # Champion/challenger (modeling, issue 8): challengers score this decision in shadow on
            # Celery after commit — never inline, never changing the outcome. Zero queries here
            # while the per-process "has challengers?" answer is fresh (docs/champion_challenger.md).
            shadow_schedule(decision=decision)
    except IntegrityError:
        # A concurrent request with the same key committed first: answer as its retry would.
        if idempotency_key:
            existing = _existing_for_key(client=client, key=idempotency_key, request_hash=request_hash)
            if existing is not None:
                return DecisionOutcome(decision=existing, created=False)
        raise
    return DecisionOutcome(decision=decision, created=True)


def loan_outcome_record(
    *,
    client: IntegrationClient,
    decision: Decision,
    status: str,
    as_of: dt.date,
    default_date: dt.date | None = None,
    arrears_months: int = 0,
    now: dt.datetime | None = None,
) -> LoanOutcome:
    """Record how an approved loan performed. Reports are append-only; the latest one counts."""
    now = now or timezone.now()
    final = selectors.final_outcome(decision=decision)
    if final != Outcome.APPROVE.value:
        raise Conflict(
            "Outcomes can be reported only for applications that were finally approved.",
            code="not_approved",
        )
    if as_of < decision.created_at.date():
        raise ApplicationError("as_of is before the decision was made.", errors={"as_of": ["Must not be before the decision date."]})
    if as_of > now.date():
        raise ApplicationError("as_of is in the future.", errors={"as_of": ["Must not be in the future."]})
    if status == LoanOutcome.Status.DEFAULTED and default_date is None:
        raise ApplicationError("A default needs its date.", errors={"default_date": ["Required when status is defaulted."]})
    if default_date is not None and not (decision.created_at.date() <= default_date <= as_of):
        raise ApplicationError("default_date must fall between the decision and as_of.",
                               errors={"default_date": ["Must fall between the decision date and as_of."]})
    with transaction.atomic():
        outcome = LoanOutcome.objects.create(
            decision=decision,
            status=status,
            as_of=as_of,
            default_date=default_date,
            arrears_months=arrears_months,
            reported_at=now,
            reported_by=client,
        )
        audit_record(
            actor=Actor.for_client(client),
            event_type="loan_outcome.reported",
            subject_type="decision",
            subject_id=str(decision.pk),
            payload={"status": status, "as_of": as_of, "default_date": default_date, "arrears_months": arrears_months},
            occurred_at=now,
        )
    return outcome


def api_token_issue(*, client: IntegrationClient, actor: Actor, label: str = "", created_by: Any = None) -> tuple[ApiToken, str]:
    """Issue a new token. The raw secret is returned once and never stored."""
    raw = "vdt_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            client=client, label=label, prefix=raw[:12], key_hash=selectors.hash_token(raw), created_by=created_by
        )
        audit_record(
            actor=actor,
            event_type="api_token.issued",
            subject_type="integration_client",
            subject_id=str(client.pk),
            payload={"token_id": token.pk, "prefix": token.prefix, "label": label},
        )
    return token, raw


def api_token_revoke(*, token: ApiToken, actor: Actor, now: dt.datetime | None = None) -> ApiToken:
    now = now or timezone.now()
    with transaction.atomic():
        updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
        if not updated:
            raise Conflict("This token is already revoked.", code="already_revoked")
        audit_record(
            actor=actor,
            event_type="api_token.revoked",
            subject_type="integration_client",
            subject_id=str(token.client_id),
            payload={"token_id": token.pk, "prefix": token.prefix},
            occurred_at=now,
        )
    # This process forgets the token now; others within selectors.HOT_CACHE_SECONDS.
    transaction.on_commit(selectors.hot_caches_clear)
    token.refresh_from_db()
    return token
