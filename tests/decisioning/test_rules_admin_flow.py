"""The issue's "must show", end to end through the admin and the API.

A risk analyst, in the admin, drafts a change to a cut-off and a rule, runs its tests and simulates
it against past decisions; a risk manager publishes it; the next API decision names the new version;
the old version is unchanged, and decisions made under it still evaluate the same under it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEvent
from decisioning import selectors
from decisioning.engine.pipeline import decide
from decisioning.models import Decision, RuleSetSimulation, RuleSetVersion
from decisioning.rules import selectors as rule_selectors
from decisioning.rules import services
from decisioning.signals.gateway import signals_from_stored
from decisioning.snapshots import application_data
from tests.conftest import application_body

pytestmark = pytest.mark.django_db
ADMIN = "/admin/decisioning/rulesetversion"


@pytest.fixture(autouse=True)
def _fresh_policy_cache() -> Iterator[None]:
    rule_selectors.invalidate_policy_cache()
    yield
    rule_selectors.invalidate_policy_cache()


def change_form_data(version: RuleSetVersion, **edits: Any) -> dict[str, str]:
    """What the admin change form posts for `version`, with `edits` applied.

    `edits`: version fields by name, and `rule__<key>__<field>` for a rule's field.
    """
    data: dict[str, str] = {
        "approve_max_pd": str(edits.get("approve_max_pd", version.approve_max_pd)),
        "decline_min_pd": str(edits.get("decline_min_pd", version.decline_min_pd)),
        "change_summary": edits.get("change_summary", version.change_summary),
        "_save": "Save",
    }
    rules = list(version.rules.order_by("order", "key"))
    data.update(
        {
            "rules-TOTAL_FORMS": str(len(rules)),
            "rules-INITIAL_FORMS": str(len(rules)),
            "rules-MIN_NUM_FORMS": "0",
            "rules-MAX_NUM_FORMS": "1000",
        }
    )
    for i, r in enumerate(rules):
        values = {
            "id": r.pk,
            "version": version.pk,
            "order": r.order,
            "key": r.key,
            "name": r.name,
            "condition": r.condition,
            "action": r.action,
            "parameter": "" if r.parameter is None else r.parameter,
            "reason_code": r.reason_code_id,
            "description": r.description,
        }
        for field in list(values):
            values[field] = edits.get(f"rule__{r.key}__{field}", values[field])
        data.update({f"rules-{i}-{k}": str(v) for k, v in values.items()})
        if edits.get(f"rule__{r.key}__enabled", r.enabled):
            data[f"rules-{i}-enabled"] = "on"
    cases = list(version.test_cases.order_by("name", "pk"))
    data.update(
        {
            "test_cases-TOTAL_FORMS": str(len(cases)),
            "test_cases-INITIAL_FORMS": str(len(cases)),
            "test_cases-MIN_NUM_FORMS": "0",
            "test_cases-MAX_NUM_FORMS": "1000",
        }
    )
    for i, c in enumerate(cases):
        data.update(
            {
                f"test_cases-{i}-id": str(c.pk),
                f"test_cases-{i}-version": str(version.pk),
                f"test_cases-{i}-name": c.name,
                f"test_cases-{i}-expected_outcome": c.expected_outcome,
                f"test_cases-{i}-expected_reasons": json.dumps(c.expected_reasons),
                f"test_cases-{i}-model_pd": str(c.model_pd),
                f"test_cases-{i}-application": json.dumps(c.application),
                f"test_cases-{i}-signal_overrides": json.dumps(c.signal_overrides),
            }
        )
    return data


def test_the_must_show_flow(
    api: Any, product: Any, analyst: Any, manager: Any, django_capture_on_commit_callbacks: Any
) -> None:
    services.ruleset_create(product=product, user=None)
    v1 = RuleSetVersion.objects.get(label="personal-loan-v1")
    v1_spec, v1_hash = rule_selectors.version_spec(v1), v1.content_hash

    # Past decisions, made under v1.
    for i in range(10):
        body = application_body(
            first_name=f"Past{i}", reference=f"PAST-{i}", annual_income=f"{20000 + 6000 * i}.00"
        )
        r = api.post("/api/v1/decisions", body, format="json")
        assert r.status_code == 201 and r.json()["ruleset_version"] == "personal-loan-v1"
    under_v1 = list(
        Decision.objects.filter(ruleset_version="personal-loan-v1").select_related("application")
    )

    # The analyst drafts v2 in the admin: clone, then change a cut-off and a rule.
    analyst_client = Client()
    analyst_client.force_login(analyst)
    r = analyst_client.post(f"{ADMIN}/{v1.pk}/clone/")
    v2 = RuleSetVersion.objects.get(label="personal-loan-v2")
    assert r.status_code == 302 and r["Location"].endswith(f"/{v2.pk}/change/")
    assert analyst_client.get(f"{ADMIN}/{v2.pk}/change/").status_code == 200

    bad = change_form_data(v2, rule__high_fraud_score__condition="fraud.score >= 60")
    page = analyst_client.post(f"{ADMIN}/{v2.pk}/change/", bad)
    assert (
        page.status_code == 200 and "Unknown field &#x27;fraud.score&#x27;" in page.content.decode()
    )

    r = analyst_client.post(
        f"{ADMIN}/{v2.pk}/change/",
        change_form_data(
            v2,
            approve_max_pd="0.05",
            rule__high_fraud_score__condition="fraud.fraud_score >= 60",
            change_summary="Tighter approval cut-off; refer fraud scores from 60.",
        ),
    )
    assert r.status_code == 302, r.content.decode()[:3000]
    v2.refresh_from_db()
    assert v2.approve_max_pd == 0.05 and v2.status == "draft"
    assert v2.rules.get(key="high_fraud_score").condition == "fraud.fraud_score >= 60"
    assert AuditEvent.objects.filter(
        event_type="cutoffs.changed", subject_id="personal-loan-v2"
    ).exists()
    changed = AuditEvent.objects.get(
        event_type="ruleset.draft_changed", subject_id="personal-loan-v2"
    )
    assert changed.payload["changes"][0]["subject"] == "high_fraud_score"

    # Runs its tests, simulates it against past decisions, submits it.
    analyst_client.post(f"{ADMIN}/{v2.pk}/run-tests/")
    v2.refresh_from_db()
    assert v2.test_report["total"] == 9 and v2.test_report["failed"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        r = analyst_client.post(f"{ADMIN}/{v2.pk}/simulate/", {"sample_size": "100"})
    simulation = RuleSetSimulation.objects.get(version=v2)
    assert r["Location"].endswith(f"/rulesetsimulation/{simulation.pk}/change/")
    assert simulation.status == "done" and simulation.results["count"] == 10
    page = analyst_client.get(r["Location"]).content.decode()
    assert "Flip matrix" in page and "personal-loan-v1" in page
    analyst_client.post(f"{ADMIN}/{v2.pk}/submit/")
    v2.refresh_from_db()
    assert v2.status == "submitted" and v2.content_hash == simulation.content_hash

    # The analyst cannot publish.
    assert analyst_client.get(f"{ADMIN}/{v2.pk}/publish/").status_code == 403
    assert (
        analyst_client.post(f"{ADMIN}/{v2.pk}/publish/", {"simulation": simulation.pk}).status_code
        == 403
    )

    # The manager reviews the diff and the simulation of exactly this content, and publishes.
    manager_client = Client()
    manager_client.force_login(manager)
    page = manager_client.get(f"{ADMIN}/{v2.pk}/publish/").content.decode()
    assert f'name="simulation" value="{simulation.pk}"' in page and "Flip matrix" in page
    assert "0.08" in page and "0.05" in page and "fraud.fraud_score &gt;= 60" in page
    with django_capture_on_commit_callbacks(execute=True):
        r = manager_client.post(f"{ADMIN}/{v2.pk}/publish/", {"simulation": simulation.pk})
    assert r.status_code == 302
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert (v1.status, v2.status) == ("retired", "published")

    # The next API decision names the new version.
    r = api.post(
        "/api/v1/decisions", application_body(first_name="Next", reference="NEXT-1"), format="json"
    )
    assert r.status_code == 201 and r.json()["ruleset_version"] == "personal-loan-v2"

    # The old version is unchanged…
    assert v1.content_hash == v1_hash and rule_selectors.version_spec(v1) == v1_spec
    # …and decisions made under it still evaluate the same under it.
    scorer, _ = selectors.scorer_for_product(product=product)
    policy = selectors.policy_for_version(product=product, version="personal-loan-v1")
    for d in under_v1:
        again = decide(
            application_data(d.application),
            signals=signals_from_stored(d.signals),
            policy=policy,
            scorer=scorer,
            as_of=d.created_at.astimezone(dt.UTC).date(),
        )
        assert (again.outcome.value, again.pd, again.ruleset_version) == (
            d.outcome,
            d.pd,
            "personal-loan-v1",
        )
        assert [r.code for r in again.reasons] == [r["code"] for r in d.reasons]

    # The diff between the two versions is readable in the admin.
    page = manager_client.get(f"{ADMIN}/diff/", {"a": v1.pk, "b": v2.pk}).content.decode()
    assert (
        "high_fraud_score" in page
        and "fraud.fraud_score &gt;= 80" in page
        and "approve at or below PD" in page
    )


def test_an_analyst_edits_rules_inline_reorders_and_disables(
    client: Client, product: Any, analyst: Any
) -> None:
    services.ruleset_create(product=product, user=None)
    v1 = RuleSetVersion.objects.get(label="personal-loan-v1")
    v2 = services.ruleset_version_clone(version=v1, user=analyst)
    client.force_login(analyst)
    r = client.post(
        f"{ADMIN}/{v2.pk}/change/",
        change_form_data(v2, rule__recent_ccj__order="5", rule__pep_hit__enabled=False),
    )
    assert r.status_code == 302
    policy = rule_selectors.compiled_policy(v2)
    assert policy.rules[0].id == "recent_ccj" and "pep_hit" not in [r.id for r in policy.rules]
    history = v2.rules.get(key="pep_hit").history.all()
    assert history.count() == 2 and history.first().enabled is False  # type: ignore[union-attr]
