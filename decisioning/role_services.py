"""Access changes: staff roles, account flags and permissions, each with its audit event.

A role is a Django group, so a bare `user.groups.add()` would change what someone may do with no
trace. Every role change — from the admin, `manage.py set_role` or `seed_demo` — goes through
these two services, each of which changes one membership and writes one audit event in the same
transaction. Who may call them is the entry point's check (`auth.change_roles`); the rule that
nobody changes their own roles is enforced here as well, so no entry point can forget it.

The same holds for the rest of what decides access: `user_access_set` (is_active, is_staff,
is_superuser), `user_permissions_set` and `group_permissions_set`, used by the user and group
admin. A change made any other way (the shell, a script) is still recorded, by the signal
safety net in `audit.access`; changes made here tell it to stay quiet (one event per change).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from audit import access
from audit.models import AuditEvent
from audit.services import Actor, audit_record
from config.errors import ApplicationError
from decisioning import roles
from decisioning.selectors import user_roles


def role_grant(*, user: Any, role: str, actor: Actor) -> None:
    """Give `user` the role; refused if they already have it."""
    _change(user=user, role=role, actor=actor, grant=True)


def role_revoke(*, user: Any, role: str, actor: Actor) -> None:
    """Take the role away from `user`; refused if they do not have it."""
    _change(user=user, role=role, actor=actor, grant=False)


def _change(*, user: Any, role: str, actor: Actor, grant: bool) -> None:
    if role not in roles.ALL_ROLES:
        choices = ", ".join(roles.ALL_ROLES)
        raise ApplicationError(
            f"{role!r} is not a role (the roles are: {choices}).",
            code="unknown_role",
            errors={"role": [f"Choose one of: {choices}."]},
        )
    if actor.type == AuditEvent.ActorType.USER and actor.id == str(user.pk):
        raise ApplicationError(
            "Nobody can change their own roles.", code="own_roles", status_code=403
        )
    group = Group.objects.filter(name=role).first()
    if group is None:  # the data migration creates every role; a missing one is a broken install
        raise ApplicationError(f"The role {role!r} is not set up.", code="unknown_role")
    with transaction.atomic():
        # The user's row lock serialises concurrent changes to one person's roles, so the
        # no-op check and the change cannot interleave (two grants, two events, one change).
        locked = type(user).objects.select_for_update().get(pk=user.pk)
        before = user_roles(user=locked)
        if (role in before) == grant:
            have = "already has" if grant else "does not have"
            raise ApplicationError(
                f"{_display(locked)} {have} the role {role}; nothing changed.",
                code="no_change",
            )
        with access.recorded_by_service():
            if grant:
                locked.groups.add(group)
            else:
                locked.groups.remove(group)
        after = before | {role} if grant else before - {role}
        audit_record(
            actor=actor,
            event_type="role.granted" if grant else "role.revoked",
            subject_type="user",
            subject_id=str(locked.pk),
            payload={
                "role": role,
                "user_id": locked.pk,
                "user_display": _display(locked),
                "before": sorted(before),
                "after": sorted(after),
            },
        )


def _display(user: Any) -> str:
    return str(user.get_full_name() or user.get_username())


def user_access_set(
    *,
    user: Any,
    actor: Actor,
    is_active: bool | None = None,
    is_staff: bool | None = None,
    is_superuser: bool | None = None,
) -> dict[str, list[bool]]:
    """Set the account flags given (None leaves one as it is); one `user.access_changed` event
    with each flag's [before, after]. Refused when nothing changes, or for one's own account."""
    wanted = {
        flag: value
        for flag, value in (
            ("is_active", is_active),
            ("is_staff", is_staff),
            ("is_superuser", is_superuser),
        )
        if value is not None
    }
    _not_own(user=user, actor=actor, what="access")
    with transaction.atomic():
        locked = type(user).objects.select_for_update().get(pk=user.pk)
        before = {flag: getattr(locked, flag) for flag in access.ACCESS_FLAGS}
        changes = {f: [before[f], v] for f, v in wanted.items() if before[f] != v}
        if not changes:
            raise ApplicationError(
                f"{_display(locked)}'s access is already so; nothing changed.", code="no_change"
            )
        for flag, (_old, new) in changes.items():
            setattr(locked, flag, new)
            setattr(user, flag, new)
        with access.recorded_by_service():
            locked.save(update_fields=list(changes))
        audit_record(
            actor=actor,
            event_type="user.access_changed",
            subject_type="user",
            subject_id=str(locked.pk),
            payload={
                "user_id": locked.pk,
                "user_display": _display(locked),
                "changes": changes,
                "before": before,
                "after": {f: getattr(locked, f) for f in access.ACCESS_FLAGS},
            },
        )
    return changes


def user_permissions_set(*, user: Any, permissions: Any, actor: Actor) -> None:
    """Make `user`'s own permissions exactly `permissions`; one `user.permissions_changed` event
    with what was added and removed. Refused when nothing changes, or for one's own account."""
    _not_own(user=user, actor=actor, what="permissions")
    with transaction.atomic():
        locked = type(user).objects.select_for_update().get(pk=user.pk)
        _set_permissions(
            relation=locked.user_permissions,
            permissions=permissions,
            actor=actor,
            event_type="user.permissions_changed",
            subject_type="user",
            subject_id=str(locked.pk),
            who={"user_id": locked.pk, "user_display": _display(locked)},
        )


def group_permissions_set(*, group: Group, permissions: Any, actor: Actor) -> None:
    """Make `group`'s permissions exactly `permissions` (for a role: what everyone holding it may
    do); one `group.permissions_changed` event with what was added and removed."""
    with transaction.atomic():
        locked = Group.objects.select_for_update().get(pk=group.pk)
        _set_permissions(
            relation=locked.permissions,
            permissions=permissions,
            actor=actor,
            event_type="group.permissions_changed",
            subject_type="group",
            subject_id=str(locked.pk),
            who={"group": locked.name, "is_role": locked.name in roles.ALL_ROLES},
        )


def _set_permissions(
    *,
    relation: Any,
    permissions: Any,
    actor: Actor,
    event_type: str,
    subject_type: str,
    subject_id: str,
    who: dict[str, Any],
) -> None:
    wanted = {p.pk: p for p in permissions}
    held = {p.pk: p for p in relation.select_related("content_type")}
    added = [wanted[pk] for pk in wanted.keys() - held.keys()]
    removed = [held[pk] for pk in held.keys() - wanted.keys()]
    if not added and not removed:
        raise ApplicationError(
            "Those are already the permissions; nothing changed.", code="no_change"
        )
    with access.recorded_by_service():
        if added:
            relation.add(*added)
        if removed:
            relation.remove(*removed)
    after = Permission.objects.filter(pk__in=wanted).select_related("content_type")
    audit_record(
        actor=actor,
        event_type=event_type,
        subject_type=subject_type,
        subject_id=subject_id,
        payload={
            **who,
            "added": access.permission_labels(added),
            "removed": access.permission_labels(removed),
            "before": access.permission_labels(held.values()),
            "after": access.permission_labels(after),
        },
    )


def _not_own(*, user: Any, actor: Actor, what: str) -> None:
    if actor.type == AuditEvent.ActorType.USER and actor.id == str(user.pk):
        raise ApplicationError(
            f"Nobody can change their own {what}.", code="own_access", status_code=403
        )
