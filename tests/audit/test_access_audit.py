"""Access changes beyond roles: account flags, user and group permissions — audited and kept in
history, from the admin (through the services) and from anywhere else (audit.access)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client

from audit.models import AuditEvent
from audit.services import Actor
from config.errors import ApplicationError
from decisioning import role_services, roles

pytestmark = pytest.mark.django_db


def access_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type__regex=r"^(user|group)\.").order_by("seq"))


@pytest.fixture
def superuser(db: Any) -> User:
    return User.objects.create_superuser("root", password="pw-root", first_name="Ruth")


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _user_form(user: User, **flags: bool) -> dict[str, Any]:
    joined = user.date_joined
    data: dict[str, Any] = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "roles": sorted(user.groups.values_list("name", flat=True)),
        "date_joined_0": joined.strftime("%Y-%m-%d"),
        "date_joined_1": joined.strftime("%H:%M:%S"),
        "_save": "Save",
    }
    for flag in ("is_active", "is_staff", "is_superuser"):
        if flags.get(flag, getattr(user, flag)):
            data[flag] = "on"
    return data


def test_a_superuser_changes_access_flags_in_the_admin(superuser: User, outsider: User) -> None:
    before = AuditEvent.objects.count()
    r = signed_in(superuser).post(
        f"/admin/auth/user/{outsider.pk}/change/",
        _user_form(outsider, is_staff=True, is_superuser=True),
    )
    assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r
    after = User.objects.get(pk=outsider.pk)
    assert after.is_staff and after.is_superuser
    [event] = AuditEvent.objects.filter(seq__gt=0).order_by("seq")[before:]
    assert (event.event_type, event.subject_id, event.actor_id) == (
        "user.access_changed",
        str(outsider.pk),
        str(superuser.pk),
    )
    assert event.payload["changes"] == {"is_staff": [False, True], "is_superuser": [False, True]}
    assert "via" not in event.payload  # the service wrote it, not the safety net
    latest = User.history.filter(id=outsider.pk).latest("history_date")
    assert latest.is_superuser and latest.history_user_id == superuser.pk
    assert not hasattr(latest, "password")  # the hash never enters history


def test_nobody_changes_their_own_access_flags(superuser: User) -> None:
    r = signed_in(superuser).post(
        f"/admin/auth/user/{superuser.pk}/change/", _user_form(superuser, is_superuser=False)
    )
    assert r.status_code == 302
    assert User.objects.get(pk=superuser.pk).is_superuser
    assert not access_events()[1:]  # only create_superuser's own event
    with pytest.raises(ApplicationError):
        role_services.user_access_set(
            user=superuser, actor=Actor.for_user(superuser), is_active=False
        )


def test_group_permissions_change_in_the_admin_through_the_service(superuser: User) -> None:
    group = Group.objects.get(name=roles.AUDITOR)
    held = list(group.permissions.values_list("pk", flat=True))
    extra = Permission.objects.get(codename="add_decision")
    before = AuditEvent.objects.count()
    r = signed_in(superuser).post(
        f"/admin/auth/group/{group.pk}/change/",
        {"name": group.name, "permissions": [*held, extra.pk], "_save": "Save"},
    )
    assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r
    assert group.permissions.filter(pk=extra.pk).exists()
    [event] = AuditEvent.objects.order_by("seq")[before:]
    assert (event.event_type, event.subject_type, event.subject_id) == (
        "group.permissions_changed",
        "group",
        str(group.pk),
    )
    assert event.payload["added"] == ["decisioning.add_decision"] and event.payload["is_role"]
    assert event.actor_id == str(superuser.pk)
    assert Group.history.filter(id=group.pk).exists()


def test_a_change_in_the_shell_is_recorded_unattributed(outsider: User) -> None:
    outsider.is_staff = True
    outsider.save()
    outsider.user_permissions.add(Permission.objects.get(codename="view_decision"))
    flags, perms = access_events()
    assert flags.event_type == "user.access_changed" and flags.payload["via"] == "signal"
    assert flags.actor_display == "unattributed" and flags.payload["changes"] == {
        "is_staff": [False, True]
    }
    assert perms.payload["added"] == ["decisioning.view_decision"]
    assert perms.payload["after"] == ["decisioning.view_decision"]


def test_a_change_during_a_request_names_the_signed_in_user(manager: User, outsider: User) -> None:
    from django.test import RequestFactory
    from simple_history.models import HistoricalRecords

    request = RequestFactory().get("/")
    request.user = manager
    HistoricalRecords.context.request = request
    try:
        outsider.groups.add(Group.objects.get(name=roles.AUDITOR))
    finally:
        del HistoricalRecords.context.request
    [event] = [e for e in access_events() if e.subject_id == str(outsider.pk)]
    assert (event.event_type, event.actor_id) == ("user.groups_changed", str(manager.pk))
    assert event.payload["added"] == [roles.AUDITOR]


def test_signing_in_and_other_edits_are_not_access_changes(outsider: User) -> None:
    rows = User.history.filter(id=outsider.pk).count()
    Client().login(username=outsider.username, password="pw-" + outsider.username)
    outsider.refresh_from_db()
    assert outsider.last_login is not None
    assert User.history.filter(id=outsider.pk).count() == rows  # no history row for a sign-in
    outsider.first_name = "Otto"
    outsider.save()
    assert access_events() == []


def test_the_services_refuse_a_change_that_changes_nothing(outsider: User) -> None:
    with pytest.raises(ApplicationError):
        role_services.user_access_set(user=outsider, actor=Actor.system("t"), is_active=True)
    with pytest.raises(ApplicationError):
        role_services.user_permissions_set(user=outsider, permissions=[], actor=Actor.system("t"))
    assert access_events() == []
