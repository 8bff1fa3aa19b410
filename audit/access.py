"""Who may do what: every change to a user's access flags, groups or permissions, and to a
group's permissions, leaves one audit event — whatever made it.

The admin and the commands change access through `decisioning.role_services` (roles, flags, user
and group permissions), which write their own event and say so with `recorded_by_service()`.
Anything else — `manage.py shell`, a script, a data fix, `createsuperuser`, code that calls
`user.groups.add()` — is caught here from Django's signals (`pre_save`/`post_save` on User,
`m2m_changed` on the three through tables) and recorded with the user of the current request
when there is one (django-simple-history's request middleware keeps it), else as the system
actor "unattributed". These events carry `"via": "signal"`.

A signal-caught change made outside a transaction commits before its event is written (the
event follows at once, in its own transaction); changes made through the services commit with
their event. History rows (django-simple-history on User and Group, their m2m tables included,
`audit.0007`) are kept for both paths.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Iterator
from typing import Any

from django.contrib.auth.models import Group, Permission, User
from django.db import transaction
from django.db.models.signals import m2m_changed, post_save, pre_save

from audit.services import Actor, audit_record

ACCESS_FLAGS = ("is_active", "is_staff", "is_superuser")

_in_service: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "access_in_service", default=False
)


@contextlib.contextmanager
def recorded_by_service() -> Iterator[None]:
    """Inside this block a service records the access change itself: the signals stay quiet."""
    token = _in_service.set(True)
    try:
        yield
    finally:
        _in_service.reset(token)


def user_display(user: Any) -> str:
    return str(user.get_full_name() or user.get_username())


def permission_label(permission: Permission) -> str:
    return f"{permission.content_type.app_label}.{permission.codename}"


def permission_labels(permissions: Iterable[Permission]) -> list[str]:
    return sorted(permission_label(p) for p in permissions)


def _request_actor() -> Actor:
    from simple_history.models import HistoricalRecords

    request = getattr(HistoricalRecords.context, "request", None)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return Actor.for_user(user)
    return Actor.system("unattributed")


def _record(event_type: str, subject_type: str, subject_id: Any, payload: dict[str, Any]) -> None:
    with transaction.atomic():
        audit_record(
            actor=_request_actor(),
            event_type=event_type,
            subject_type=subject_type,
            subject_id=str(subject_id),
            payload={**payload, "via": "signal"},
        )


# ---- user flags ------------------------------------------------------------------------------


def _flags_before(sender: Any, instance: User, raw: bool = False, **kwargs: Any) -> None:
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        # A sign-in (django.contrib.auth.update_last_login): no access change, and no history row.
        if not hasattr(instance, "skip_history_when_saving"):
            instance.skip_history_when_saving = True  # type: ignore[attr-defined]
            instance._access_skip_history = True  # type: ignore[attr-defined]
        return
    if raw or _in_service.get() or instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & set(ACCESS_FLAGS):
        return
    before = User.objects.filter(pk=instance.pk).values(*ACCESS_FLAGS).first()
    instance._access_before = before  # type: ignore[attr-defined]


def _flags_after(
    sender: Any, instance: User, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if instance.__dict__.pop("_access_skip_history", False):
        del instance.skip_history_when_saving  # for this save only (runs after simple-history's)
    before = instance.__dict__.pop("_access_before", None)
    if raw or _in_service.get():
        return
    after = {flag: getattr(instance, flag) for flag in ACCESS_FLAGS}
    if created:
        if not (instance.is_staff or instance.is_superuser):
            return  # an ordinary account: nothing to record until it gains access
        before = {"is_active": False, "is_staff": False, "is_superuser": False}
    if before is None:
        return
    changes = {
        flag: [before[flag], after[flag]] for flag in ACCESS_FLAGS if before[flag] != after[flag]
    }
    if changes:
        _record(
            "user.access_changed",
            "user",
            instance.pk,
            {
                "user_id": instance.pk,
                "user_display": user_display(instance),
                "created": created,
                "changes": changes,
                "before": before,
                "after": after,
            },
        )


# ---- memberships and permissions -----------------------------------------------------------------


def _m2m_recorder(kind: str) -> Any:
    """A receiver for one m2m relation: `groups` (user ↔ group), `user_permissions` (user ↔
    permission) or `permissions` (group ↔ permission), from either side."""

    def receiver(
        sender: Any,
        instance: Any,
        action: str,
        reverse: bool,
        model: Any,
        pk_set: Any,
        **kwargs: Any,
    ) -> None:
        if (
            reverse
            and action.startswith("pre_")
            and not hasattr(instance, "skip_history_when_saving")
        ):
            # django-simple-history ignores `reverse` and would write the history of the wrong
            # object (or crash: Permission has none). Its receiver runs before ours on post_*,
            # so it is told to skip here and released there; the event's "after" is the record.
            instance.skip_history_when_saving = True
            instance._access_skip_history = True
        if action.startswith("post_") and instance.__dict__.pop("_access_skip_history", False):
            del instance.skip_history_when_saving
        if kwargs.get("raw") or _in_service.get():
            return
        if action == "pre_clear":
            # What is about to go: the other side's primary keys, read before they are removed.
            related = getattr(instance, _accessor(kind, reverse))
            instance._access_cleared = set(related.values_list("pk", flat=True))  # type: ignore[union-attr]
            return
        if action not in ("post_add", "post_remove", "post_clear"):
            return
        pks = (
            instance.__dict__.pop("_access_cleared", set())
            if action == "post_clear"
            else set(pk_set or ())
        )
        if not pks:
            return
        added = action == "post_add"
        if not reverse:
            _record_m2m(
                kind, owner=instance, others=list(model.objects.filter(pk__in=pks)), added=added
            )
        else:  # e.g. group.user_set.add(user): one event per owner changed
            for owner in model.objects.filter(pk__in=pks):
                _record_m2m(kind, owner=owner, others=[instance], added=added)

    return receiver


def _accessor(kind: str, reverse: bool) -> str:
    if not reverse:
        return kind
    return {"groups": "user_set", "user_permissions": "user_set", "permissions": "group_set"}[kind]


def _record_m2m(kind: str, *, owner: Any, others: list[Any], added: bool) -> None:
    verb = "added" if added else "removed"
    if kind == "groups":
        names = sorted(g.name for g in others)
        _record(
            "user.groups_changed",
            "user",
            owner.pk,
            {
                "user_id": owner.pk,
                "user_display": user_display(owner),
                verb: names,
                "after": sorted(owner.groups.values_list("name", flat=True)),
            },
        )
    elif kind == "user_permissions":
        _record(
            "user.permissions_changed",
            "user",
            owner.pk,
            {
                "user_id": owner.pk,
                "user_display": user_display(owner),
                verb: permission_labels(others),
                "after": permission_labels(owner.user_permissions.select_related("content_type")),
            },
        )
    else:
        _record(
            "group.permissions_changed",
            "group",
            owner.pk,
            {
                "group": owner.name,
                verb: permission_labels(others),
                "after": permission_labels(owner.permissions.select_related("content_type")),
            },
        )


def connect() -> None:
    """Called by `audit.apps.AuditConfig.ready`, after the history models are registered (so
    `_flags_after` runs after simple-history's own post_save receiver)."""
    pre_save.connect(_flags_before, sender=User, dispatch_uid="audit-access-flags-before")
    post_save.connect(_flags_after, sender=User, dispatch_uid="audit-access-flags-after")
    for kind, through in (
        ("groups", User.groups.through),
        ("user_permissions", User.user_permissions.through),
        ("permissions", Group.permissions.through),
    ):
        m2m_changed.connect(
            _m2m_recorder(kind), sender=through, weak=False, dispatch_uid=f"audit-access-{kind}"
        )
