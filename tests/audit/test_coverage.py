"""100% audit coverage: every service that creates or changes a decision, a loan outcome, a
token, a review case, a role, an account's access flags or a user's or group's permissions
leaves exactly one audit event, naming its subject — and so does every way of changing access
without the services (the "shell:" rows, caught by audit.access's signals).

Add a row to SERVICES for every new state-changing service. `test_every_service_is_in_the_table`
fails until you do (or list it in NOT_STATE_CHANGES with the reason).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from audit.models import AuditEvent
from audit.services import Actor
from decisioning import role_services, roles
from decisioning import services as decisioning_services
from decisioning.models import ApiToken, Decision
from reviews import services as review_services
from tests.conftest import PRODUCT_CODE, application_body, make_user

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Case:
    service: str  # "module.function" (text after a space is a label)
    event_type: str  # "" when the owning app names its own events
    subject_type: str
    setup: Callable[
        [dict[str, Any]], Any
    ]  # builds what the call needs (its events are not counted)
    act: Callable[[dict[str, Any], Any], str]  # the one call; returns the expected subject id


def _decide(ctx: dict[str, Any], **overrides: Any) -> Decision:
    r = ctx["api"].post("/api/v1/decisions", application_body(**overrides), format="json")
    assert r.status_code == 201, r.content
    return Decision.objects.get(pk=r.json()["id"])


def _referred(ctx: dict[str, Any], **overrides: Any) -> Any:
    """A referred decision and its open case: with no model the engine refers (fails closed)."""
    from modeling.serving import set_scorer

    set_scorer(PRODUCT_CODE, None)
    try:
        decision = _decide(ctx, **overrides)
    finally:
        set_scorer(PRODUCT_CODE, ctx["scorer"])
    assert decision.outcome == "refer"
    return decision.review_case


def _claimed(ctx: dict[str, Any]) -> Any:
    case = _referred(ctx)
    return review_services.case_claim(
        actor=ctx["underwriter"], case_id=case.pk, expected_version=case.version
    )


def _approved(ctx: dict[str, Any]) -> Decision:
    decision = _decide(ctx)
    assert decision.outcome == "approve"
    return decision


def _declined(ctx: dict[str, Any]) -> Decision:
    decision = _decide(ctx, bankrupt_or_iva=True)
    assert decision.outcome == "decline"
    return decision


def _awaiting_approval(ctx: dict[str, Any]) -> Any:
    """An approval above the four-eyes amount, proposed by the underwriter, waiting for a senior."""
    case = _referred(ctx, amount="20000.00")
    case = review_services.case_claim(
        actor=ctx["underwriter"], case_id=case.pk, expected_version=case.version
    )
    result = review_services.case_decide(
        actor=ctx["underwriter"],
        case_id=case.pk,
        expected_version=case.version,
        outcome="approve",
        rationale="Income and affordability verified against payslips.",
    )
    assert result.needs_approval
    return result.case


def _without_role(ctx: dict[str, Any]) -> Any:
    return make_user("rory", None)


def _with_role(ctx: dict[str, Any]) -> Any:
    return make_user("rita", roles.AUDITOR)


def _nothing(ctx: dict[str, Any]) -> None:
    return None


def _decision_create(ctx: dict[str, Any], _: Any) -> str:
    return str(_decide(ctx).pk)


def _decision_create_referred(ctx: dict[str, Any], _: Any) -> str:
    return str(_referred(ctx).decision_id)


def _outcome(ctx: dict[str, Any], decision: Decision) -> str:
    decisioning_services.loan_outcome_record(
        client=ctx["client"],
        decision=decision,
        status="performing",
        as_of=decision.created_at.date(),
    )
    return str(decision.pk)


def _token_issue(ctx: dict[str, Any], _: Any) -> str:
    decisioning_services.api_token_issue(client=ctx["client"], actor=Actor.system("test"))
    return str(ctx["client"].pk)


def _token_revoke(ctx: dict[str, Any], _: Any) -> str:
    token = ApiToken.objects.filter(client=ctx["client"]).first()
    decisioning_services.api_token_revoke(token=token, actor=Actor.system("test"))
    return str(ctx["client"].pk)


def _claim(ctx: dict[str, Any], case: Any) -> str:
    review_services.case_claim(
        actor=ctx["underwriter"], case_id=case.pk, expected_version=case.version
    )
    return str(case.pk)


def _release(ctx: dict[str, Any], case: Any) -> str:
    review_services.case_release(
        actor=ctx["underwriter"], case_id=case.pk, expected_version=case.version
    )
    return str(case.pk)


def _assign(ctx: dict[str, Any], case: Any) -> str:
    review_services.case_assign(
        actor=ctx["senior"],
        case_id=case.pk,
        expected_version=case.version,
        assignee_id=ctx["underwriter"].pk,
    )
    return str(case.pk)


def _case_decide(ctx: dict[str, Any], case: Any) -> str:
    review_services.case_decide(
        actor=ctx["underwriter"],
        case_id=case.pk,
        expected_version=case.version,
        outcome="decline",
        rationale="Affordability is not demonstrated by the evidence.",
        reason_codes=["UNAFFORDABLE"],
    )
    return str(case.pk)


def _request_info(ctx: dict[str, Any], case: Any) -> str:
    review_services.case_request_info(
        actor=ctx["underwriter"],
        case_id=case.pk,
        expected_version=case.version,
        rationale="Please provide the last three payslips.",
    )
    return str(case.pk)


def _open_appeal(ctx: dict[str, Any], decision: Decision) -> str:
    case = review_services.case_open_appeal(
        actor=ctx["underwriter"],
        decision=decision,
        rationale="The applicant's IVA was discharged last month.",
    )
    return str(case.pk)


def _approve_override(ctx: dict[str, Any], case: Any) -> str:
    review_services.case_approve_override(
        actor=ctx["senior"],
        case_id=case.pk,
        expected_version=case.version,
        rationale="Checked the payslips myself; agree.",
    )
    return str(case.pk)


def _reject_override(ctx: dict[str, Any], case: Any) -> str:
    review_services.case_reject_override(
        actor=ctx["senior"],
        case_id=case.pk,
        expected_version=case.version,
        rationale="Debt-to-income is too high for this amount.",
    )
    return str(case.pk)


def _role_grant(ctx: dict[str, Any], user: Any) -> str:
    role_services.role_grant(user=user, role=roles.UNDERWRITER, actor=Actor.system("test"))
    return str(user.pk)


def _role_revoke(ctx: dict[str, Any], user: Any) -> str:
    role_services.role_revoke(user=user, role=roles.AUDITOR, actor=Actor.system("test"))
    return str(user.pk)


def _staff_user(ctx: dict[str, Any]) -> Any:
    return make_user("stan", roles.AUDITOR, is_staff=True)


def _group(ctx: dict[str, Any]) -> Any:
    from django.contrib.auth.models import Group

    return Group.objects.create(name="compliance-readers")


def _permission(codename: str = "view_decision") -> Any:
    from django.contrib.auth.models import Permission

    return Permission.objects.get(codename=codename)


def _access_set(ctx: dict[str, Any], user: Any) -> str:
    role_services.user_access_set(user=user, actor=Actor.system("test"), is_staff=True)
    return str(user.pk)


def _user_permissions_set(ctx: dict[str, Any], user: Any) -> str:
    role_services.user_permissions_set(
        user=user, permissions=[_permission()], actor=Actor.system("test")
    )
    return str(user.pk)


def _group_permissions_set(ctx: dict[str, Any], group: Any) -> str:
    role_services.group_permissions_set(
        group=group,
        permissions=[_permission(), _permission("view_application")],
        actor=Actor.system("test"),
    )
    return str(group.pk)


# Changes made without the services (the shell, a script): caught by audit.access's signals.


def _raw_superuser(ctx: dict[str, Any], user: Any) -> str:
    user.is_superuser = True
    user.save()
    return str(user.pk)


def _raw_deactivate(ctx: dict[str, Any], user: Any) -> str:
    user.is_active = False
    user.save(update_fields=["is_active"])
    return str(user.pk)


def _raw_create_superuser(ctx: dict[str, Any], _: Any) -> str:
    from django.contrib.auth.models import User

    return str(User.objects.create_superuser("sudo", password="pw-sudo").pk)


def _raw_group_add(ctx: dict[str, Any], user: Any) -> str:
    from django.contrib.auth.models import Group

    user.groups.add(Group.objects.get(name=roles.RISK_MANAGER))
    return str(user.pk)


def _raw_group_remove_reverse(ctx: dict[str, Any], user: Any) -> str:
    from django.contrib.auth.models import Group

    Group.objects.get(name=roles.AUDITOR).user_set.remove(user)
    return str(user.pk)


def _raw_groups_clear(ctx: dict[str, Any], user: Any) -> str:
    user.groups.clear()
    return str(user.pk)


def _raw_user_permission_add(ctx: dict[str, Any], user: Any) -> str:
    user.user_permissions.add(_permission())
    return str(user.pk)


def _raw_group_permission_add(ctx: dict[str, Any], group: Any) -> str:
    group.permissions.add(_permission(), _permission("view_application"))
    return str(group.pk)


def _raw_group_permission_remove_reverse(ctx: dict[str, Any], _: Any) -> str:
    from django.contrib.auth.models import Group

    group = Group.objects.get(name=roles.AUDITOR)
    group.permissions.first().group_set.remove(group)
    return str(group.pk)


SERVICES = [
    Case(
        "decisioning.services.decision_create",
        "decision.created",
        "decision",
        _nothing,
        _decision_create,
    ),
    Case(
        "decisioning.services.decision_create (referred: its case opens in the same event)",
        "decision.created",
        "decision",
        _nothing,
        _decision_create_referred,
    ),
    Case(
        "decisioning.services.loan_outcome_record",
        "loan_outcome.reported",
        "decision",
        _approved,
        _outcome,
    ),
    Case(
        "decisioning.services.api_token_issue",
        "api_token.issued",
        "integration_client",
        _nothing,
        _token_issue,
    ),
    Case(
        "decisioning.services.api_token_revoke",
        "api_token.revoked",
        "integration_client",
        _nothing,
        _token_revoke,
    ),
    Case("reviews.services.case_claim", "", "review_case", _referred, _claim),
    Case("reviews.services.case_release", "", "review_case", _claimed, _release),
    Case("reviews.services.case_assign", "", "review_case", _referred, _assign),
    Case("reviews.services.case_decide", "", "review_case", _claimed, _case_decide),
    Case("reviews.services.case_request_info", "", "review_case", _claimed, _request_info),
    Case("reviews.services.case_open_appeal", "", "review_case", _declined, _open_appeal),
    Case(
        "reviews.services.case_approve_override",
        "",
        "review_case",
        _awaiting_approval,
        _approve_override,
    ),
    Case(
        "reviews.services.case_reject_override",
        "",
        "review_case",
        _awaiting_approval,
        _reject_override,
    ),
    Case(
        "decisioning.role_services.role_grant", "role.granted", "user", _without_role, _role_grant
    ),
    Case("decisioning.role_services.role_revoke", "role.revoked", "user", _with_role, _role_revoke),
    Case(
        "decisioning.role_services.user_access_set",
        "user.access_changed",
        "user",
        _without_role,
        _access_set,
    ),
    Case(
        "decisioning.role_services.user_permissions_set",
        "user.permissions_changed",
        "user",
        _without_role,
        _user_permissions_set,
    ),
    Case(
        "decisioning.role_services.group_permissions_set",
        "group.permissions_changed",
        "group",
        _group,
        _group_permissions_set,
    ),
    # ---- access changed without the services: the audit.access safety net -------------------
    Case(
        "shell: user.is_superuser = True; user.save()",
        "user.access_changed",
        "user",
        _without_role,
        _raw_superuser,
    ),
    Case(
        "shell: user.save(update_fields=['is_active'])",
        "user.access_changed",
        "user",
        _staff_user,
        _raw_deactivate,
    ),
    Case(
        "shell: User.objects.create_superuser() (createsuperuser)",
        "user.access_changed",
        "user",
        _nothing,
        _raw_create_superuser,
    ),
    Case(
        "shell: user.groups.add(role)", "user.groups_changed", "user", _without_role, _raw_group_add
    ),
    Case(
        "shell: group.user_set.remove(user)",
        "user.groups_changed",
        "user",
        _with_role,
        _raw_group_remove_reverse,
    ),
    Case(
        "shell: user.groups.clear()", "user.groups_changed", "user", _with_role, _raw_groups_clear
    ),
    Case(
        "shell: user.user_permissions.add(p)",
        "user.permissions_changed",
        "user",
        _without_role,
        _raw_user_permission_add,
    ),
    Case(
        "shell: group.permissions.add(p, q)",
        "group.permissions_changed",
        "group",
        _group,
        _raw_group_permission_add,
    ),
    Case(
        "shell: permission.group_set.remove(group)",
        "group.permissions_changed",
        "group",
        _nothing,
        _raw_group_permission_remove_reverse,
    ),
]

#: Public functions of the service modules that change nothing themselves (with the reason).
NOT_STATE_CHANGES = {
    "decisioning.services.decision_payload": "pure: the JSON columns of a result",
    "reviews.services.case_build": "pure: an unsaved case; decision_create writes it and records it in decision.created",
    "reviews.services.case_priority": "pure computation",
    "reviews.services.needs_second_approval": "pure check",
    "reviews.services.has_sanctions_hit": "pure check",
    "reviews.services.webhook_payload": "pure: builds a payload",
}

#: Services the table does not yet exercise, each with the reason and its owner.
PENDING: dict[str, str] = {}


@pytest.fixture
def ctx(
    api: Any, integration: Any, product: Any, underwriter: Any, senior: Any, trained_scorer: Any
) -> dict[str, Any]:
    return {
        "api": api,
        "client": integration[0],
        "product": product,
        "underwriter": underwriter,
        "senior": senior,
        "scorer": trained_scorer,
    }


@pytest.mark.parametrize("case", SERVICES, ids=[c.service for c in SERVICES])
def test_each_service_leaves_exactly_one_audit_event(case: Case, ctx: dict[str, Any]) -> None:
    state = case.setup(ctx)
    last_seq = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    subject_id = case.act(ctx, state)
    new = list(AuditEvent.objects.filter(seq__gt=last_seq).order_by("seq"))
    assert len(new) == 1, [(e.event_type, e.subject_type, e.subject_id) for e in new]
    event = new[0]
    assert (event.subject_type, event.subject_id) == (case.subject_type, subject_id)
    if case.event_type:
        assert event.event_type == case.event_type
    assert event.actor_display and event.actor_type in ("user", "integration", "system")


def _state_changing_functions() -> set[str]:
    names = set()
    for module in (decisioning_services, review_services, role_services):
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("_") or fn.__module__ != module.__name__:
                continue
            names.add(f"{module.__name__}.{name}")
    return names


def test_every_service_is_in_the_table() -> None:
    covered = {c.service.split(" ")[0] for c in SERVICES}
    unknown = _state_changing_functions() - covered - set(NOT_STATE_CHANGES) - set(PENDING)
    assert not unknown, f"add these services to SERVICES in {__file__}: {sorted(unknown)}"
