"""Role changes: granting and revoking the staff roles of `decisioning.roles`.

A role is a Django group, so a bare `user.groups.add()` would change what someone may do with no
trace. Every role change — from the admin, `manage.py set_role` or `seed_demo` — goes through
these two services, each of which changes one membership and writes one audit event in the same
transaction. Who may call them is the entry point's check (`auth.change_roles`); the rule that
nobody changes their own roles is enforced here as well, so no entry point can forget it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group
from django.db import transaction

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
