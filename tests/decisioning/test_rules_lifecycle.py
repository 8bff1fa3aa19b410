"""Rule-set versions: lifecycle, immutability (services, admin, SQL), publishing, rollback,
test cases, permissions and the hot-path policy lookup."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client

from audit.models import AuditEvent
from config.errors import ApplicationError
from decisioning import selectors
from decisioning.engine.policy import BUILTIN_POLICY
from decisioning.models import RuleDefinition, RuleSetSimulation, RuleSetTestCase, RuleSetVersion
from decisioning.rules import selectors as rule_selectors
from decisioning.rules import services
from decisioning.rules.compiler import RuleSpec, TestCaseSpec

pytestmark = pytest.mark.django_db
Status = RuleSetVersion.Status


@pytest.fixture(autouse=True)
def _fresh_policy_cache() -> Iterator[None]:
    rule_selectors.invalidate_policy_cache()
    yield
    rule_selectors.invalidate_policy_cache()


@pytest.fixture
def v1(product: Any) -> RuleSetVersion:
    services.ruleset_create(product=product, user=None)
    return RuleSetVersion.objects.get(rule_set__product=product, number=1)


def events(kind: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=kind).order_by("seq"))


def simulate(version: RuleSetVersion, user: Any, capture: Any) -> RuleSetSimulation:
    with capture(execute=True):
        sim = services.simulation_request(version=version, user=user, sample_size=20)
    sim.refresh_from_db()
    assert sim.status == RuleSetSimulation.Status.DONE, sim.error
    return sim


def publish_change(
    v1: RuleSetVersion, analyst: Any, manager: Any, capture: Any, **changes: Any
) -> RuleSetVersion:
    draft = services.ruleset_version_clone(version=v1, user=analyst)
    services.ruleset_draft_update(version=draft, user=analyst, **changes)
    services.ruleset_submit(version=draft, user=analyst)
    sim = simulate(draft, analyst, capture)
    return services.ruleset_publish(version=draft, user=manager, simulation=sim)


# ---- creation and publishing ------------------------------------------------------------------------


def test_it_creates_a_rule_set_whose_v1_is_the_builtin_policy_published(
    product: Any, v1: RuleSetVersion
) -> None:
    assert v1.label == "personal-loan-v1" and v1.status == Status.PUBLISHED and v1.content_hash
    assert v1.test_report["total"] == 9 and v1.test_report["failed"] == 0
    policy = selectors.policy_for_product(product=product)
    assert policy.version == "personal-loan-v1" and policy.cutoffs == BUILTIN_POLICY.cutoffs
    assert [r.id for r in policy.rules] == [r.id for r in BUILTIN_POLICY.rules]
    assert [e.subject_id for e in events("ruleset.published")] == ["personal-loan-v1"]


def test_a_product_without_a_rule_set_uses_the_builtin_policy(product: Any) -> None:
    assert selectors.policy_for_product(product=product) is BUILTIN_POLICY
    assert selectors.policy_for_version(product=product, version="builtin-1") is BUILTIN_POLICY


def test_publishing_retires_the_old_version_atomically_and_audits(
    product: Any,
    v1: RuleSetVersion,
    analyst: Any,
    manager: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    v2 = publish_change(
        v1, analyst, manager, django_capture_on_commit_callbacks, approve_max_pd=0.06
    )
    v1.refresh_from_db()
    assert (v1.status, v2.status) == (Status.RETIRED, Status.PUBLISHED)
    assert RuleSetVersion.objects.filter(rule_set=v1.rule_set, status=Status.PUBLISHED).count() == 1
    event = events("ruleset.published")[-1]
    assert event.subject_id == "personal-loan-v2" and event.actor_id == str(manager.pk)
    assert (
        event.payload["previous"] == "personal-loan-v1"
        and event.payload["content_hash"] == v2.content_hash
    )
    assert event.payload["simulation"]["id"] and event.payload["cutoffs"]["approve_max_pd"] == 0.06
    assert [e.payload["changes"][0]["after"] for e in events("cutoffs.changed")] == [0.06]
    assert {"ruleset.draft_created", "ruleset.submitted", "ruleset.simulation_requested"} <= set(
        AuditEvent.objects.values_list("event_type", flat=True)
    )


def test_a_failed_publish_changes_nothing(
    product: Any,
    v1: RuleSetVersion,
    analyst: Any,
    manager: Any,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    draft = services.ruleset_version_clone(version=v1, user=analyst)
    services.ruleset_submit(version=draft, user=analyst)
    sim = simulate(draft, analyst, django_capture_on_commit_callbacks)
    published_before = AuditEvent.objects.filter(event_type="ruleset.published").count()

    def boom(**kwargs: Any) -> None:
        raise DatabaseError("audit store down")

    monkeypatch.setattr("decisioning.rules.services.audit_record", boom)
    with pytest.raises(DatabaseError):
        services.ruleset_publish(version=draft, user=manager, simulation=sim)
    v1.refresh_from_db()
    draft.refresh_from_db()
    assert (v1.status, draft.status) == (Status.PUBLISHED, Status.SUBMITTED)
    assert AuditEvent.objects.filter(event_type="ruleset.published").count() == published_before


def test_the_database_allows_only_one_published_version(v1: RuleSetVersion, analyst: Any) -> None:
    draft = services.ruleset_version_clone(version=v1, user=analyst)
    services.ruleset_submit(version=draft, user=analyst)
    with pytest.raises(DatabaseError), transaction.atomic():
        RuleSetVersion.objects.filter(pk=draft.pk).update(status=Status.PUBLISHED)


@pytest.mark.parametrize(
    ("check", "code"),
    [
        ("no_simulation", "simulation_required"),
        ("stale_simulation", "simulation_stale"),
        ("own_submission", "permission_denied"),
        ("analyst", "permission_denied"),
        ("draft", "not_submitted"),
    ],
)
def test_publishing_is_refused_without_its_preconditions(
    v1: RuleSetVersion,
    analyst: Any,
    manager: Any,
    django_capture_on_commit_callbacks: Any,
    check: str,
    code: str,
) -> None:
    draft = services.ruleset_version_clone(version=v1, user=analyst)
    sim = simulate(draft, analyst, django_capture_on_commit_callbacks)
    if check == "stale_simulation":
        services.ruleset_draft_update(
            version=draft, user=analyst, approve_max_pd=0.07
        )  # content changed since
    submitter = manager if check == "own_submission" else analyst
    if check != "draft":
        services.ruleset_submit(version=draft, user=submitter)
    publisher = analyst if check == "analyst" else manager
    with pytest.raises(ApplicationError) as e:
        services.ruleset_publish(
            version=draft, user=publisher, simulation=None if check == "no_simulation" else sim
        )
    assert e.value.code == code
    draft.refresh_from_db()
    assert draft.status != Status.PUBLISHED


# ---- immutability ---------------------------------------------------------------------------------


def test_services_refuse_to_change_a_published_version(v1: RuleSetVersion, manager: Any) -> None:
    with pytest.raises(ApplicationError) as e:
        services.ruleset_draft_update(version=v1, user=manager, approve_max_pd=0.5)
    assert e.value.code == "version_immutable"
    with pytest.raises(ApplicationError):
        services.ruleset_draft_discard(version=v1, user=manager)
    v1.refresh_from_db()
    assert v1.approve_max_pd == 0.08


SQL_ATTACKS = [
    ("UPDATE decisioning_rulesetversion SET approve_max_pd = 0.5 WHERE id = {v}", ()),
    ("UPDATE decisioning_rulesetversion SET content_hash = 'x' WHERE id = {v}", ()),
    ("UPDATE decisioning_rulesetversion SET status = 'draft' WHERE id = {v}", ()),
    ("DELETE FROM decisioning_rulesetversion WHERE id = {v}", ()),
    ("UPDATE decisioning_ruledefinition SET condition = 'true' WHERE version_id = {v}", ()),
    ("UPDATE decisioning_ruledefinition SET enabled = %s WHERE version_id = {v}", (False,)),
    ("DELETE FROM decisioning_ruledefinition WHERE version_id = {v}", ()),
    (
        "INSERT INTO decisioning_ruledefinition (version_id, key, name, description, condition, action, parameter,"
        " reason_code, \"order\", enabled) VALUES ({v}, 'x', 'x', '', 'true', 'decline', NULL, 'UNDER_18', 0, %s)",
        (True,),
    ),
    (
        "UPDATE decisioning_rulesettestcase SET expected_outcome = 'approve' WHERE version_id = {v}",
        (),
    ),
    ("DELETE FROM decisioning_rulesettestcase WHERE version_id = {v}", ()),
]


@pytest.mark.parametrize(("sql", "params"), SQL_ATTACKS)
def test_the_database_refuses_raw_sql_changes_to_a_published_version(
    v1: RuleSetVersion, sql: str, params: tuple[Any, ...]
) -> None:
    before = rule_selectors.version_spec(v1)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql.format(v=v1.pk), params)
    v1.refresh_from_db()
    assert rule_selectors.version_spec(v1) == before and v1.status == Status.PUBLISHED


def test_the_database_allows_what_the_lifecycle_needs(v1: RuleSetVersion, analyst: Any) -> None:
    draft = services.ruleset_version_clone(version=v1, user=analyst)
    RuleDefinition.objects.filter(version=draft, key="recent_ccj").update(
        condition="bureau.ccj_count_6y > 1"
    )
    RuleSetTestCase.objects.filter(version=draft).first().delete()  # type: ignore[union-attr]
    # Non-content columns of a frozen version may change (reports, retirement time).
    RuleSetVersion.objects.filter(pk=v1.pk).update(test_report={"refreshed": True})
    with pytest.raises(DatabaseError), transaction.atomic():
        RuleSetVersion.objects.filter(pk=v1.pk).update(
            status=Status.SUBMITTED
        )  # published → submitted


def test_the_admin_shows_a_published_version_read_only(
    client: Client, v1: RuleSetVersion, analyst: Any
) -> None:
    client.force_login(analyst)
    url = f"/admin/decisioning/rulesetversion/{v1.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="approve_max_pd"' not in html and "can no longer change" in html
    assert client.post(url, {"approve_max_pd": "0.5", "decline_min_pd": "0.6"}).status_code == 403
    assert (
        client.post(
            f"/admin/decisioning/rulesetversion/{v1.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    v1.refresh_from_db()
    assert v1.approve_max_pd == 0.08


# ---- rollback -------------------------------------------------------------------------------------


def test_rollback_publishes_the_old_content_as_a_new_version(
    product: Any,
    v1: RuleSetVersion,
    analyst: Any,
    manager: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    v2 = publish_change(
        v1, analyst, manager, django_capture_on_commit_callbacks, decline_min_pd=0.2
    )
    v1.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        v3 = services.ruleset_rollback(to_version=v1, user=manager, reason="v2 declines too many")
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert (v1.status, v2.status, v3.status) == (Status.RETIRED, Status.RETIRED, Status.PUBLISHED)
    assert (
        v3.label == "personal-loan-v3" and v3.based_on == v1 and v3.content_hash == v1.content_hash
    )
    assert rule_selectors.version_spec(v3) == dataclasses.replace(
        rule_selectors.version_spec(v1), label=v3.label
    )
    assert selectors.policy_for_product(product=product).version == "personal-loan-v3"
    event = events("ruleset.rolled_back")[-1]
    assert (
        event.payload["to"] == "personal-loan-v1"
        and event.payload["replacing"] == "personal-loan-v2"
    )
    with pytest.raises(ApplicationError):  # nothing to roll back to: same content is published
        services.ruleset_rollback(to_version=v1, user=manager, reason="again")


def test_only_managers_roll_back(v1: RuleSetVersion, analyst: Any) -> None:
    with pytest.raises(ApplicationError) as e:
        services.ruleset_rollback(to_version=v1, user=analyst, reason="x")
    assert e.value.status_code == 403


# ---- test cases ------------------------------------------------------------------------------------


def test_a_failing_test_case_blocks_submission_and_publication(
    v1: RuleSetVersion, analyst: Any, manager: Any, django_capture_on_commit_callbacks: Any
) -> None:
    draft = services.ruleset_version_clone(version=v1, user=analyst)
    rules = [
        RuleSpec(
            key=r.key,
            name=r.name,
            condition=r.condition,
            action=r.action,
            reason_code=r.reason_code,
            order=r.order,
            enabled=r.key != "under_18",
        )
        for r in rule_selectors.version_spec(draft).rules
    ]
    services.ruleset_draft_update(version=draft, user=analyst, rules=rules)
    report = services.ruleset_run_tests(version=draft, user=analyst)
    assert report["failed"] == 1
    failing = next(r for r in report["results"] if not r["passed"])
    assert failing["name"] == "Minor is declined" and failing["outcome"] == "approve"
    with pytest.raises(ApplicationError) as e:
        services.ruleset_submit(version=draft, user=analyst)
    assert e.value.code == "tests_failing" and e.value.errors["test_cases"] == ["Minor is declined"]

    # A version without test cases cannot be submitted either.
    services.ruleset_draft_update(
        version=draft,
        user=analyst,
        rules=list(rule_selectors.version_spec(v1).rules),
        test_cases=[],
    )
    with pytest.raises(ApplicationError) as e:
        services.ruleset_submit(version=draft, user=analyst)
    assert e.value.code == "no_test_cases"


def test_submission_is_refused_while_static_checks_fail(v1: RuleSetVersion, analyst: Any) -> None:
    draft = services.ruleset_version_clone(version=v1, user=analyst)
    findings = services.ruleset_draft_update(
        version=draft, user=analyst, approve_max_pd=0.3, decline_min_pd=0.2
    )
    assert [f.code for f in findings if f.severity == "error"] == ["cutoff_overlap"]
    draft.refresh_from_db()
    assert draft.check_findings[0]["code"] == "cutoff_overlap"  # shown in the admin
    with pytest.raises(ApplicationError) as e:
        services.ruleset_submit(version=draft, user=analyst)
    assert e.value.code == "checks_failing"


def test_an_invalid_condition_is_refused_with_the_unknown_field_named(
    v1: RuleSetVersion, analyst: Any
) -> None:
    draft = services.ruleset_version_clone(version=v1, user=analyst)
    bad = RuleSpec(
        key="x", name="X", condition="bureau.ccjs > 0", action="refer", reason_code="RECENT_CCJ"
    )
    with pytest.raises(ApplicationError) as e:
        services.ruleset_draft_update(version=draft, user=analyst, rules=[bad])
    assert "Unknown field 'bureau.ccjs'" in e.value.message
    assert draft.rules.count() == 10  # nothing written


def test_ruleset_test_command_runs_the_cases(v1: RuleSetVersion, analyst: Any) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("ruleset_test", "personal-loan-v1", stdout=out)
    assert "personal-loan-v1 (published): 9/9 passed" in out.getvalue()
    draft = services.ruleset_version_clone(version=v1, user=analyst)
    services.ruleset_draft_update(
        version=draft,
        user=analyst,
        test_cases=[
            TestCaseSpec(
                name="Wrong on purpose",
                application=RuleSetTestCase.objects.filter(version=v1).first().application,  # type: ignore[union-attr]
                expected_outcome="decline",
                model_pd=0.01,
                signal_overrides={"kyc": {"status": "pass"}},
            )
        ],
    )
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("ruleset_test", draft.label, stdout=out)
    assert "FAIL Wrong on purpose" in out.getvalue()


# ---- permissions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["underwriter", "senior", "auditor", "outsider"])
def test_only_policy_roles_edit_rule_sets(request: Any, v1: RuleSetVersion, persona: str) -> None:
    user = request.getfixturevalue(persona)
    with pytest.raises(ApplicationError) as e:
        services.ruleset_version_clone(version=v1, user=user)
    assert e.value.status_code == 403


def test_an_analyst_cannot_publish(
    v1: RuleSetVersion, analyst: Any, django_capture_on_commit_callbacks: Any
) -> None:
    draft = services.ruleset_version_clone(version=v1, user=analyst)
    services.ruleset_submit(version=draft, user=analyst)
    sim = simulate(draft, analyst, django_capture_on_commit_callbacks)
    with pytest.raises(ApplicationError) as e:
        services.ruleset_publish(version=draft, user=analyst, simulation=sim)
    assert e.value.status_code == 403


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("underwriter", 302),
        ("senior", 302),
        ("outsider", 302),
        ("auditor", 200),
        ("analyst", 200),
        ("manager", 200),
    ],
)
def test_only_staff_policy_roles_reach_the_rule_set_admin(
    request: Any, client: Client, v1: RuleSetVersion, persona: str, status: int
) -> None:
    client.force_login(request.getfixturevalue(persona))
    r = client.get(f"/admin/decisioning/rulesetversion/{v1.pk}/change/")
    assert r.status_code == status
    if status == 302:
        assert "/admin/login/" in r["Location"]


def test_an_auditor_sees_versions_but_cannot_act(
    client: Client, v1: RuleSetVersion, auditor: Any
) -> None:
    client.force_login(auditor)
    html = client.get(f"/admin/decisioning/rulesetversion/{v1.pk}/change/").content.decode()
    assert "Clone into new draft" not in html
    assert client.post(f"/admin/decisioning/rulesetversion/{v1.pk}/clone/").status_code == 403
    assert client.get(f"/admin/decisioning/rulesetversion/{v1.pk}/rollback/").status_code == 403
    assert RuleSetVersion.objects.count() == 1


def test_an_underwriter_cannot_edit_rules_anywhere(
    client: Client, v1: RuleSetVersion, underwriter: Any
) -> None:
    assert not underwriter.has_perm("decisioning.edit_policy")
    client.force_login(underwriter)
    r = client.post(f"/admin/decisioning/rulesetversion/{v1.pk}/clone/")
    assert r.status_code == 302 and "/admin/login/" in r["Location"]
    assert RuleSetVersion.objects.count() == 1


# ---- reason codes ---------------------------------------------------------------------------------------


def test_reason_wording_is_managed_audited_and_frozen_into_versions(
    v1: RuleSetVersion, analyst: Any, manager: Any
) -> None:
    with pytest.raises(ApplicationError):
        services.reason_code_save(user=analyst, code="UNDER_18", customer_text="x")
    services.reason_code_save(
        user=manager, code="UNDER_18", customer_text="You must be 18 or over."
    )
    event = events("reason_code.changed")[-1]
    assert event.payload["after"]["customer_text"] == "You must be 18 or over."
    assert event.payload["before"]["customer_text"] == "You need to be 18 or over to apply."
    v1.refresh_from_db()
    assert (
        v1.reason_texts["UNDER_18"] == "You need to be 18 or over to apply."
    )  # published wording stays
    draft = services.ruleset_version_clone(version=v1, user=analyst)
    assert rule_selectors.version_spec(draft).reason_texts["UNDER_18"] == "You must be 18 or over."
    assert (
        selectors.policy_for_version(product=v1.rule_set.product, version=v1.label).reason_text(
            "UNDER_18"
        )
        == "You need to be 18 or over to apply."
    )


# ---- the hot path ---------------------------------------------------------------------------------------


def test_the_published_policy_costs_at_most_one_query_and_none_when_fresh(
    product: Any, v1: RuleSetVersion, django_assert_num_queries: Any
) -> None:
    selectors.policy_for_product(product=product)  # compiles once
    rule_selectors.invalidate_policy_cache()
    with django_assert_num_queries(1):
        assert selectors.policy_for_product(product=product).version == "personal-loan-v1"
    with django_assert_num_queries(0):
        selectors.policy_for_product(product=product)


def test_other_workers_see_a_publication_within_the_ttl(
    product: Any,
    v1: RuleSetVersion,
    analyst: Any,
    manager: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(rule_selectors, "_clock", lambda: clock[0])
    assert selectors.policy_for_product(product=product).version == "personal-loan-v1"
    draft = services.ruleset_version_clone(version=v1, user=analyst)
    services.ruleset_submit(version=draft, user=analyst)
    sim = simulate(draft, analyst, django_capture_on_commit_callbacks)
    # Publish without running on-commit hooks: what another process (whose cache was not cleared) sees.
    services.ruleset_publish(version=draft, user=manager, simulation=sim)
    clock[0] += 0.5
    assert selectors.policy_for_product(product=product).version == "personal-loan-v1"
    clock[0] += rule_selectors.POLICY_TTL_SECONDS
    assert selectors.policy_for_product(product=product).version == "personal-loan-v2"


def test_policy_for_version_finds_stored_versions_but_not_drafts(
    product: Any, v1: RuleSetVersion, analyst: Any
) -> None:
    draft = services.ruleset_version_clone(version=v1, user=analyst)
    assert (
        selectors.policy_for_version(product=product, version="personal-loan-v1").version
        == "personal-loan-v1"
    )
    for label in (draft.label, "personal-loan-v99", "nonsense"):
        with pytest.raises(ApplicationError) as e:
            selectors.policy_for_version(product=product, version=label)
        assert e.value.status_code == 404


def test_a_manager_creates_a_rule_set_in_the_admin_and_every_page_renders(
    client: Client, product: Any, manager: Any, analyst: Any, auditor: Any
) -> None:
    from decisioning.models import ReasonCode, RuleSet

    client.force_login(analyst)
    assert (
        client.post("/admin/decisioning/ruleset/add/", {"product": product.pk}).status_code == 403
    )
    client.force_login(manager)
    r = client.post("/admin/decisioning/ruleset/add/", {"product": product.pk, "_save": "Save"})
    assert r.status_code == 302
    v1 = RuleSetVersion.objects.get()
    assert v1.status == Status.PUBLISHED and events("ruleset.created")[0].actor_id == str(
        manager.pk
    )
    reason = ReasonCode.objects.get(code="UNDER_18")
    pages = [
        "/admin/decisioning/",
        "/admin/decisioning/ruleset/",
        f"/admin/decisioning/ruleset/{RuleSet.objects.get().pk}/change/",
        "/admin/decisioning/rulesetversion/",
        f"/admin/decisioning/rulesetversion/{v1.pk}/history/",
        "/admin/decisioning/ruledefinition/",
        "/admin/decisioning/reasoncode/",
        f"/admin/decisioning/reasoncode/{reason.pk}/change/",
        "/admin/decisioning/rulesetsimulation/",
    ]
    for user in (manager, analyst, auditor):
        client.force_login(user)
        for url in pages:
            assert client.get(url).status_code == 200, (user.username, url)
    client.force_login(analyst)
    data = {"customer_text": "x", "description": "", "is_active": "on", "_save": "1"}
    assert (
        client.post(f"/admin/decisioning/reasoncode/{reason.pk}/change/", data).status_code == 403
    )
    client.force_login(manager)
    data["customer_text"] = "You must be 18 or over to borrow."
    assert (
        client.post(f"/admin/decisioning/reasoncode/{reason.pk}/change/", data).status_code == 302
    )
    assert (
        events("reason_code.changed")[-1].payload["after"]["customer_text"] == data["customer_text"]
    )
