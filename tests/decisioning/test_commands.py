from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from audit.models import AuditEvent
from decisioning.models import ApiToken, Decision, IntegrationClient
from reviews.models import ReviewCase

pytestmark = pytest.mark.django_db


def test_issue_api_token_prints_a_working_token(capsys: Any, product: Any) -> None:
    call_command("issue_api_token", "broker-x", "--create")
    raw = capsys.readouterr().out.strip()
    assert raw.startswith("vdt_")
    token = ApiToken.objects.get(client__name="broker-x")
    assert token.key_hash != raw and raw not in token.key_hash  # only the hash is kept
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    assert api.get("/api/v1/products").status_code == 200
    assert AuditEvent.objects.filter(event_type="api_token.issued").count() == 1


def test_issue_api_token_refuses_an_unknown_client_without_create() -> None:
    with pytest.raises(CommandError, match="--create"):
        call_command("issue_api_token", "nobody")
    assert not IntegrationClient.objects.exists()


def test_generate_applications_is_seeded_and_writes_api_bodies(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    call_command("generate_applications", count=50, seed=3, out=str(a))
    call_command("generate_applications", count=50, seed=3, out=str(b))
    lines = a.read_text().splitlines()
    assert len(lines) == 50
    first = json.loads(lines[0])
    assert set(first) == {"request", "true_pd", "defaulted"}
    assert set(first["request"]) == {"product", "reference", "applicant", "loan"}
    # Same seed, same applicants (references and timestamps aside).
    strip = lambda path: [json.loads(x)["request"]["applicant"] for x in path.read_text().splitlines()]  # noqa: E731
    assert strip(a) == strip(b)


def test_generated_bodies_pass_the_api_contract(tmp_path: Path, api: APIClient, product: Any) -> None:
    out = tmp_path / "g.jsonl"
    call_command("generate_applications", count=40, seed=5, out=str(out))
    for line in out.read_text().splitlines():
        body = json.loads(line)["request"]
        r = api.post("/api/v1/decisions", body, format="json")
        assert r.status_code in (201, 400), r.content
        if r.status_code == 400:  # only the product's limits may refuse a generated application
            assert set(r.json()["errors"]) <= {"requested_amount", "term_months"}, r.json()


def test_generate_applications_decides_through_the_pipeline(integration: Any, product: Any) -> None:
    call_command("generate_applications", count=60, seed=9, decide=True, client=integration[0].name, verbosity=0)
    assert Decision.objects.count() == 60
    outcomes = set(Decision.objects.values_list("outcome", flat=True))
    assert "approve" in outcomes and len(outcomes) >= 2
    assert ReviewCase.objects.count() == Decision.objects.filter(outcome="refer").count()
    assert AuditEvent.objects.filter(event_type="decision.created").count() == 60


def test_generate_applications_validates_its_arguments() -> None:
    with pytest.raises(CommandError):
        call_command("generate_applications", count=0)
    with pytest.raises(CommandError, match="seed_demo"):
        call_command("generate_applications", count=1, decide=True, client="nobody")


def test_a_risk_manager_issues_a_token_in_the_admin(client: Client, manager: Any, product: Any) -> None:
    target = IntegrationClient.objects.create(name="partner")
    client.force_login(manager)
    r = client.post(
        "/admin/decisioning/integrationclient/",
        {"action": "issue_token", "_selected_action": [target.pk]},
        follow=True,
    )
    assert r.status_code == 200
    shown = [str(m) for m in r.context["messages"]]
    assert any("vdt_" in m for m in shown), shown
    assert ApiToken.objects.filter(client=target).count() == 1


def test_an_analyst_cannot_issue_tokens_in_the_admin(client: Client, analyst: Any) -> None:
    target = IntegrationClient.objects.create(name="partner")
    client.force_login(analyst)
    client.post("/admin/decisioning/integrationclient/", {"action": "issue_token", "_selected_action": [target.pk]})
    assert not ApiToken.objects.exists()
