"""Case services: permissions, state rules, four-eyes, the version check, one audit event each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from audit.models import AuditEvent
from config.errors import ApplicationError, Conflict
from reviews import services
from reviews.models import ReviewAction, ReviewCase
from tests.conftest import make_user
from tests.reviews.conftest import fresh

S = ReviewCase.Status
RATIONALE = "Income verified from three months of payslips; affordable."


def events(case: ReviewCase) -> list[str]:
    return list(
        AuditEvent.objects.filter(subject_type="review_case", subject_id=str(case.pk))
        .order_by("seq")
        .values_list("event_type", flat=True)
    )


def claim(user: Any, case: ReviewCase) -> ReviewCase:
    return services.case_claim(actor=user, case_id=case.pk, expected_version=fresh(case).version)


# ---- claim / release / assign ------------------------------------------------------------------


def test_it_claims_an_open_case(case: ReviewCase, underwriter: Any) -> None:
    claimed = claim(underwriter, case)
    assert claimed.status == S.CLAIMED and claimed.assignee == underwriter
    assert claimed.version == case.version + 1
    assert events(case) == ["review_case.claimed"]
    event = AuditEvent.objects.get(event_type="review_case.claimed")
    assert event.actor_id == str(underwriter.pk)
    assert (
        event.payload["before"]["status"] == "open"
        and event.payload["after"]["status"] == "claimed"
    )


@pytest.mark.parametrize("persona", ["auditor", "analyst", "manager", "outsider"])
def test_it_refuses_a_claim_without_the_role(case: ReviewCase, persona: str, request: Any) -> None:
    user = request.getfixturevalue(persona)
    with pytest.raises(services.PermissionDenied):
        claim(user, case)
    assert fresh(case).status == S.OPEN and events(case) == []


def test_the_second_claim_loses_with_a_clear_message(
    case: ReviewCase, underwriter: Any, senior: Any
) -> None:
    seen = case.version
    services.case_claim(actor=underwriter, case_id=case.pk, expected_version=seen)
    with pytest.raises(Conflict) as err:
        services.case_claim(actor=senior, case_id=case.pk, expected_version=seen)
    assert "Uma claimed it" in err.value.message
    assert "now claimed, assigned to Uma" in err.value.message
    assert "not saved" in err.value.message
    assert fresh(case).assignee == underwriter
    assert events(case) == ["review_case.claimed"]


def test_it_releases_my_case_but_not_someone_elses(case: ReviewCase, underwriter: Any) -> None:
    other = make_user("ursula", "underwriter")
    claim(underwriter, case)
    with pytest.raises(services.PermissionDenied):
        services.case_release(actor=other, case_id=case.pk, expected_version=fresh(case).version)
    released = services.case_release(
        actor=underwriter, case_id=case.pk, expected_version=fresh(case).version
    )
    assert released.status == S.OPEN and released.assignee is None
    assert events(case) == ["review_case.claimed", "review_case.released"]


def test_a_senior_assigns_and_an_underwriter_cannot(
    case: ReviewCase, underwriter: Any, senior: Any
) -> None:
    with pytest.raises(services.PermissionDenied):
        services.case_assign(
            actor=underwriter,
            case_id=case.pk,
            expected_version=case.version,
            assignee_id=underwriter.pk,
        )
    assigned = services.case_assign(
        actor=senior, case_id=case.pk, expected_version=case.version, assignee_id=underwriter.pk
    )
    assert assigned.assignee == underwriter and assigned.status == S.CLAIMED
    assert (
        AuditEvent.objects.get(event_type="review_case.assigned").payload["assignee_name"] == "Uma"
    )


def test_it_only_assigns_to_underwriters(case: ReviewCase, senior: Any, auditor: Any) -> None:
    with pytest.raises(ApplicationError) as err:
        services.case_assign(
            actor=senior, case_id=case.pk, expected_version=case.version, assignee_id=auditor.pk
        )
    assert "assignee" in err.value.errors


# ---- deciding ----------------------------------------------------------------------------------


def test_it_approves_below_the_four_eyes_amount(case: ReviewCase, underwriter: Any) -> None:
    claim(underwriter, case)
    result = services.case_decide(
        actor=underwriter,
        case_id=case.pk,
        expected_version=fresh(case).version,
        outcome="approve",
        rationale=RATIONALE,
    )
    assert not result.needs_approval
    c = fresh(case)
    assert (c.status, c.final_outcome, c.decided_by, c.is_override) == (
        S.DECIDED,
        "approve",
        underwriter,
        False,
    )
    assert c.decided_at is not None
    action = ReviewAction.objects.get(case=case)
    assert (action.kind, action.rationale, action.actor) == ("decided", RATIONALE, underwriter)
    assert events(case) == ["review_case.claimed", "review_case.decided"]
    assert (
        AuditEvent.objects.get(event_type="review_case.decided").payload["rationale"] == RATIONALE
    )


def test_a_decline_needs_reason_codes_and_known_ones(case: ReviewCase, underwriter: Any) -> None:
    claim(underwriter, case)
    v = fresh(case).version
    with pytest.raises(ApplicationError) as err:
        services.case_decide(
            actor=underwriter,
            case_id=case.pk,
            expected_version=v,
            outcome="decline",
            rationale=RATIONALE,
        )
    assert "reason_codes" in err.value.errors
    with pytest.raises(ApplicationError) as err:
        services.case_decide(
            actor=underwriter,
            case_id=case.pk,
            expected_version=v,
            outcome="decline",
            rationale=RATIONALE,
            reason_codes=["MADE_UP"],
        )
    assert "Unknown: MADE_UP" in err.value.errors["reason_codes"][0]
    services.case_decide(
        actor=underwriter,
        case_id=case.pk,
        expected_version=v,
        outcome="decline",
        rationale=RATIONALE,
        reason_codes=["UNAFFORDABLE"],
    )
    assert fresh(case).final_reason_codes == ["UNAFFORDABLE"]


@pytest.mark.parametrize("rationale", ["", "   ", "too short"])
def test_a_rationale_is_always_required(case: ReviewCase, underwriter: Any, rationale: str) -> None:
    claim(underwriter, case)
    with pytest.raises(ApplicationError) as err:
        services.case_decide(
            actor=underwriter,
            case_id=case.pk,
            expected_version=fresh(case).version,
            outcome="approve",
            rationale=rationale,
        )
    assert "rationale" in err.value.errors
    assert fresh(case).status == S.CLAIMED


def test_only_the_assignee_decides(case: ReviewCase, underwriter: Any) -> None:
    other = make_user("ursula", "underwriter")
    claim(underwriter, case)
    with pytest.raises(services.PermissionDenied):
        services.case_decide(
            actor=other,
            case_id=case.pk,
            expected_version=fresh(case).version,
            outcome="approve",
            rationale=RATIONALE,
        )
    with pytest.raises(Conflict):  # not claimed by anyone → claim first
        services.case_release(
            actor=underwriter, case_id=case.pk, expected_version=fresh(case).version
        )
        services.case_decide(
            actor=underwriter,
            case_id=case.pk,
            expected_version=fresh(case).version,
            outcome="approve",
            rationale=RATIONALE,
        )


def test_a_stale_decision_is_refused_and_nothing_is_written(
    case: ReviewCase, underwriter: Any, senior: Any
) -> None:
    claim(underwriter, case)
    stale = fresh(case).version
    services.case_request_info(
        actor=underwriter,
        case_id=case.pk,
        expected_version=stale,
        rationale="Please send the last three payslips.",
    )
    with pytest.raises(Conflict) as err:
        services.case_decide(
            actor=underwriter,
            case_id=case.pk,
            expected_version=stale,
            outcome="approve",
            rationale=RATIONALE,
        )
    assert "requested information" in err.value.message
    assert fresh(case).status == S.INFO_REQUESTED
    assert not ReviewAction.objects.filter(kind="decided").exists()


def test_four_eyes_above_the_amount(big_case: ReviewCase, underwriter: Any, senior: Any) -> None:
    claim(underwriter, big_case)
    result = services.case_decide(
        actor=underwriter,
        case_id=big_case.pk,
        expected_version=fresh(big_case).version,
        outcome="approve",
        rationale=RATIONALE,
    )
    assert result.needs_approval
    c = fresh(big_case)
    assert (c.status, c.proposed_outcome, c.proposed_by, c.final_outcome) == (
        S.AWAITING_APPROVAL,
        "approve",
        underwriter,
        "",
    )
    proposed = AuditEvent.objects.get(event_type="review_case.override_proposed")
    assert "four-eyes limit of £15,000" in proposed.payload["why"][0]

    approved = services.case_approve_override(
        actor=senior,
        case_id=big_case.pk,
        expected_version=c.version,
        rationale="Checked the payslips myself; agree.",
    )
    assert (approved.status, approved.final_outcome, approved.decided_by, approved.approved_by) == (
        S.DECIDED,
        "approve",
        underwriter,
        senior,
    )
    assert approved.is_override
    assert events(big_case) == [
        "review_case.claimed",
        "review_case.override_proposed",
        "review_case.override_approved",
    ]


def test_a_decline_above_the_amount_needs_no_second_approval(
    big_case: ReviewCase, underwriter: Any
) -> None:
    claim(underwriter, big_case)
    result = services.case_decide(
        actor=underwriter,
        case_id=big_case.pk,
        expected_version=fresh(big_case).version,
        outcome="decline",
        rationale=RATIONALE,
        reason_codes=["UNAFFORDABLE"],
    )
    assert not result.needs_approval and fresh(big_case).status == S.DECIDED


def test_nobody_approves_their_own_override(big_case: ReviewCase, senior: Any) -> None:
    claim(senior, big_case)
    services.case_decide(
        actor=senior,
        case_id=big_case.pk,
        expected_version=fresh(big_case).version,
        outcome="approve",
        rationale=RATIONALE,
    )
    with pytest.raises(services.PermissionDenied):
        services.case_approve_override(
            actor=senior,
            case_id=big_case.pk,
            expected_version=fresh(big_case).version,
            rationale=RATIONALE,
        )
    other_senior = make_user("sue", "senior_underwriter")
    services.case_approve_override(
        actor=other_senior,
        case_id=big_case.pk,
        expected_version=fresh(big_case).version,
        rationale=RATIONALE,
    )
    assert fresh(big_case).approved_by == other_senior


def test_an_underwriter_cannot_give_a_second_approval(
    big_case: ReviewCase, underwriter: Any, senior: Any
) -> None:
    other = make_user("ursula", "underwriter")
    claim(underwriter, big_case)
    services.case_decide(
        actor=underwriter,
        case_id=big_case.pk,
        expected_version=fresh(big_case).version,
        outcome="approve",
        rationale=RATIONALE,
    )
    with pytest.raises(services.PermissionDenied):
        services.case_approve_override(
            actor=other,
            case_id=big_case.pk,
            expected_version=fresh(big_case).version,
            rationale=RATIONALE,
        )


def test_a_rejected_override_goes_back_to_its_underwriter(
    big_case: ReviewCase, underwriter: Any, senior: Any
) -> None:
    claim(underwriter, big_case)
    services.case_decide(
        actor=underwriter,
        case_id=big_case.pk,
        expected_version=fresh(big_case).version,
        outcome="approve",
        rationale=RATIONALE,
    )
    with pytest.raises(ApplicationError):
        services.case_reject_override(
            actor=senior,
            case_id=big_case.pk,
            expected_version=fresh(big_case).version,
            rationale="no",
        )
    back = services.case_reject_override(
        actor=senior,
        case_id=big_case.pk,
        expected_version=fresh(big_case).version,
        rationale="Debt-to-income is too high for this amount.",
    )
    assert (back.status, back.assignee, back.proposed_by, back.final_outcome) == (
        S.CLAIMED,
        underwriter,
        None,
        "",
    )
    assert ReviewAction.objects.filter(case=big_case, kind="override_rejected").count() == 1


def test_two_seniors_racing_on_one_approval(
    big_case: ReviewCase, underwriter: Any, senior: Any
) -> None:
    sue = make_user("sue", "senior_underwriter")
    claim(underwriter, big_case)
    services.case_decide(
        actor=underwriter,
        case_id=big_case.pk,
        expected_version=fresh(big_case).version,
        outcome="approve",
        rationale=RATIONALE,
    )
    seen = fresh(big_case).version
    services.case_approve_override(
        actor=senior, case_id=big_case.pk, expected_version=seen, rationale=RATIONALE
    )
    with pytest.raises(Conflict) as err:
        services.case_reject_override(
            actor=sue, case_id=big_case.pk, expected_version=seen, rationale=RATIONALE
        )
    assert "Sam approved the override" in err.value.message
    assert fresh(big_case).final_outcome == "approve"


# ---- appeals, hard gates, sanctions ------------------------------------------------------------


def test_an_appeal_against_a_hard_gate_decline_needs_four_eyes(
    make: Callable[..., Any], underwriter: Any, senior: Any
) -> None:
    declined = make(outcome="decline", fired=("unaffordable",), pd=0.05)
    case = services.case_open_appeal(
        actor=underwriter, decision=declined, rationale="Customer has shown a new salary letter."
    )
    assert (case.kind, case.status, case.assignee, case.opened_by) == (
        "appeal",
        S.CLAIMED,
        underwriter,
        underwriter,
    )
    assert events(case) == ["review_case.appeal_opened"]
    why = services.needs_second_approval(case=case, outcome="approve")
    assert why == ["the engine declined it on a hard gate"]
    result = services.case_decide(
        actor=underwriter,
        case_id=case.pk,
        expected_version=case.version,
        outcome="approve",
        rationale=RATIONALE,
    )
    assert result.needs_approval
    with pytest.raises(Conflict):
        services.case_open_appeal(actor=underwriter, decision=declined, rationale=RATIONALE)


def test_only_declines_can_be_appealed_and_only_by_underwriters(
    make: Callable[..., Any], underwriter: Any, auditor: Any
) -> None:
    approved = make(outcome="approve", pd=0.02)
    with pytest.raises(ApplicationError):
        services.case_open_appeal(actor=underwriter, decision=approved, rationale=RATIONALE)
    declined = make(outcome="decline", fired=("under_18",))
    with pytest.raises(services.PermissionDenied):
        services.case_open_appeal(actor=auditor, decision=declined, rationale=RATIONALE)


def test_a_sanctions_hit_can_never_be_approved(
    make: Callable[..., Any], underwriter: Any, senior: Any
) -> None:
    declined = make(outcome="decline", fired=("sanctions_hit",))
    case = services.case_open_appeal(
        actor=underwriter, decision=declined, rationale="Applicant says the match is a namesake."
    )
    with pytest.raises(ApplicationError) as err:
        services.case_decide(
            actor=underwriter,
            case_id=case.pk,
            expected_version=case.version,
            outcome="approve",
            rationale=RATIONALE,
        )
    assert err.value.code == "sanctions_hit"
    # Even a proposal that somehow exists cannot get a second approval.
    ReviewCase.objects.filter(pk=case.pk).update(
        status=S.AWAITING_APPROVAL, proposed_outcome="approve", proposed_by=underwriter
    )
    with pytest.raises(ApplicationError):
        services.case_approve_override(
            actor=senior, case_id=case.pk, expected_version=fresh(case).version, rationale=RATIONALE
        )
    assert fresh(case).final_outcome == ""


# ---- information requests ----------------------------------------------------------------------


def test_request_info_then_decide(case: ReviewCase, underwriter: Any) -> None:
    claim(underwriter, case)
    asked = services.case_request_info(
        actor=underwriter,
        case_id=case.pk,
        expected_version=fresh(case).version,
        rationale="Please send the last three payslips.",
    )
    assert asked.status == S.INFO_REQUESTED and asked.assignee == underwriter
    services.case_decide(
        actor=underwriter,
        case_id=case.pk,
        expected_version=asked.version,
        outcome="approve",
        rationale=RATIONALE,
    )
    assert fresh(case).status == S.DECIDED
    assert events(case) == [
        "review_case.claimed",
        "review_case.info_requested",
        "review_case.decided",
    ]


def test_a_failed_action_leaves_no_audit_event_and_no_record(
    case: ReviewCase, underwriter: Any
) -> None:
    claim(underwriter, case)
    before = AuditEvent.objects.count()
    with pytest.raises(Conflict):
        services.case_decide(
            actor=underwriter,
            case_id=case.pk,
            expected_version=1,
            outcome="approve",
            rationale=RATIONALE,
        )
    assert AuditEvent.objects.count() == before and not ReviewAction.objects.exists()
