"""Replay: a stored decision re-run from its own records gives the same outcome, the same PD bit
for bit, the same reasons and rule results — across model and rule-set changes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audit.replay import decision_replay
from decisioning.models import Decision, RuleSetSimulation, RuleSetVersion
from decisioning.rules import selectors as rule_selectors
from decisioning.rules import services as rule_services
from modeling import serving
from tests.conftest import PRODUCT_CODE

pytestmark = pytest.mark.django_db

APPLICANTS = [
    {},
    {"annual_income": "21000.00", "existing_debt": "9000.00", "monthly_debt_payments": "400.00"},
    {"employment_status": "self_employed", "months_in_employment": 8, "amount": "15000.00"},
    {"bankrupt_or_iva": True},
    {
        "first_name": "Zed",
        "last_name": "Quinn",
        "date_of_birth": "2001-02-03",
        "postcode": "M1 1AE",
        "residential_status": "rent",
        "months_at_address": 3,
    },
]


@pytest.fixture(autouse=True)
def _fresh_caches(trained_scorer: Any) -> Any:
    rule_selectors.invalidate_policy_cache()
    serving.set_scorer_version(PRODUCT_CODE, "1", trained_scorer)
    yield
    rule_selectors.invalidate_policy_cache()


def test_a_decision_replays_bit_for_bit(decide_via_api: Any) -> None:
    for overrides in APPLICANTS:
        decision = decide_via_api(**overrides)
        result = decision_replay(decision=decision)
        assert result.matches, result.differences or result.error
        assert result.outcome == decision.outcome and result.pd == decision.pd
        assert result.pd_bits and result.model == f"verdict-{PRODUCT_CODE}:1"


def test_a_decision_made_without_a_model_replays_without_one(
    decide_via_api: Any, trained_scorer: Any
) -> None:
    serving.set_scorer(PRODUCT_CODE, None)
    decision = decide_via_api()
    serving.set_scorer(PRODUCT_CODE, trained_scorer)
    assert decision.outcome == "refer" and decision.pd is None
    assert decision_replay(decision=decision).matches


def test_a_changed_record_shows_a_diff(decide_via_api: Any) -> None:
    decision = decide_via_api()
    with connection.cursor() as cursor:  # tamper as a DBA would: guard off, change the stored PD
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred FK checks pending
            cursor.execute("ALTER TABLE decisioning_decision DISABLE TRIGGER verdict_immutable_row")
        else:
            cursor.execute('DROP TRIGGER "verdict_immutable_upd_decisioning_decision"')
        cursor.execute(
            "UPDATE decisioning_decision SET pd = %s, outcome = 'decline' WHERE id = %s",
            [
                decision.pd + 1e-12,
                decision.pk.hex if connection.vendor == "sqlite" else decision.pk,
            ],
        )
    decision = Decision.objects.get(pk=decision.pk)
    result = decision_replay(decision=decision)
    assert not result.matches
    fields = {d.field for d in result.differences}
    assert {"pd", "outcome"} <= fields


def test_the_command_reports_a_match_and_a_missing_model(decide_via_api: Any, capsys: Any) -> None:
    decision = decide_via_api()
    call_command("replay_decision", str(decision.pk))
    assert "replay matches" in capsys.readouterr().out
    serving.forget()  # the exact version is no longer loaded, and the test registry does not have it
    with pytest.raises(CommandError, match="did not replay"):
        call_command("replay_decision", str(decision.pk))
    assert "cannot be loaded" in capsys.readouterr().out
    with pytest.raises(CommandError, match="not found"):
        call_command("replay_decision", "not-a-uuid")


def _replayed_events(decision: Decision) -> list[Any]:
    from audit.models import AuditEvent

    return list(
        AuditEvent.objects.filter(
            event_type="decision.replayed", subject_type="decision", subject_id=str(decision.pk)
        )
    )


def test_running_a_replay_from_the_command_is_an_audit_event(
    decide_via_api: Any, capsys: Any
) -> None:
    decision = decide_via_api()
    call_command("replay_decision", str(decision.pk), "--by", "aud@cli")
    (event,) = _replayed_events(decision)
    assert event.actor_type == "system" and event.actor_display == "aud@cli"
    assert event.payload["matches"] is True and event.payload["differences"] == []
    assert event.payload["replayed"]["pd_bits"] == event.payload["stored"]["pd_bits"] != ""
    assert event.payload["replayed"]["outcome"] == decision.outcome
    serving.forget()
    with pytest.raises(CommandError):
        call_command("replay_decision", str(decision.pk))
    failed = _replayed_events(decision)[-1]
    assert failed.payload["matches"] is False and "cannot be loaded" in failed.payload["error"]


def test_a_replay_that_differs_records_what_differed(decide_via_api: Any, auditor: Any) -> None:
    from tests.audit.conftest import signed_in

    decision = decide_via_api()
    with connection.cursor() as cursor:  # tamper as in test_a_changed_record_shows_a_diff
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE decisioning_decision DISABLE TRIGGER verdict_immutable_row")
        else:
            cursor.execute('DROP TRIGGER "verdict_immutable_upd_decisioning_decision"')
        cursor.execute(
            "UPDATE decisioning_decision SET outcome = 'decline' WHERE id = %s",
            [decision.pk.hex if connection.vendor == "sqlite" else decision.pk],
        )
    r = signed_in(auditor).post(f"/audit/decisions/{decision.pk}/replay")
    assert r.status_code == 200 and b'id="replay-result">Differs' in r.content
    (event,) = _replayed_events(decision)
    assert event.actor_id == str(auditor.pk) and event.payload["matches"] is False
    assert "outcome" in {d["field"] for d in event.payload["differences"]}
    assert event.payload["stored"]["outcome"] == "decline"


def test_replay_across_a_rule_set_change(
    decide_via_api: Any,
    product: Any,
    analyst: Any,
    manager: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    rule_services.ruleset_create(product=product, user=None)
    under_v1 = [decide_via_api(**a) for a in APPLICANTS]
    v1 = RuleSetVersion.objects.get(rule_set__product=product, number=1)
    draft = rule_services.ruleset_version_clone(version=v1, user=analyst)
    rule_services.ruleset_draft_update(version=draft, user=analyst, approve_max_pd=0.06)
    rule_services.ruleset_submit(version=draft, user=analyst)
    with django_capture_on_commit_callbacks(execute=True):
        sim = rule_services.simulation_request(version=draft, user=analyst, sample_size=20)
    sim.refresh_from_db()
    assert sim.status == RuleSetSimulation.Status.DONE, sim.error
    rule_services.ruleset_publish(version=draft, user=manager, simulation=sim)
    rule_selectors.invalidate_policy_cache()
    under_v2 = [decide_via_api(**a) for a in APPLICANTS]

    assert {d.ruleset_version for d in under_v1} == {"personal-loan-v1"}
    assert {d.ruleset_version for d in under_v2} == {"personal-loan-v2"}
    from audit.replay import policy_at

    cutoffs = {
        v: policy_at(product=product, version=v).cutoffs.approve_max_pd
        for v in ("personal-loan-v1", "personal-loan-v2")
    }
    assert cutoffs == {"personal-loan-v1": 0.08, "personal-loan-v2": 0.06}  # each its own policy
    for decision in under_v1 + under_v2:
        result = decision_replay(decision=decision)
        assert result.matches, (decision.ruleset_version, result.differences, result.error)


@pytest.fixture(scope="module")
def two_models() -> tuple[Any, Any]:
    from modeling.features import FEATURE_NAMES
    from modeling.synthetic import generate, training_data
    from modeling.training import train

    end = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    X, y, _ = training_data(generate(3000, seed=21, start=end - dt.timedelta(days=365), end=end))
    return tuple(  # type: ignore[return-value]
        train(X, y, feature_names=FEATURE_NAMES, seed=seed, num_boost_round=rounds, n_bootstrap=3)
        for seed, rounds in ((21, 30), (22, 45))
    )


@pytest.mark.slow
def test_replay_across_a_model_change_loads_each_exact_registry_version(
    decide_via_api: Any, two_models: tuple[Any, Any], tmp_path: Path, settings: Any
) -> None:
    from modeling import registry

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings.MLFLOW_TRACKING_URI = uri

    def register(result: Any) -> Any:
        return registry.register_model(
            result,
            product_code=PRODUCT_CODE,
            tracking_uri=uri,
            artifact_root=tmp_path / "artefacts",
            alias="champion",
            dataset_hash="0" * 64,
            dataset_size=3000,
        )

    first = register(two_models[0])
    serving.forget()
    under_v1 = [decide_via_api(**a) for a in APPLICANTS]
    second = register(two_models[1])  # the promotion
    serving.forget()
    under_v2 = [decide_via_api(**a) for a in APPLICANTS]

    assert {(d.model_version, d.model_hash) for d in under_v1} == {("1", first.sha256)}
    assert {(d.model_version, d.model_hash) for d in under_v2} == {("2", second.sha256)}
    assert [d.pd for d in under_v1] != [d.pd for d in under_v2]

    serving.forget()  # nothing in memory: replay must load each exact version from the registry
    for decision in under_v1 + under_v2:
        result = decision_replay(decision=decision)
        assert result.matches, (decision.model_version, result.differences, result.error)
        assert result.model_hash == decision.model_hash
