"""Shadow scoring: every challenger scores every live decision after commit, stores what it would
have decided beside the decision, never changes the outcome, and never stores anything twice.

Challengers here are installed scorers (no MLflow): the registry path is in test_promotion_flow.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from django.db import IntegrityError
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from audit.services import Actor
from decisioning.models import Decision
from modeling import services, serving
from modeling.models import ModelAssignment, ShadowScore
from tests.conftest import PRODUCT_CODE, application_body

pytestmark = pytest.mark.django_db


class Pessimist:
    """A challenger that scores like the champion, then adds `shift` to the PD."""

    def __init__(self, base: Any, version: str, shift: float) -> None:
        self._base, self.model_version, self._shift = base, version, shift
        self.model_name, self.model_hash = base.model_name, f"{version:0>64}"

    def score(self, vector: Any) -> Any:
        s = self._base.score(vector)
        return dataclasses.replace(
            s,
            model_version=self.model_version,
            model_hash=self.model_hash,
            pd=min(1.0, s.pd + self._shift),
            pd_lower=s.pd_lower,
            pd_upper=min(1.0, s.pd_upper + self._shift),
        )

    def pd_only(self, vectors: Any) -> list[float]:
        return [min(1.0, p + self._shift) for p in self._base.pd_only(vectors)]


@pytest.fixture
def challengers(trained_scorer: Any, product: Any, manager: Any) -> list[ModelAssignment]:
    serving.set_scorer_version(PRODUCT_CODE, "2", Pessimist(trained_scorer, "2", 0.6))
    serving.set_scorer_version(PRODUCT_CODE, "3", Pessimist(trained_scorer, "3", 0.0))
    actor = Actor.for_user(manager)
    return [
        services.challenger_start(product=product, version=v, actor=actor, user=manager)
        for v in ("2", "3")
    ]


def _decide(api: APIClient, capture: Any, **overrides: Any) -> dict[str, Any]:
    with capture(execute=True):
        r = api.post("/api/v1/decisions", application_body(**overrides), format="json")
    assert r.status_code == 201, r.content
    return r.json()


def test_it_stores_each_challengers_view_beside_the_decision(
    api: APIClient, challengers: Any, django_capture_on_commit_callbacks: Any
) -> None:
    d = _decide(api, django_capture_on_commit_callbacks)
    assert d["outcome"] == "approve" and d["model"]["version"] == "1"
    rows = {r.model_version: r for r in ShadowScore.objects.filter(decision_id=d["id"])}
    assert set(rows) == {"2", "3"}
    # The pessimist would have declined through the same policy's cut-offs, with its reasons …
    assert rows["2"].outcome == "decline" and rows["2"].pd > 0.6
    assert "PD_ABOVE_CUTOFF" in [r["code"] for r in rows["2"].reasons]
    # … the twin agrees to the last bit; neither changed the decision.
    assert rows["3"].outcome == "approve" and rows["3"].pd == d["pd"]
    assert Decision.objects.get(pk=d["id"]).outcome == "approve"
    assert (
        rows["2"].champion_outcome == "approve"
        and rows["2"].ruleset_version == d["ruleset_version"]
    )


def test_a_retried_task_stores_nothing_twice(
    api: APIClient, challengers: Any, django_capture_on_commit_callbacks: Any
) -> None:
    d = _decide(api, django_capture_on_commit_callbacks)
    assert services.shadow_score_decision(decision_id=d["id"]) == []
    assert ShadowScore.objects.filter(decision_id=d["id"]).count() == 2
    row = ShadowScore.objects.filter(decision_id=d["id"]).first()
    with pytest.raises(IntegrityError):
        ShadowScore.objects.create(
            **{
                f.attname: getattr(row, f.attname)
                for f in ShadowScore._meta.concrete_fields
                if f.name != "id"
            }
        )


def test_no_challenger_means_no_task_and_no_query_once_cached(
    product: Any,
    api: APIClient,
    django_assert_num_queries: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    d = _decide(api, django_capture_on_commit_callbacks)
    decision = Decision.objects.get(pk=d["id"])
    services.invalidate_shadow_cache()
    with django_capture_on_commit_callbacks() as callbacks:
        with django_assert_num_queries(1):
            assert services.shadow_schedule(decision=decision) is False
        with django_assert_num_queries(0):
            assert services.shadow_schedule(decision=decision) is False
    assert callbacks == []
    assert not ShadowScore.objects.exists()


def test_only_decisions_inside_the_window_are_shadowed(
    api: APIClient,
    trained_scorer: Any,
    product: Any,
    manager: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    before = _decide(api, django_capture_on_commit_callbacks, first_name="Ann")
    serving.set_scorer_version(PRODUCT_CODE, "2", Pessimist(trained_scorer, "2", 0.0))
    services.challenger_start(product=product, version="2", actor=Actor.for_user(manager))
    inside = _decide(api, django_capture_on_commit_callbacks, first_name="Bob")
    services.challenger_stop(
        product=product, version="2", actor=Actor.for_user(manager), rationale="enough"
    )
    after = _decide(api, django_capture_on_commit_callbacks, first_name="Cy")
    scored = set(ShadowScore.objects.values_list("decision_id", flat=True))
    assert {str(x) for x in scored} == {inside["id"]}
    assert services.shadow_score_decision(decision_id=before["id"]) == []
    assert services.shadow_score_decision(decision_id=after["id"]) == []
    types = list(
        AuditEvent.objects.filter(event_type__startswith="model.").values_list(
            "event_type", flat=True
        )
    )
    assert sorted(types) == ["model.challenger_started", "model.challenger_stopped"]


def test_a_broken_challenger_never_touches_the_decision(
    api: APIClient,
    trained_scorer: Any,
    product: Any,
    manager: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    serving.set_scorer_version(PRODUCT_CODE, "2", Pessimist(trained_scorer, "2", 0.0))
    services.challenger_start(product=product, version="2", actor=Actor.for_user(manager))
    serving.forget(
        PRODUCT_CODE
    )  # the challenger can no longer be loaded (no registry in this test)
    serving.set_scorer(PRODUCT_CODE, trained_scorer)
    d = _decide(api, django_capture_on_commit_callbacks)
    assert d["outcome"] == "approve"
    assert not ShadowScore.objects.exists()


def test_backfill_scores_what_was_missed(
    api: APIClient, challengers: Any, product: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):  # the broker "lost" the task
        r = api.post("/api/v1/decisions", application_body(), format="json")
    assert not ShadowScore.objects.filter(decision_id=r.json()["id"]).exists()
    assert services.shadow_backfill(product=product, version="2") == 1
    assert services.shadow_backfill(product=product, version="2") == 0


def test_the_case_page_shows_the_challengers_view(
    api: APIClient, challengers: Any, django_capture_on_commit_callbacks: Any
) -> None:
    d = _decide(api, django_capture_on_commit_callbacks)
    from reviews.views import _challenger

    shown = _challenger(Decision.objects.get(pk=d["id"]))
    assert {s["model"] for s in shown} == {f"verdict-{PRODUCT_CODE} 2", f"verdict-{PRODUCT_CODE} 3"}
    assert all(s["outcome"] in ("approve", "refer", "decline") for s in shown)


def test_a_challenger_cannot_be_the_champion_or_start_twice(
    challengers: Any, product: Any, manager: Any
) -> None:
    from config.errors import Conflict, NotFound

    with pytest.raises(Conflict):
        services.challenger_start(product=product, version="1", actor=Actor.for_user(manager))
    with pytest.raises(Conflict):
        services.challenger_start(product=product, version="2", actor=Actor.for_user(manager))
    with pytest.raises(NotFound):
        services.challenger_start(
            product=product,
            version="404",
            actor=Actor.for_user(manager),
            now=timezone.now() + dt.timedelta(days=1),
        )
