from __future__ import annotations

from typing import Any

import pytest
from django.core.management import CommandError, call_command

from decisioning.models import Decision, LoanOutcome
from decisioning.snapshots import application_data

pytestmark = pytest.mark.django_db


def test_stored_applications_round_trip_into_the_core(integration: Any, product: Any) -> None:
    call_command("generate_applications", count=5, seed=2, decide=True, client=integration[0].name, verbosity=0)
    for decision in Decision.objects.select_related("application"):
        app = application_data(decision.application)
        from decisioning.signals.gateway import signals_from_stored
        from modeling.features import FEATURE_NAMES, build_vector

        vector = build_vector(app, signals_from_stored(decision.signals), as_of=decision.created_at.date())
        stored = decision.features["values"]
        assert [stored[n] for n in FEATURE_NAMES] == [None if v != v else v for v in vector.values]


def test_train_model_learns_from_stored_decisions_with_outcomes(integration: Any, product: Any, settings: Any, tmp_path: Any) -> None:
    settings.MLFLOW_TRACKING_URI = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings.MLFLOW_ARTIFACT_ROOT = str(tmp_path / "art")
    call_command("generate_applications", count=900, seed=4, decide=True, client=integration[0].name, verbosity=0)
    with pytest.raises(CommandError, match="have outcomes"):
        call_command("train_model", product="personal-loan", source="decisions")
    call_command("simulate_outcomes", product="personal-loan", seed=4, verbosity=0)
    approved = Decision.objects.filter(outcome="approve").count()
    assert LoanOutcome.objects.count() == approved > 200
    assert LoanOutcome.objects.filter(status="defaulted").exists()
    call_command("train_model", product="personal-loan", source="decisions", trees=40, bootstrap=2, alias="challenger")
    from modeling.registry import _client

    mv = _client(settings.MLFLOW_TRACKING_URI).get_model_version_by_alias("verdict-personal-loan", "challenger")
    run = _client(settings.MLFLOW_TRACKING_URI).get_run(mv.run_id)
    assert run.data.tags["source"] == "decisions" and run.data.tags["decisions"] == str(approved)
