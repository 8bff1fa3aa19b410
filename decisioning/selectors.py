"""Decisioning reads, scoped to what the caller may see."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from config.errors import NotFound
from decisioning import roles
from decisioning.engine.policy import Policy
from decisioning.models import ApiToken, Decision, IntegrationClient, Product
from decisioning.rules import selectors as rule_selectors


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


# Hot-path caches (issue 11): every decision authenticates a token and looks up its product.
# Kept per process for a few seconds; a revocation or product change in this process clears them
# at once, other processes see it within HOT_CACHE_SECONDS.
HOT_CACHE_SECONDS = 5.0
_token_cache: dict[str, tuple[float, IntegrationClient | None]] = {}
_product_cache: dict[str, tuple[float, Product | None]] = {}


def hot_caches_clear() -> None:
    _token_cache.clear()
    _product_cache.clear()


def client_for_token(*, raw: str) -> IntegrationClient | None:
    key = hash_token(raw)
    hit = _token_cache.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    token = (
        ApiToken.objects.select_related("client")
        .filter(key_hash=key, revoked_at__isnull=True, client__is_active=True)
        .first()
    )
    client = token.client if token else None
    if len(_token_cache) > 10_000:  # bounded: unknown tokens must not grow it without limit
        _token_cache.clear()
    _token_cache[key] = (time.monotonic() + HOT_CACHE_SECONDS, client)
    return client


def product_by_code(*, code: str) -> Product | None:
    hit = _product_cache.get(code)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    product = Product.objects.filter(code=code).first()
    if len(_product_cache) > 1000:
        _product_cache.clear()
    _product_cache[code] = (time.monotonic() + HOT_CACHE_SECONDS, product)
    return product


def policy_for_product(*, product: Product) -> Policy:
    """The policy a new decision of this product runs under: its rule set's published version,
    or the built-in policy when the product has no rule set at all (docs/rules.md).

    Hot path: zero queries while a short-lived in-process entry is fresh, one small query after.
    """
    return rule_selectors.published_policy(product=product)


def policy_for_version(*, product: Product, version: str) -> Policy:
    """The compiled policy of any stored (non-draft) version by its label, e.g. `personal-loan-v3`,
    or `builtin-1` (replay). Raises NotFound for an unknown label."""
    return rule_selectors.policy_for_version(product=product, version=version)


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
    """The outcome that stands: an underwriter's final verdict when a case has one (a referral,
    or an appeal against a decline), else the engine's — None while a referral is undecided."""
    case = getattr(decision, "review_case", None)
    if case is not None and case.final_outcome:
        return case.final_outcome
    if decision.outcome == Decision.OutcomeChoice.REFER:
        return None
    return decision.outcome


def user_roles(*, user: Any) -> set[str]:
    """The staff roles a user holds (groups that are not roles are not counted)."""
    return set(user.groups.filter(name__in=roles.ALL_ROLES).values_list("name", flat=True))


def warm_caches() -> dict[str, str]:
    """Load what the first decision of each active product would otherwise load while its caller
    waits (the champion model from the registry, ~1-4 s; the compiled rule set): called by each
    gunicorn worker before it takes traffic (config/gunicorn.py). Returns product → what was
    loaded (or why not); never raises for one product's problem."""
    loaded: dict[str, str] = {}
    for product in product_list(active_only=True):
        try:
            policy = policy_for_product(product=product)
            scorer, error = scorer_for_product(product=product)
        except Exception as e:  # a worker must start even if a product can't warm
            loaded[product.code] = f"not warmed: {type(e).__name__}"
            continue
        model = f"{scorer.model_name} v{scorer.model_version}" if scorer is not None else f"no model ({error})"
        loaded[product.code] = f"{policy.version}, {model}"
    return loaded
