"""Role changes are audited: the services, the admin, `manage.py set_role` and demo seeding."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command
from django.test import Client

from audit.models import AuditEvent
from audit.services import Actor
from config.errors import ApplicationError
from decisioning import role_services, roles
from decisioning.management.commands.seed_demo import DEMO_USERS, seed_users
from decisioning.selectors import user_roles
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def role_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type__startswith="role.").order_by("seq"))


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def change_url(user: User) -> str:
    return f"/admin/auth/user/{user.pk}/change/"


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


@pytest.fixture
def superuser(db: Any) -> User:
    return User.objects.create_superuser("root", password="pw-root", first_name="Ruth")


# ---- the services ------------------------------------------------------------------------------


def test_it_grants_a_role_and_records_who_gave_it_to_whom(outsider: User, manager: User) -> None:
    role_services.role_grant(user=outsider, role=roles.UNDERWRITER, actor=Actor.for_user(manager))

    assert user_roles(user=outsider) == {roles.UNDERWRITER}
    [event] = role_events()
    assert (event.event_type, event.subject_type, event.subject_id) == (
        "role.granted",
        "user",
        str(outsider.pk),
    )
    assert (event.actor_type, event.actor_id, event.actor_display) == (
        "user",
        str(manager.pk),
        "Max",
    )
    assert event.payload == {
        "role": "underwriter",
        "user_id": outsider.pk,
        "user_display": "Olly",
        "before": [],
        "after": ["underwriter"],
    }


def test_it_revokes_a_role_and_records_who_took_it_from_whom(
    underwriter: User, manager: User
) -> None:
    role_services.role_revoke(
        user=underwriter, role=roles.UNDERWRITER, actor=Actor.for_user(manager)
    )

    assert user_roles(user=underwriter) == set()
    [event] = role_events()
    assert (event.event_type, event.subject_id, event.actor_id) == (
        "role.revoked",
        str(underwriter.pk),
        str(manager.pk),
    )
    assert event.payload["role"] == "underwriter"
    assert event.payload["user_display"] == "Uma"
    assert (event.payload["before"], event.payload["after"]) == (["underwriter"], [])


@pytest.mark.parametrize(
    ("service", "role"),
    [(role_services.role_grant, roles.UNDERWRITER), (role_services.role_revoke, roles.AUDITOR)],
)
def test_it_refuses_a_change_that_changes_nothing(
    underwriter: User, manager: User, service: Any, role: str
) -> None:
    with pytest.raises(ApplicationError) as err:
        service(user=underwriter, role=role, actor=Actor.for_user(manager))
    assert err.value.code == "no_change"
    assert "nothing changed" in err.value.message
    assert user_roles(user=underwriter) == {roles.UNDERWRITER}
    assert role_events() == []


@pytest.mark.parametrize("role", ["superuser", "admin", "Underwriter", "", "staff"])
@pytest.mark.parametrize("service", [role_services.role_grant, role_services.role_revoke])
def test_it_refuses_an_unknown_role(outsider: User, manager: User, service: Any, role: str) -> None:
    Group.objects.create(name="staff")  # a group, but not one of Verdict's roles
    with pytest.raises(ApplicationError) as err:
        service(user=outsider, role=role, actor=Actor.for_user(manager))
    assert err.value.code == "unknown_role"
    assert "risk_manager" in err.value.message
    assert not outsider.groups.exists()
    assert role_events() == []


def test_nobody_changes_their_own_roles(manager: User) -> None:
    for service, role in [
        (role_services.role_grant, roles.AUDITOR),
        (role_services.role_revoke, roles.RISK_MANAGER),
    ]:
        with pytest.raises(ApplicationError) as err:
            service(user=manager, role=role, actor=Actor.for_user(manager))
        assert err.value.code == "own_roles"
    assert user_roles(user=manager) == {roles.RISK_MANAGER}
    assert role_events() == []


def test_the_role_and_its_event_commit_together(
    outsider: User, manager: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("audit store down")

    monkeypatch.setattr(role_services, "audit_record", broken)
    with pytest.raises(RuntimeError):
        role_services.role_grant(user=outsider, role=roles.AUDITOR, actor=Actor.for_user(manager))
    assert not outsider.groups.exists()


# ---- the admin ---------------------------------------------------------------------------------


def test_a_risk_manager_changes_roles_in_the_admin(manager: User, underwriter: User) -> None:
    admin = signed_in(manager)
    page = admin.get(change_url(underwriter))
    assert page.status_code == 200
    form = page.context["adminform"].form
    assert "groups" not in form.fields and "user_permissions" not in form.fields
    assert form.fields["roles"].initial == ["underwriter"] and not form.fields["roles"].disabled

    r = admin.post(change_url(underwriter), {"roles": ["senior_underwriter"], "_save": "Save"})
    assert r.status_code == 302, r.content

    assert user_roles(user=underwriter) == {roles.SENIOR_UNDERWRITER}
    events = role_events()
    assert [(e.event_type, e.payload["role"]) for e in events] == [
        ("role.granted", "senior_underwriter"),
        ("role.revoked", "underwriter"),
    ]
    assert {(e.actor_id, e.subject_id) for e in events} == {(str(manager.pk), str(underwriter.pk))}
    assert len({e.correlation_id for e in events}) == 1  # one request, one correlation id


def test_a_risk_manager_changes_only_roles_in_the_admin(manager: User, underwriter: User) -> None:
    admin = signed_in(manager)
    r = admin.post(
        change_url(underwriter),
        {
            "roles": ["underwriter"],
            "username": "mallory",
            "is_superuser": "on",
            "is_staff": "on",
            "email": "x@example.com",
            "_save": "Save",
        },
    )
    assert r.status_code == 302
    after = fresh(underwriter)
    assert (after.username, after.is_superuser, after.is_staff, after.email) == (
        "uma",
        False,
        False,
        "",
    )
    assert role_events() == []
    assert admin.get(f"/admin/auth/user/{underwriter.pk}/password/").status_code == 403
    html = admin.get(change_url(underwriter)).content.decode()
    assert "../password/" not in html and "algorithm" not in html  # not even the hash summary


def test_a_superuser_changes_roles_in_the_admin(superuser: User, outsider: User) -> None:
    root = signed_in(superuser)
    assert "../password/" in root.get(change_url(outsider)).content.decode()
    joined = outsider.date_joined
    r = root.post(
        change_url(outsider),
        {
            "username": "olly",
            "first_name": "Olly",
            "last_name": "",
            "email": "",
            "roles": ["auditor", "risk_analyst"],
            "is_active": "on",
            "is_staff": "on",
            "date_joined_0": joined.strftime("%Y-%m-%d"),
            "date_joined_1": joined.strftime("%H:%M:%S"),
            "_save": "Save",
        },
    )
    assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r
    assert user_roles(user=outsider) == {roles.AUDITOR, roles.RISK_ANALYST}
    assert fresh(outsider).is_staff
    events = role_events()
    assert [e.payload["role"] for e in events] == ["auditor", "risk_analyst"]
    assert {e.actor_display for e in events} == {"Ruth"}


@pytest.mark.parametrize("persona", ["analyst", "auditor"])
def test_other_staff_cannot_change_roles_in_the_admin(
    request: Any, persona: str, underwriter: User
) -> None:
    admin = signed_in(request.getfixturevalue(persona))
    assert admin.get(change_url(underwriter)).status_code == 403
    r = admin.post(change_url(underwriter), {"roles": ["risk_manager"], "_save": "Save"})
    assert r.status_code == 403
    assert admin.get("/admin/auth/user/").status_code == 403
    assert user_roles(user=underwriter) == {roles.UNDERWRITER}
    assert role_events() == []


def test_an_underwriter_is_sent_to_the_admin_login(underwriter: User, outsider: User) -> None:
    r = signed_in(underwriter).post(change_url(outsider), {"roles": ["risk_manager"]})
    assert r.status_code == 302 and "/admin/login/" in r["Location"]
    assert not outsider.groups.exists()


def test_nobody_changes_their_own_roles_in_the_admin(manager: User, superuser: User) -> None:
    admin = signed_in(manager)
    form = admin.get(change_url(manager)).context["adminform"].form
    assert form.fields["roles"].disabled
    r = admin.post(change_url(manager), {"roles": ["risk_manager", "auditor"], "_save": "Save"})
    assert r.status_code == 302
    assert user_roles(user=manager) == {roles.RISK_MANAGER}

    root = signed_in(superuser)
    assert root.get(change_url(superuser)).context["adminform"].form.fields["roles"].disabled
    joined = superuser.date_joined
    r = root.post(
        change_url(superuser),
        {
            "username": "root",
            "first_name": "Ruth",
            "roles": ["risk_manager"],
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "date_joined_0": joined.strftime("%Y-%m-%d"),
            "date_joined_1": joined.strftime("%H:%M:%S"),
            "_save": "Save",
        },
    )
    assert r.status_code == 302
    assert user_roles(user=superuser) == set()
    assert role_events() == []


def test_the_user_list_shows_roles(manager: User, underwriter: User, senior: User) -> None:
    html = signed_in(manager).get("/admin/auth/user/").content.decode()
    assert "Underwriter" in html and "Senior underwriter" in html


# ---- manage.py set_role ------------------------------------------------------------------------


def test_the_command_grants_and_revokes(outsider: User) -> None:
    call_command("set_role", "olly", "auditor")
    call_command("set_role", "olly", "auditor", "--revoke")

    assert user_roles(user=outsider) == set()
    events = role_events()
    assert [e.event_type for e in events] == ["role.granted", "role.revoked"]
    assert {(e.actor_type, e.actor_display) for e in events} == {("system", "manage.py set_role")}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody", "auditor"], "No user 'nobody'"),
        (["uma", "wizard"], "'wizard' is not a role"),
        (["uma", "underwriter"], "already has the role underwriter"),
        (["uma", "auditor", "--revoke"], "does not have the role auditor"),
    ],
)
def test_the_command_refuses_clearly(underwriter: User, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("set_role", *args)
    assert role_events() == []


# ---- demo seeding ------------------------------------------------------------------------------


def test_demo_seeding_records_each_role_once() -> None:
    make_user("ana", roles.AUDITOR)  # an existing demo user with the wrong role is corrected

    seed_users()
    seed_users()  # a re-run changes nothing and records nothing

    for username, _name, role, _staff in DEMO_USERS:
        assert user_roles(user=User.objects.get(username=username)) == {role}
    events = role_events()
    assert sorted((e.event_type, e.payload["role"]) for e in events) == sorted(
        [("role.granted", role) for _u, _n, role, _s in DEMO_USERS] + [("role.revoked", "auditor")]
    )
    assert {(e.actor_type, e.actor_display) for e in events} == {("system", "seed_demo")}
