"""Rule-set reads (Django side): stored versions as `VersionSpec`, compiled policies, the hot-path
lookup of a product's published policy.

Hot path: `published_policy` answers from an in-process entry that lives `POLICY_TTL_SECONDS`
(zero queries); after that, one indexed query finds the published version's id and content hash,
and the compiled policy comes from the (id, hash) cache. A publication is therefore seen at once
by the process that published (its cache is cleared on commit) and within `POLICY_TTL_SECONDS`
by every other worker.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from config.errors import ApplicationError, NotFound
from decisioning.engine.policy import BUILTIN_POLICY, Policy
from decisioning.models import (
    Product,
    ReasonCode,
    RuleSet,
    RuleSetSimulation,
    RuleSetTestCase,
    RuleSetVersion,
)
from decisioning.rules.compiler import POLICIES, RuleSpec, TestCaseSpec, VersionSpec, content_hash

POLICY_TTL_SECONDS = 1.0
_clock = time.monotonic
# product id → (expires, version id, label, content hash)
_published: dict[int, tuple[float, int | None, str, str]] = {}
_lock = threading.Lock()


def invalidate_policy_cache(product_id: int | None = None) -> None:
    with _lock:
        if product_id is None:
            _published.clear()
        else:
            _published.pop(product_id, None)


def version_spec(version: RuleSetVersion) -> VersionSpec:
    rules = tuple(
        RuleSpec(
            key=r.key,
            name=r.name,
            condition=r.condition,
            action=r.action,
            reason_code=r.reason_code_id,
            order=r.order,
            enabled=r.enabled,
            parameter=r.parameter,
            description=r.description,
        )
        for r in version.rules.all().order_by("order", "key")
    )
    if version.is_draft:
        # A draft shows the catalogue's current wording; submission freezes it into the version.
        codes = {r.reason_code for r in rules}
        texts = dict(ReasonCode.objects.filter(code__in=codes).values_list("code", "customer_text"))
    else:
        texts = dict(version.reason_texts)
    return VersionSpec(
        label=version.label,
        approve_max_pd=version.approve_max_pd,
        decline_min_pd=version.decline_min_pd,
        rules=rules,
        reason_texts=texts,
    )


def test_case_specs(version: RuleSetVersion) -> list[tuple[RuleSetTestCase, TestCaseSpec]]:
    return [
        (
            tc,
            TestCaseSpec(
                name=tc.name,
                application=tc.application,
                expected_outcome=tc.expected_outcome,
                expected_reasons=tuple(tc.expected_reasons or ()),
                model_pd=tc.model_pd,
                signal_overrides=tc.signal_overrides or {},
            ),
        )
        for tc in version.test_cases.all().order_by("name", "pk")
    ]


def compiled_policy(version: RuleSetVersion) -> Policy:
    """The version compiled (cached by id + content hash). Drafts are hashed from their current
    content, so an edited draft is never served from a stale compilation."""
    if version.is_draft or not version.content_hash:
        spec = version_spec(version)
        return POLICIES.get((version.pk, version.label), content_hash(spec), lambda: spec)
    return POLICIES.get(
        (version.pk, version.label), version.content_hash, lambda: version_spec(version)
    )


def published_version(*, product: Product) -> RuleSetVersion | None:
    return (
        RuleSetVersion.objects.select_related("rule_set__product")
        .filter(rule_set__product=product, status=RuleSetVersion.Status.PUBLISHED)
        .first()
    )


def published_policy(*, product: Product) -> Policy:
    now = _clock()
    entry = _published.get(product.pk)
    if entry is None or entry[0] <= now:
        row = (
            RuleSetVersion.objects.filter(
                rule_set__product_id=product.pk, status=RuleSetVersion.Status.PUBLISHED
            )
            .values_list("pk", "label", "content_hash")
            .first()
        )
        if row is None:
            if RuleSet.objects.filter(product_id=product.pk).exists():
                # A rule set always has a published version (v1 is published when it is created);
                # if that is ever not so, refuse rather than decide under a policy nobody chose.
                raise ApplicationError(
                    f"Product {product.code} has no published rule-set version.",
                    code="no_published_policy",
                    status_code=503,
                )
            entry = (now + POLICY_TTL_SECONDS, None, "", "")
        else:
            entry = (now + POLICY_TTL_SECONDS, row[0], row[1], row[2])
        with _lock:
            _published[product.pk] = entry
    _, version_id, label, digest = entry
    if version_id is None:
        return BUILTIN_POLICY
    return POLICIES.get(
        (version_id, label), digest, lambda: version_spec(RuleSetVersion.objects.get(pk=version_id))
    )


def policy_for_version(*, product: Product, version: str) -> Policy:
    """The compiled policy of any stored, non-draft version by its label (replay)."""
    if version == BUILTIN_POLICY.version:
        return BUILTIN_POLICY
    row = (
        RuleSetVersion.objects.filter(rule_set__product=product, label=version)
        .exclude(status=RuleSetVersion.Status.DRAFT)
        .first()
    )
    if row is None:
        raise NotFound(f"Rule-set version {version} not found for {product.code}.")
    return compiled_policy(row)


def latest_simulation(
    *, version: RuleSetVersion, content_hash: str | None = None
) -> RuleSetSimulation | None:
    qs = version.simulations.all()
    if content_hash is not None:
        qs = qs.filter(content_hash=content_hash)
    return qs.order_by("-created_at", "-pk").first()


def version_list(*, rule_set: RuleSet) -> Any:
    return rule_set.versions.select_related("created_by", "published_by").order_by("-number")
