"""The integration learns the final outcome: the API shows it, and a signed webhook is POSTed after
commit (Celery, retried with backoff) to a real HTTP server on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from reviews import services, tasks
from reviews.models import ReviewCase, WebhookDelivery
from tests.reviews.conftest import fresh
from tests.webhook_receiver import Receiver

SECRET = "whsec-test-0123456789"
RATIONALE = "Income verified from three months of payslips; affordable."


@pytest.fixture
def receiver(integration: Any) -> Iterator[Receiver]:
    with Receiver("/hooks/verdict") as r:
        client = integration[0]
        client.webhook_url, client.webhook_secret = r.url, SECRET
        client.save()
        yield r


@pytest.fixture(autouse=True)
def _roles(db: None) -> None:
    """Transaction tests flush the database, data-migrated groups included: put the roles back
    (serialized_rollback clashes with other flushing tests over content types)."""
    from django.contrib.auth.models import Group

    from decisioning import roles

    for name in roles.ALL_ROLES:
        Group.objects.get_or_create(name=name)


@pytest.fixture(autouse=True)
def _no_backoff_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks, "BACKOFF_BASE_S", 0)


def decide(case: ReviewCase, user: Any, outcome: str = "approve", **kw: Any) -> Any:
    services.case_claim(actor=user, case_id=case.pk, expected_version=fresh(case).version)
    return services.case_decide(
        actor=user,
        case_id=case.pk,
        expected_version=fresh(case).version,
        outcome=outcome,
        rationale=RATIONALE,
        **kw,
    )


def verify(request: dict[str, Any]) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in request["headers"].items()}
    timestamp = headers["x-verdict-timestamp"]
    expected = hmac.new(
        SECRET.encode(), timestamp.encode() + b"." + request["body"], hashlib.sha256
    ).hexdigest()
    assert headers["x-verdict-signature"] == f"sha256={expected}"
    assert abs(time.time() - int(timestamp)) < 60
    return json.loads(request["body"])


@pytest.mark.django_db(transaction=True)
def test_it_posts_a_signed_final_outcome_after_commit(
    receiver: Receiver, case: ReviewCase, underwriter: Any
) -> None:
    decide(case, underwriter, outcome="decline", reason_codes=["UNAFFORDABLE"])
    assert len(receiver.requests) == 1
    body = verify(receiver.requests[0])
    assert body["event"] == "decision.final_outcome"
    assert body["decision_id"] == str(case.decision_id)
    assert (body["engine_outcome"], body["final_outcome"], body["reason_codes"]) == (
        "refer",
        "decline",
        ["UNAFFORDABLE"],
    )
    assert body["review"]["case_id"] == case.pk and body["review"]["second_approval"] is False
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert str(delivery.pk) == body["delivery_id"]


@pytest.mark.django_db(transaction=True)
def test_it_retries_after_a_server_error(
    receiver: Receiver, case: ReviewCase, underwriter: Any
) -> None:
    receiver.statuses = [500, 503]
    decide(case, underwriter)
    assert len(receiver.requests) == 3
    bodies = [verify(r) for r in receiver.requests]
    assert len({b["delivery_id"] for b in bodies}) == 1  # the same delivery, retried
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 3, 200)


@pytest.mark.django_db(transaction=True)
def test_it_gives_up_after_the_last_retry_and_on_a_4xx(
    receiver: Receiver, make: Any, underwriter: Any
) -> None:
    receiver.statuses = [500] * (tasks.MAX_RETRIES + 1)
    decide(make().review_case, underwriter)
    assert len(receiver.requests) == tasks.MAX_RETRIES + 1
    assert WebhookDelivery.objects.get().status == "failed"

    receiver.requests.clear()
    receiver.statuses = [410]
    decide(make().review_case, underwriter)
    assert len(receiver.requests) == 1  # a refusal is not retried
    assert WebhookDelivery.objects.order_by("-created_at").first().status == "failed"


@pytest.mark.django_db(transaction=True)
def test_a_delivery_already_made_is_not_sent_again(
    receiver: Receiver, case: ReviewCase, underwriter: Any
) -> None:
    decide(case, underwriter)
    delivery = WebhookDelivery.objects.get()
    assert tasks.deliver_webhook.apply(args=[str(delivery.pk)]).get() == "nothing-to-send"
    assert len(receiver.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_decision_never_sends(
    receiver: Receiver, case: ReviewCase, underwriter: Any
) -> None:
    services.case_claim(actor=underwriter, case_id=case.pk, expected_version=case.version)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        services.case_decide(
            actor=underwriter,
            case_id=case.pk,
            expected_version=fresh(case).version,
            outcome="approve",
            rationale=RATIONALE,
        )
        raise Boom
    assert receiver.requests == []
    assert not WebhookDelivery.objects.exists()
    assert fresh(case).status == ReviewCase.Status.CLAIMED


@pytest.mark.django_db(transaction=True)
def test_no_webhook_url_no_delivery(case: ReviewCase, underwriter: Any) -> None:
    decide(case, underwriter)
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_four_eyes_sends_only_after_the_second_approval(
    receiver: Receiver, big_case: ReviewCase, underwriter: Any, senior: Any
) -> None:
    decide(big_case, underwriter)
    assert receiver.requests == []
    services.case_approve_override(
        actor=senior,
        case_id=big_case.pk,
        expected_version=fresh(big_case).version,
        rationale="Agree: verified income supports it.",
    )
    body = verify(receiver.requests[0])
    assert body["final_outcome"] == "approve" and body["review"]["second_approval"] is True


def test_the_api_shows_the_final_outcome(
    api: APIClient, case: ReviewCase, underwriter: Any
) -> None:
    url = f"/api/v1/decisions/{case.decision_id}"
    before = api.get(url).json()
    assert before["final_outcome"] is None and before["review"]["status"] == "open"
    decide(case, underwriter, outcome="decline", reason_codes=["UNAFFORDABLE"])
    after = api.get(url).json()
    assert after["outcome"] == "refer"
    assert after["final_outcome"] == "decline"
    assert after["review"]["status"] == "decided" and after["review"]["final_outcome"] == "decline"
    assert after["review"]["decided_at"]
