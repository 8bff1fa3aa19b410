"""Impact simulation: results, progress, the admin page, and the pure statistics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from decisioning.models import Decision, RuleSetSimulation, RuleSetVersion
from decisioning.rules import selectors as rule_selectors
from decisioning.rules import services
from tests.conftest import application_body

pytestmark = pytest.mark.django_db

FIRST = [
    "Grace",
    "Oliver",
    "Amelia",
    "Harry",
    "Isla",
    "Jack",
    "Ava",
    "Noah",
    "Mia",
    "Leo",
    "Ella",
    "Arlo",
]


@pytest.fixture(autouse=True)
def _fresh_policy_cache() -> Iterator[None]:
    rule_selectors.invalidate_policy_cache()
    yield
    rule_selectors.invalidate_policy_cache()


def decide_some(api: Any, n: int = 12) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        body = application_body(
            first_name=FIRST[i % len(FIRST)],
            last_name=f"Tester{i}",
            reference=f"SIM-{i}",
            annual_income=f"{18000 + 7000 * i}.00",
            amount=f"{2000 + 1500 * i}.00",
            employment_status="self_employed" if i % 3 == 0 else "employed",
        )
        r = api.post("/api/v1/decisions", body, format="json")
        assert r.status_code == 201, r.content
        out.append(r.json())
    return out


@pytest.fixture
def v1(product: Any) -> RuleSetVersion:
    services.ruleset_create(product=product, user=None)
    return RuleSetVersion.objects.get(rule_set__product=product, number=1)


def test_it_reports_the_flips_of_a_stricter_cutoff(
    api: Any, v1: RuleSetVersion, analyst: Any, django_capture_on_commit_callbacks: Any
) -> None:
    decided = decide_some(api)
    approvals = sum(1 for d in decided if d["outcome"] == "approve")
    assert approvals >= 2, [d["outcome"] for d in decided]
    draft = services.ruleset_version_clone(version=v1, user=analyst)
    services.ruleset_draft_update(version=draft, user=analyst, approve_max_pd=0.0001)
    with django_capture_on_commit_callbacks(execute=True):
        sim = services.simulation_request(version=draft, user=analyst, sample_size=100)
    sim.refresh_from_db()
    r = sim.results
    assert (sim.status, sim.total, sim.done, sim.progress, sim.error) == ("done", 12, 12, 1.0, "")
    assert sim.baseline_label == "personal-loan-v1" and r["version"] == draft.label
    assert r["count"] == 12 and sum(sum(row.values()) for row in r["matrix"].values()) == 12
    # Before = the published policy with the same model and inputs: it reproduces the stored outcomes.
    stored = {d["id"]: d["outcome"] for d in decided}
    assert r["outcomes_before"]["approve"] == approvals
    assert r["matrix"]["approve"]["refer"] + r["matrix"]["approve"]["decline"] == approvals
    assert r["matrix"]["approve"]["approve"] == 0 and r["approval_rate_after"] == 0.0
    assert r["approval_rate_change"] == pytest.approx(-approvals / 12)
    assert r["flips_by_reason"]["PD_REFER_BAND"] >= 1
    assert (
        sum(v["flips"] for v in r["flips_by_segment"]["employment"].values())
        == r["flipped"]
        == approvals
    )
    assert len(r["examples"]) == approvals
    for e in r["examples"]:
        assert e["before"] == "approve" == stored[e["decision_id"]] and e["after"] in (
            "refer",
            "decline",
        )


def test_an_unchanged_draft_flips_nothing(
    api: Any, v1: RuleSetVersion, analyst: Any, django_capture_on_commit_callbacks: Any
) -> None:
    decide_some(api, 6)
    draft = services.ruleset_version_clone(version=v1, user=analyst)
    with django_capture_on_commit_callbacks(execute=True):
        sim = services.simulation_request(version=draft, user=analyst, sample_size=3)
    sim.refresh_from_db()
    assert sim.total == 3 and sim.results["flipped"] == 0 and sim.results["count"] == 3


def test_it_records_progress_as_it_goes(api: Any, v1: RuleSetVersion, analyst: Any) -> None:
    decide_some(api, 7)
    draft = services.ruleset_version_clone(version=v1, user=analyst)
    sim = services.simulation_request(
        version=draft, user=analyst, sample_size=50
    )  # on_commit not run
    assert sim.status == "queued"
    with CaptureQueriesContext(connection) as ctx:
        services.simulation_run(simulation_id=sim.pk, progress_every=2)
    updates = [
        q["sql"]
        for q in ctx.captured_queries
        if q["sql"].startswith("UPDATE")
        and "rulesetsimulation" in q["sql"]
        and '"progress"' in q["sql"]
    ]
    assert len(updates) == 3 + 1  # after 2, 4 and 6 of 7, then done
    assert services.simulation_run(simulation_id=sim.pk) is None  # idempotent: claimed once


def test_a_draft_changed_after_the_request_fails_the_simulation(
    api: Any, v1: RuleSetVersion, analyst: Any
) -> None:
    decide_some(api, 2)
    draft = services.ruleset_version_clone(version=v1, user=analyst)
    sim = services.simulation_request(version=draft, user=analyst, sample_size=5)
    services.ruleset_draft_update(version=draft, user=analyst, decline_min_pd=0.3)
    services.simulation_run(simulation_id=sim.pk)
    sim.refresh_from_db()
    assert sim.status == "failed" and "changed after the simulation was requested" in sim.error


def test_simulations_refuse_drafts_with_failing_checks(v1: RuleSetVersion, analyst: Any) -> None:
    draft = services.ruleset_version_clone(version=v1, user=analyst)
    services.ruleset_draft_update(
        version=draft, user=analyst, approve_max_pd=0.5, decline_min_pd=0.1
    )
    with pytest.raises(services.ApplicationError) as e:
        services.simulation_request(version=draft, user=analyst)
    assert e.value.code == "checks_failing"


@pytest.mark.parametrize(
    ("status", "refreshes"), [("running", True), ("queued", True), ("done", False)]
)
def test_the_admin_page_shows_a_self_refreshing_progress_bar(
    client: Client, v1: RuleSetVersion, analyst: Any, status: str, refreshes: bool
) -> None:
    sim = RuleSetSimulation.objects.create(
        version=v1,
        content_hash=v1.content_hash,
        baseline_label=v1.label,
        sample_size=10,
        status=status,
        total=10,
        done=4,
        progress=0.4,
        results={"count": 10, "flipped": 0, "matrix": {}, "examples": []}
        if status == "done"
        else {},
    )
    client.force_login(analyst)
    html = client.get(f"/admin/decisioning/rulesetsimulation/{sim.pk}/change/").content.decode()
    assert "<progress" in html
    assert ('http-equiv="refresh"' in html) == refreshes
    assert ('value="40"' in html) == (status != "done")


def test_the_results_are_plain_json(
    api: Any, v1: RuleSetVersion, analyst: Any, django_capture_on_commit_callbacks: Any
) -> None:
    decide_some(api, 3)
    draft = services.ruleset_version_clone(version=v1, user=analyst)
    with django_capture_on_commit_callbacks(execute=True):
        sim = services.simulation_request(version=draft, user=analyst, sample_size=3)
    sim.refresh_from_db()
    assert json.loads(json.dumps(sim.results)) == sim.results
    assert Decision.objects.count() == 3  # simulation never writes decisions
