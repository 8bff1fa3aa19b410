from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from decisioning import roles

pytestmark = pytest.mark.django_db


def test_the_roles_exist_as_groups() -> None:
    assert set(Group.objects.values_list("name", flat=True)) >= set(roles.ALL_ROLES)


PERMS = {
    # perm: roles that have it
    "reviews.view_queue": {"underwriter", "senior", "manager", "auditor"},
    "reviews.work_cases": {"underwriter", "senior"},
    "reviews.approve_overrides": {"senior"},
    "decisioning.edit_policy": {"analyst", "manager"},
    "decisioning.publish_policy": {"manager"},
    "modeling.promote_model": {"manager"},
    "audit.view_audit": {"auditor", "manager"},
    "audit.export": {"auditor"},
    "auth.change_roles": {"manager"},  # and superusers
}
PERSONAS = ["underwriter", "senior", "analyst", "manager", "auditor", "outsider"]


@pytest.mark.parametrize("perm", sorted(PERMS))
def test_permission_matrix(request: Any, perm: str) -> None:
    for persona in PERSONAS:
        user = request.getfixturevalue(persona)
        assert user.has_perm(perm) == (persona in PERMS[perm]), (perm, persona)


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("underwriter", 200),
        ("senior", 200),
        ("manager", 200),
        ("auditor", 200),
        ("analyst", 404),
        ("outsider", 404),
    ],
)
def test_the_review_queue_is_for_its_roles(
    request: Any, client: Client, persona: str, status: int
) -> None:
    client.force_login(request.getfixturevalue(persona))
    assert client.get("/reviews/").status_code == status


def test_anonymous_users_are_sent_to_login(client: Client) -> None:
    r = client.get("/reviews/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    ("persona", "allowed"),
    [
        ("underwriter", False),
        ("senior", False),
        ("outsider", False),
        ("analyst", True),
        ("manager", True),
        ("auditor", True),
    ],
)
def test_only_staff_roles_reach_the_admin(
    request: Any, client: Client, persona: str, allowed: bool
) -> None:
    client.force_login(request.getfixturevalue(persona))
    r = client.get("/admin/")
    assert (r.status_code == 200) == allowed
    if not allowed:
        assert r.status_code == 302 and "/admin/login/" in r["Location"]


def test_underwriters_see_no_admin_link(client: Client, underwriter: Any) -> None:
    client.force_login(underwriter)
    html = client.get("/reviews/").content.decode()
    assert "/admin/" not in html and "Review queue" in html


def test_login_and_logout(client: Client, underwriter: Any) -> None:
    r = client.post("/accounts/login/", {"username": "uma", "password": "pw-uma"})
    assert r.status_code == 302
    assert client.get("/").status_code == 302  # home → the queue
    r = client.post("/accounts/logout/")
    assert r.status_code == 302
    assert client.get("/reviews/").status_code == 302


@pytest.mark.django_db(transaction=True)
def test_the_roles_survive_a_database_flush() -> None:
    from django.core.management import call_command

    call_command("flush", "--noinput", verbosity=0)
    analyst = Group.objects.get(name=roles.RISK_ANALYST)
    assert set(Group.objects.values_list("name", flat=True)) >= set(roles.ALL_ROLES)
    assert analyst.permissions.filter(codename="view_decision").exists()
    assert analyst.permissions.filter(codename="change_rulesetversion").exists()
