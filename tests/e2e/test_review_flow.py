"""The review flow in a real browser: an underwriter claims a case and proposes an override above
the four-eyes amount, a senior gives the second approval, and both see the timeline and the audit
event; an auditor reads the case but can act on nothing; an underwriter cannot open the rule admin;
two browsers racing on one case end with one decision and a clear message to the loser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from audit.models import AuditEvent
from reviews.models import ReviewCase
from tests.conftest import make_user
from tests.e2e.support import TIMEOUT_MS, screenshot, sign_in
from tests.reviews.conftest import make_decision

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Playwright's sync API keeps an asyncio loop "running" in this thread while a browser is open;
# the ORM calls below (fixtures, assertions) are synchronous and safe: one thread drives both.

RATIONALE = "Payslips and bank statements confirm income of £41k; affordability is comfortable."


@pytest.fixture
def big_case(integration: Any, product: Any) -> ReviewCase:
    """A referred application above the product's four-eyes amount, plus some queue around it."""
    for i in range(4):
        make_decision(
            client=integration[0],
            product=product,
            reference=f"Q-{i}",
            amount=f"{3000 + i * 1500}.00",
            pd=0.05 + i * 0.04,
            fired=("recent_ccj",) if i % 2 else (),
        )
    decision = make_decision(
        client=integration[0],
        product=product,
        reference="BIG-1",
        amount="20000.00",
        pd=0.14,
        fired=("high_fraud_score",),
        counterfactual={
            "input": "amount",
            "from": "20000.00",
            "to": "14000",
            "outcome": "approve",
            "pd": 0.071,
        },
    )
    return decision.review_case


@pytest.fixture
def second_page(page: Any, offline: Any, live_server: Any) -> Iterator[Any]:
    """Another, independent browser context (its own cookies): a second reviewer at another desk."""
    context = page.context.browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="en-GB"
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.route("**/*", offline.handle)
    yield context.new_page()
    context.close()


def test_claim_override_and_four_eyes_approval(
    page: Any, live_server: Any, underwriter: User, senior: User, big_case: ReviewCase
) -> None:
    sign_in(page, "uma", "pw-uma")
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    row = page.locator("#queue-table tbody tr", has_text="BIG-1")
    expect(row).to_have_count(1)
    screenshot(page, "review-flow-1-queue")

    # Keyboard: move to the row with j, claim it with c.
    expect(page.locator("html[data-shortcuts=ready]")).to_have_count(1)
    for _ in range(page.locator("#queue-table tbody tr").count()):
        page.keyboard.press("j")
        if "selected" in (row.get_attribute("class") or ""):
            break
    expect(row).to_have_class(re.compile("selected"))
    page.keyboard.press("c")
    expect(page.locator(".messages")).to_contain_text(f"Case #{big_case.pk} is yours.")
    expect(row).to_contain_text("Uma")

    row.get_by_role("link", name=f"#{big_case.pk}").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Case #{big_case.pk}")
    expect(page.locator("#counterfactual")).to_contain_text("would make the engine approve")
    expect(page.locator("svg.chart")).to_have_count(1)
    expect(
        page.get_by_text("Approving needs a senior underwriter's second approval")
    ).to_be_visible()
    # Keyboard shortcuts are bound by a deferred script: wait until it says so.
    expect(page.locator("html[data-shortcuts=ready]")).to_have_count(1)
    page.keyboard.press("a")
    expect(page.locator("#outcome-approve")).to_be_checked()
    page.get_by_label(re.compile("^Rationale")).fill(RATIONALE)
    screenshot(page, "review-flow-2-case-deciding")
    page.get_by_role("button", name="Record decision").click()
    expect(page.locator(".messages")).to_contain_text("Override proposed")
    expect(page.locator("#case-status")).to_have_text("Awaiting second approval")
    expect(page.get_by_role("button", name="Approve override")).to_have_count(0)  # not her own
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, "sam", "pw-sam")
    page.get_by_role("link", name="Needs my approval").click()
    page.locator("#queue-table tbody tr", has_text="BIG-1").get_by_role(
        "link", name=f"#{big_case.pk}"
    ).click()
    expect(page.locator("#second")).to_contain_text("Uma proposes to approve")
    page.get_by_label("Your rationale").fill(
        "Reviewed the evidence; income verified and fraud score explained."
    )
    page.get_by_role("button", name="Approve override").click()
    expect(page.locator(".messages")).to_contain_text("Second approval given")
    expect(page.locator("#h-final")).to_have_text("Final outcome: Approve")
    timeline = page.locator("#timeline")
    for event in (
        "decision.created",
        "review_case.claimed",
        "review_case.override_proposed",
        "review_case.override_approved",
    ):
        expect(timeline).to_contain_text(event)
    screenshot(page, "review-flow-3-approved")

    case = ReviewCase.objects.get(pk=big_case.pk)
    assert (case.final_outcome, case.decided_by, case.approved_by, case.is_override) == (
        "approve",
        underwriter,
        senior,
        True,
    )
    event = AuditEvent.objects.get(
        event_type="review_case.override_approved", subject_id=str(case.pk)
    )
    assert event.actor_display == "Sam" and event.payload["proposed_by"] == underwriter.pk
    expect(timeline).to_contain_text(f"#{event.seq}")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Metrics").click()
    expect(page.get_by_role("heading", name="Reviewer metrics")).to_be_visible()
    screenshot(page, "review-metrics")


def test_an_underwriter_cannot_open_the_rule_admin(page: Any, underwriter: User) -> None:
    sign_in(page, "uma", "pw-uma")
    page.goto("/admin/decisioning/")
    expect(page).to_have_url(re.compile(r"/admin/login/"))
    expect(page.locator("body")).to_contain_text("not authorized to access this page")


def test_an_auditor_reads_a_case_and_cannot_act(
    page: Any, auditor: User, underwriter: User, big_case: ReviewCase, live_server: Any
) -> None:
    sign_in(page, "aud", "pw-aud")
    page.goto("/reviews/")
    expect(page.locator("#queue-table tbody tr")).to_have_count(5)
    expect(page.get_by_role("button", name="Claim")).to_have_count(0)
    page.goto(f"/reviews/cases/{big_case.pk}/")
    expect(page.get_by_text("Read-only", exact=True)).to_be_visible()
    expect(page.locator("form[action*='/claim'], form[action*='/decide'], #decide")).to_have_count(
        0
    )
    expect(page.locator("#h-rules")).to_be_visible()
    screenshot(page, "review-auditor-read-only")
    # A hand-made POST (with the auditor's own CSRF token) is refused too.
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    r = page.request.post(
        f"/reviews/cases/{big_case.pk}/claim",
        form={"version": str(big_case.version)},
        headers={"X-CSRFToken": token, "Referer": live_server.url + "/reviews/"},
    )
    assert r.status == 403
    assert ReviewCase.objects.get(pk=big_case.pk).assignee is None


def test_two_browsers_racing_on_one_case(
    page: Any, second_page: Any, underwriter: User, senior: User, big_case: ReviewCase
) -> None:
    sue = make_user("sue", "senior_underwriter")
    ursula = make_user("ursula", "underwriter")
    url = f"/reviews/cases/{big_case.pk}/"

    # Two underwriters open the same unclaimed case and both press Claim.
    sign_in(page, "uma", "pw-uma")
    sign_in(second_page, "ursula", "pw-ursula")
    page.goto(url)
    second_page.goto(url)
    page.get_by_role("button", name="Claim").click()
    expect(page.locator(".messages")).to_contain_text("is yours")
    second_page.get_by_role("button", name="Claim").click()
    expect(second_page.locator(".messages")).to_contain_text("Uma claimed it")
    expect(second_page.locator(".messages")).to_contain_text("Your action was not saved")
    expect(second_page.get_by_role("button", name="Claim")).to_have_count(
        0
    )  # it shows the current state
    assert ReviewCase.objects.get(pk=big_case.pk).assignee == underwriter

    # Uma proposes the override; two seniors race: one approves, the other rejects.
    page.reload()
    page.locator("#outcome-approve").check()
    page.get_by_label(re.compile("^Rationale")).fill(RATIONALE)
    page.get_by_role("button", name="Record decision").click()
    expect(page.locator("#case-status")).to_have_text("Awaiting second approval")
    page.get_by_role("button", name="Sign out").click()
    second_page.get_by_role("button", name="Sign out").click()

    sign_in(page, "sam", "pw-sam")
    sign_in(second_page, "sue", "pw-sue")
    page.goto(url)
    second_page.goto(url)
    page.get_by_label("Your rationale").fill("Agree with the underwriter; the income is verified.")
    second_page.get_by_label("Your rationale").fill(
        "Too much debt for this amount; decline instead."
    )
    page.get_by_role("button", name="Approve override").click()
    expect(page.locator(".messages")).to_contain_text("Second approval given")
    second_page.get_by_role("button", name="Reject override").click()
    message = second_page.locator(".messages")
    expect(message).to_contain_text("Sam approved the override")
    expect(message).to_contain_text("Your action was not saved")
    expect(second_page.locator("#h-final")).to_have_text("Final outcome: Approve")
    screenshot(second_page, "review-race-loser")

    case = ReviewCase.objects.get(pk=big_case.pk)
    assert (case.status, case.final_outcome, case.approved_by) == ("decided", "approve", senior)
    events = AuditEvent.objects.filter(subject_type="review_case", subject_id=str(case.pk))
    assert (
        events.filter(
            event_type__in=["review_case.override_approved", "review_case.override_rejected"]
        ).count()
        == 1
    )
    assert ursula.pk and sue.pk
