"""Review pages and form posts: who may see and do what, bad input, conflicts, query counts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from reviews import services
from reviews.models import ReviewAction, ReviewCase
from tests.conftest import make_user
from tests.reviews.conftest import fresh, signed_in

RATIONALE = "Income verified from three months of payslips; affordable."
QUEUE = "/reviews/"


def case_url(case: ReviewCase, action: str = "") -> str:
    return f"/reviews/cases/{case.pk}/{action}"


# ---- who may see ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [QUEUE, "/reviews/metrics/", "/reviews/cases/1/"])
def test_anonymous_is_sent_to_sign_in(client: Client, url: str, db: Any) -> None:
    r = client.get(url)
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize(
    "action", ["claim", "release", "decide", "request-info", "approve-override", "reject-override"]
)
def test_anonymous_posts_change_nothing(client: Client, case: ReviewCase, action: str) -> None:
    r = client.post(case_url(case, action), {"version": case.version})
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]
    assert fresh(case).version == case.version


@pytest.mark.parametrize("persona", ["outsider", "analyst"])
def test_roles_without_the_queue_get_not_found(
    request: Any, persona: str, case: ReviewCase
) -> None:
    client = signed_in(request.getfixturevalue(persona))
    assert client.get(QUEUE).status_code == 404
    assert client.get(case_url(case)).status_code == 404
    assert client.post(case_url(case, "claim"), {"version": case.version}).status_code == 403


def test_an_auditor_reads_everything_and_acts_on_nothing(
    as_auditor: Client, case: ReviewCase
) -> None:
    r = as_auditor.get(QUEUE)
    assert r.status_code == 200 and f"#{case.pk}" in r.content.decode()
    assert b"data-claim" not in r.content
    page = as_auditor.get(case_url(case)).content.decode()
    assert "Read-only" in page
    for action in ("claim", "release", "decide", "request-info", "approve-override", "assign"):
        assert f'{case_url(case, action)}"' not in page
    assert "Record decision" not in page
    for action in (
        "claim",
        "release",
        "decide",
        "request-info",
        "approve-override",
        "reject-override",
        "assign",
    ):
        r = as_auditor.post(
            case_url(case, action),
            {"version": case.version, "outcome": "approve", "rationale": RATIONALE, "assignee": 1},
        )
        assert r.status_code == 403, action
    assert fresh(case).version == case.version
    assert not AuditEvent.objects.filter(subject_type="review_case").exists()


def test_the_case_page_shows_the_evidence(as_uma: Client, make: Callable[..., Any]) -> None:
    earlier = make(
        identity="same-person", reference="OLD-1", outcome="decline", fired=("unaffordable",)
    )
    decision = make(identity="same-person", reference="NEW-1", fired=("recent_ccj",))
    page = as_uma.get(case_url(decision.review_case)).content.decode()
    assert "Applicant and loan" in page and "£5,000" in page
    assert (
        "RECENT_CCJ" in page and "Recent county court judgment" in page
    )  # rule result + reason code
    assert "interval 10.00% – 14.00%" in page  # PD with its interval  # noqa: RUF001 — typographic dash in UI text
    assert '<svg class="chart"' in page and "debt to income" in page  # top factors chart
    assert "bias" not in page.split('<svg class="chart"')[1].split("</svg>")[0]
    assert "no challenger" in page
    assert "OLD-1" in page and earlier.application.reference == "OLD-1"  # earlier applications
    assert "decision.created" in page  # timeline from the audit chain
    assert "ccj_count_6y=0" in page  # signals


def test_a_counterfactual_is_shown_when_recorded(as_uma: Client, make: Callable[..., Any]) -> None:
    hint = {"input": "amount", "from": "20000.00", "to": "14000", "outcome": "approve", "pd": 0.061}
    decision = make(counterfactual=hint)
    page = as_uma.get(case_url(decision.review_case)).content.decode()
    assert "Counterfactual" in page
    assert "Changing the <strong>amount</strong> from 20000.00 to <strong>14000</strong>" in page
    assert "would make the engine <strong>approve</strong> (PD 6.10%)" in page


# ---- the queue --------------------------------------------------------------------------------


def test_the_queue_filters_sorts_searches_and_pages(
    as_uma: Client, make: Callable[..., Any], underwriter: Any
) -> None:
    small = make(amount="2000.00", pd=0.02, reference="REF-SMALL").review_case
    large = make(
        amount="24000.00", pd=0.2, reference="REF-LARGE", fired=("high_fraud_score",)
    ).review_case
    mine = make(reference="REF-MINE").review_case
    services.case_claim(actor=underwriter, case_id=mine.pk, expected_version=mine.version)

    def ids(query: str) -> list[int]:
        r = as_uma.get(QUEUE + "?" + query)
        assert r.status_code == 200
        return [row["case"].pk for row in r.context["rows"]]

    assert ids("scope=mine") == [mine.pk]
    assert set(ids("scope=unassigned")) == {small.pk, large.pk}
    assert ids("q=ref-large") == [large.pk]
    assert ids(f"q=%23{small.pk}") == [small.pk]
    assert ids("band=A") == [small.pk]
    assert ids("reason=FRAUD_RISK") == [large.pk]
    assert ids("sort=-amount")[0] == large.pk
    assert ids("sort=priority")[0] == large.pk
    assert ids("status=claimed") == [mine.pk]
    assert ids("sort=nonsense&band=Z&scope=evil")  # bad values fall back to defaults
    for _ in range(26):
        make()
    first, second = as_uma.get(QUEUE), as_uma.get(QUEUE + "?page=2")
    assert len(first.context["rows"]) == 25 and len(second.context["rows"]) == 4


def test_overdue_cases_stand_out(as_uma: Client, make: Callable[..., Any]) -> None:
    old = make(created_at=timezone.now() - dt.timedelta(hours=6)).review_case
    fresh_case = make().review_case
    body = as_uma.get(QUEUE).content.decode()
    row = body.split(f'data-case-id="{old.pk}"')[0].rsplit("<tr", 1)[1]
    assert 'class="overdue"' in row
    assert "overdue" not in body.split(f'data-case-id="{fresh_case.pk}"')[0].rsplit("<tr", 1)[1]
    assert as_uma.get(QUEUE + "?overdue=1").context["rows"][0]["case"].pk == old.pk


def test_the_htmx_refresh_swaps_only_the_results_and_keeps_the_filters(
    as_uma: Client, make: Callable[..., Any]
) -> None:
    for _ in range(3):
        make(pd=0.2)
    r = as_uma.get(QUEUE + "?band=D&sort=-amount&page=1", HTTP_HX_REQUEST="true")
    body = r.content.decode()
    assert body.lstrip().startswith('<section id="queue-results"')
    assert "<html" not in body and "queue-filters" not in body
    assert 'hx-get="/reviews/?band=D&amp;sort=-amount"' in body
    assert 'hx-trigger="every 15s' in body


def test_the_queue_runs_a_fixed_number_of_queries(
    as_uma: Client, make: Callable[..., Any], django_assert_max_num_queries: Any
) -> None:
    for _ in range(30):
        make()
    as_uma.get(QUEUE)  # warm the session
    with django_assert_max_num_queries(10):
        r = as_uma.get(QUEUE)
    assert len(r.context["rows"]) == 25
    with django_assert_max_num_queries(8):  # the refresh skips the filter choices and appeal search
        as_uma.get(QUEUE + "?q=APP", HTTP_HX_REQUEST="true")


def test_the_case_page_runs_a_bounded_number_of_queries(
    as_uma: Client, case: ReviewCase, django_assert_max_num_queries: Any
) -> None:
    as_uma.get(case_url(case))
    with django_assert_max_num_queries(14):
        assert as_uma.get(case_url(case)).status_code == 200


# ---- acting -----------------------------------------------------------------------------------


def test_claim_then_decide_through_the_forms(
    as_uma: Client, case: ReviewCase, underwriter: Any
) -> None:
    r = as_uma.post(case_url(case, "claim"), {"version": case.version})
    assert r.status_code == 302 and r["Location"] == case_url(case)
    page = as_uma.get(case_url(case)).content.decode()
    assert f"Case #{case.pk} is yours." in page and "Record decision" in page
    r = as_uma.post(
        case_url(case, "decide"),
        {
            "version": fresh(case).version,
            "outcome": "decline",
            "reason_codes": ["UNAFFORDABLE"],
            "rationale": RATIONALE,
        },
    )
    assert r.status_code == 302
    assert fresh(case).final_outcome == "decline"


def test_claiming_from_the_queue_returns_to_the_same_view(as_uma: Client, case: ReviewCase) -> None:
    r = as_uma.post(
        case_url(case, "claim"),
        {"version": case.version, "next": "queue", "return_query": "band=C&sort=-amount"},
    )
    assert r["Location"] == "/reviews/?band=C&sort=-amount"


def test_identity_comes_from_the_session_not_the_form(
    as_uma: Client, case: ReviewCase, underwriter: Any, senior: Any
) -> None:
    as_uma.post(
        case_url(case, "claim"),
        {"version": case.version, "assignee": senior.pk, "actor": senior.pk},
    )
    assert fresh(case).assignee == underwriter
    as_uma.post(
        case_url(case, "decide"),
        {
            "version": fresh(case).version,
            "outcome": "approve",
            "rationale": RATIONALE,
            "decided_by": senior.pk,
            "reviewer": senior.pk,
            "approved_by": senior.pk,
            "assignee": senior.pk,
            "is_override": "true",
            "final_outcome": "decline",
        },
    )
    c = fresh(case)
    assert (c.decided_by, c.approved_by, c.final_outcome, c.is_override) == (
        underwriter,
        None,
        "approve",
        False,
    )
    assert ReviewAction.objects.get(case=case).actor == underwriter
    event = AuditEvent.objects.get(event_type="review_case.decided")
    assert event.actor_id == str(underwriter.pk) and event.actor_display == "Uma"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"outcome": "approve", "rationale": ""}, "rationale", "at least 20 characters"),
        (
            {"outcome": "decline", "rationale": RATIONALE},
            "reason_codes",
            "at least one reason code",
        ),
        ({"outcome": "maybe", "rationale": RATIONALE}, "outcome", "Select a valid choice"),
        (
            {"outcome": "decline", "rationale": RATIONALE, "reason_codes": ["NOPE"]},
            "reason_codes",
            "valid choice",
        ),
    ],
)
def test_bad_input_is_shown_on_the_form(
    as_uma: Client,
    case: ReviewCase,
    underwriter: Any,
    data: dict[str, Any],
    field: str,
    message: str,
) -> None:
    services.case_claim(actor=underwriter, case_id=case.pk, expected_version=case.version)
    r = as_uma.post(case_url(case, "decide"), {"version": fresh(case).version, **data})
    assert r.status_code == 400
    assert message in r.content.decode()
    assert field in r.context["decide_form"].errors
    assert fresh(case).status == "claimed"


def test_a_missing_version_is_refused(as_uma: Client, case: ReviewCase) -> None:
    r = as_uma.post(case_url(case, "claim"), {})
    assert r.status_code == 302 and fresh(case).assignee is None


def test_a_conflict_shows_what_changed_and_the_current_state(
    as_uma: Client, case: ReviewCase, senior: Any
) -> None:
    seen = case.version
    services.case_claim(actor=senior, case_id=case.pk, expected_version=seen)
    r = as_uma.post(case_url(case, "claim"), {"version": seen})
    assert r.status_code == 409
    body = r.content.decode()
    assert "Sam claimed it" in body and "Your action was not saved" in body
    assert r.context["case"].assignee == senior  # the page shows the current state
    assert 'id="claim-button"' not in body


def test_four_eyes_through_the_forms(big_case: ReviewCase, underwriter: Any, senior: Any) -> None:
    uma, sam = signed_in(underwriter), signed_in(senior)
    uma.post(case_url(big_case, "claim"), {"version": big_case.version})
    uma.post(
        case_url(big_case, "decide"),
        {"version": fresh(big_case).version, "outcome": "approve", "rationale": RATIONALE},
    )
    assert fresh(big_case).status == "awaiting_approval"
    page = uma.get(case_url(big_case)).content.decode()
    assert "Override proposed" in page and "Approve override" not in page
    assert (
        uma.post(
            case_url(big_case, "approve-override"),
            {"second-version": fresh(big_case).version, "second-rationale": RATIONALE},
        ).status_code
        == 403
    )
    queue = sam.get(QUEUE + "?scope=approvals")
    assert [row["case"].pk for row in queue.context["rows"]] == [big_case.pk]
    r = sam.post(
        case_url(big_case, "approve-override"),
        {"second-version": fresh(big_case).version, "second-rationale": "Agree; verified income."},
    )
    assert r.status_code == 302
    c = fresh(big_case)
    assert (c.status, c.final_outcome, c.approved_by) == ("decided", "approve", senior)
    page = sam.get(case_url(big_case)).content.decode()
    assert "review_case.override_approved" in page and "Second approval" in page


def test_a_senior_assigns_from_the_case_page(
    as_sam: Client, case: ReviewCase, underwriter: Any
) -> None:
    page = as_sam.get(case_url(case)).content.decode()
    assert 'name="assignee"' in page
    r = as_sam.post(case_url(case, "assign"), {"version": case.version, "assignee": underwriter.pk})
    assert r.status_code == 302 and fresh(case).assignee == underwriter


def test_an_underwriter_does_not_see_assign(
    as_uma: Client, case: ReviewCase, underwriter: Any
) -> None:
    assert 'name="assignee"' not in as_uma.get(case_url(case)).content.decode()
    assert (
        as_uma.post(
            case_url(case, "assign"), {"version": case.version, "assignee": underwriter.pk}
        ).status_code
        == 403
    )


def test_request_info_and_release_through_the_forms(as_uma: Client, case: ReviewCase) -> None:
    as_uma.post(case_url(case, "claim"), {"version": case.version})
    r = as_uma.post(
        case_url(case, "request-info"),
        {"info-version": fresh(case).version, "info-rationale": "short"},
    )
    assert r.status_code == 400 and "at least 20 characters" in r.content.decode()
    as_uma.post(
        case_url(case, "request-info"),
        {
            "info-version": fresh(case).version,
            "info-rationale": "Please send three months of payslips.",
        },
    )
    assert fresh(case).status == "info_requested"
    as_uma.post(case_url(case, "release"), {"version": fresh(case).version})
    assert fresh(case).assignee is None and fresh(case).status == "info_requested"


def test_get_is_not_allowed_on_actions(as_uma: Client, case: ReviewCase) -> None:
    assert as_uma.get(case_url(case, "claim")).status_code == 405


# ---- appeals ----------------------------------------------------------------------------------


def test_an_underwriter_finds_a_declined_application_and_opens_an_appeal(
    as_uma: Client, make: Callable[..., Any], underwriter: Any
) -> None:
    declined = make(outcome="decline", fired=("unaffordable",), reference="DECL-77")
    r = as_uma.get(QUEUE + "?q=DECL-77")
    assert r.context["appealable"] == [declined]
    assert f"/reviews/decisions/{declined.pk}/appeal" in r.content.decode()
    r = as_uma.post(f"/reviews/decisions/{declined.pk}/appeal", {"rationale": "short"})
    assert r.status_code == 400
    r = as_uma.post(
        f"/reviews/decisions/{declined.pk}/appeal",
        {"rationale": "Customer sent a new salary letter.", "assignee": 999},
    )
    case = ReviewCase.objects.get(decision=declined)
    assert r["Location"] == case_url(case)
    assert (case.kind, case.assignee, case.opened_by) == ("appeal", underwriter, underwriter)
    assert as_uma.get(f"/reviews/decisions/{declined.pk}/appeal")["Location"] == case_url(case)


def test_auditors_cannot_open_appeals(as_auditor: Client, make: Callable[..., Any]) -> None:
    declined = make(outcome="decline", fired=("unaffordable",))
    assert (
        as_auditor.post(
            f"/reviews/decisions/{declined.pk}/appeal", {"rationale": RATIONALE}
        ).status_code
        == 403
    )
    assert (
        as_auditor.get(QUEUE + f"?q={declined.application.reference}").context["appealable"] == []
    )


def test_the_navigation_is_role_aware(as_uma: Client, as_auditor: Client, outsider: Any) -> None:
    nav = as_uma.get(QUEUE).context["nav_items"]
    assert ("Review queue", "/reviews/") in nav and ("Metrics", "/reviews/metrics/") in nav
    assert not any(label == "Admin" for label, _ in nav)
    assert any(label == "Admin" for label, _ in as_auditor.get(QUEUE).context["nav_items"])
    other = signed_in(outsider).get("/").context["nav_items"]
    assert not any(label in ("Review queue", "Metrics") for label, _ in other)


def test_an_underwriter_cannot_open_the_rule_admin(as_uma: Client) -> None:
    r = as_uma.get("/admin/decisioning/product/")
    assert r.status_code == 302 and "/admin/login/" in r["Location"]


def test_other_underwriter_sees_a_claimed_case_without_decide(
    case: ReviewCase, underwriter: Any
) -> None:
    services.case_claim(actor=underwriter, case_id=case.pk, expected_version=case.version)
    page = signed_in(make_user("ursula", "underwriter")).get(case_url(case)).content.decode()
    assert "Record decision" not in page and 'id="claim-button"' not in page
