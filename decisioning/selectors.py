"""Decisioning reads, scoped to what the caller may see."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from config.errors import NotFound
from decisioning.engine.policy import BUILTIN_POLICY, Policy
from decisioning.models import ApiToken, Decision, IntegrationClient, Product


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def client_for_token(*, raw: str) -> IntegrationClient | None:
    token = (
        ApiToken.objects.select_related("client")
        .filter(key_hash=hash_token(raw), revoked_at__isnull=True, client__is_active=True)
        .first()
    )
    return token.client if token else None


def policy_for_product(*, product: Product) -> Policy:
    """The policy a new decision of this product runs under."""
    return BUILTIN_POLICY


def scorer_for_product(*, product: Product) -> tuple[Any | None, str]:
    from modeling.serving import get_scorer

    return get_scorer(product.code)


def product_list(*, active_only: bool = True) -> QuerySet[Product]:
    qs = Product.objects.all()
    return qs.filter(is_active=True) if active_only else qs


def decision_list(
    *,
    client: IntegrationClient,
    product: str | None = None,
    outcome: str | None = None,
    created_from: dt.datetime | None = None,
    created_to: dt.datetime | None = None,
) -> QuerySet[Decision]:
    qs = (
        Decision.objects.filter(client=client)
        .select_related("product", "application", "review_case")
        .order_by("-created_at", "-id")
    )
    if product:
        qs = qs.filter(product__code=product)
    if outcome:
        qs = qs.filter(outcome=outcome)
    if created_from:
        qs = qs.filter(created_at__gte=created_from)
    if created_to:
        qs = qs.filter(created_at__lt=created_to)
    return qs


def decision_get(*, client: IntegrationClient, decision_id: Any) -> Decision:
    """A client's own decision; another client's is "not found", exactly like a missing one."""
    try:
        return Decision.objects.select_related("product", "application", "review_case").get(
            pk=decision_id, client=client
        )
    except (Decision.DoesNotExist, ValidationError, ValueError, TypeError) as e:
        raise NotFound("Decision not found.") from e


def final_outcome(*, decision: Decision) -> str | None:
    """The outcome that stands: the engine's, or the underwriter's for a referred case
    (None while the case is still open)."""
    if decision.outcome != Decision.OutcomeChoice.REFER:
        return decision.outcome
    case = getattr(decision, "review_case", None)
    if case is None or not case.final_outcome:
        return None
    return case.final_outcome
