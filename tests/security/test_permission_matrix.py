"""Every URL of the project x every persona: allowed or denied, against the table below.

The URL list is not written here: it is the resolver's, walked at test time (API, pages, admin,
every ModelAdmin's changelist/add/change/delete/history and custom views). A URL with no entry
in EXPECTED, or an admin model with no entry in ADMIN_RIGHTS, fails the test: nobody adds a page
without saying who may open it.

"Allowed" means the request got past authentication and authorisation (any status but 401,
403, 404 and a redirect to a login page; a 400 for an empty form counts as allowed). Every
object in a URL exists, so a 404 is a refusal. Views whose object lives outside the database
(MLflow model cards, shadow reports, feature drift) have their look-up replaced by a probe that
records that the view got as far as looking.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from decisioning.models import Product
from tests.conftest import application_body, make_user
from tests.reviews.conftest import make_decision
from tests.security import matrix_support as ms

pytestmark = pytest.mark.django_db


class Reached(Exception):
    """Raised by a probed look-up: the view let the caller in."""


PROBES = {
    "modeling.selectors.model_card",
    "modeling.selectors.shadow_report",
    "monitoring.selectors.feature_detail",
}


@pytest.fixture
def world(
    product: Product,
    integration: tuple[Any, str],
    other_integration: tuple[Any, str],
    django_capture_on_commit_callbacks: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    from decisioning.rules.services import ruleset_create

    users = {role: make_user(f"m-{role}", role, is_staff=role in ms.ROLES[2:]) for role in ms.ROLES}
    users[ms.OUTSIDER] = make_user("m-outsider", None)
    users[ms.SUPERUSER] = User.objects.create_superuser("m-root", password="pw-root")
    other_user = make_user("m-other", None)
    ruleset_create(product=product, user=users[ms.SUPERUSER])

    client, token = integration
    referred = make_decision(client=client, product=product, outcome="refer")
    declined = make_decision(client=client, product=product, outcome="decline", pd=0.4)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.post("/api/v1/decisions", application_body(), format="json").status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        batch = api.post(
            "/api/v1/batches",
            {"product": product.code, "source": "generated", "count": 3, "chunk_size": 100},
            format="json",
        )
    assert batch.status_code == 202, batch.content
    from decisioning.models import Batch
    from monitoring.models import Alert

    alert = ms.any_row(Alert)
    admin_rows = {
        f"{m._meta.app_label}.{m._meta.model_name}": ms.any_row(m) for m in admin.site._registry
    }
    admin_rows["auth.user"] = other_user
    for dotted in PROBES:
        module, name = dotted.rsplit(".", 1)

        def probe(*args: Any, **kwargs: Any) -> Any:
            raise Reached

        monkeypatch.setattr(f"{module}.{name}", probe)
    return {
        "users": users,
        "token": token,
        "objects": {
            "product": product,
            "other_user": other_user,
            "admin_rows": admin_rows,
            "batch": Batch.objects.get(pk=batch.json()["id"]),
            "case_id": referred.review_case.pk,
            "decision_id": str(declined.pk),
            "product_code": product.code,
            "version": "1",
            "name": "verdict-personal-loan",
            "feature": "debt_to_income",
            "alert_id": str(alert.pk),
        },
    }


def _outcome(world: dict[str, Any], persona: str, url: str, *, post: bool) -> bool | str:
    clients = world.setdefault("clients", {})
    if persona not in clients:
        clients[persona] = ms.signed_in(persona, world["users"])
    # Logging out ends the session: a browser of its own, so the persona's stays signed in.
    client = ms.signed_in(persona, world["users"]) if "logout" in url else clients[persona]
    try:
        result = ms.request_as(persona, url, client=client, token=world["token"], post=post)
    except Reached:
        return True
    if result.status >= 500:
        return f"{result.method} {result.status}"
    return result.allowed


# ---- the expected table ------------------------------------------------------------------------

AN, OU, CL, SU = ms.ANONYMOUS, ms.OUTSIDER, ms.CLIENT, ms.SUPERUSER
UW, SEN, RA, RM, AU = ms.ROLES
EVERYONE = frozenset(ms.PERSONAS)
NOBODY: frozenset[str] = frozenset()
SIGNED_IN = frozenset({OU, UW, SEN, RA, RM, AU, SU})
STAFF = frozenset({RA, RM, AU, SU})  # is_staff: the admin
QUEUE = frozenset({UW, SEN, RM, AU, SU})  # reviews.view_queue
WORKERS = frozenset({UW, SEN, SU})  # reviews.work_cases
SENIORS = frozenset({SEN, SU})
AUDIT = frozenset({RM, AU, SU})
MODELS = frozenset({RA, RM, AU, SU})
MANAGERS = frozenset({RM, SU})


def s(*personas: str) -> frozenset[str]:
    return frozenset(personas)


#: Routes outside the ModelAdmins: who gets past the door (method: GET, or POST where the view
#: only takes POST; the action views of the rule-set admin are POSTed).
EXPECTED: dict[str, frozenset[str]] = {
    "": SIGNED_IN,
    "healthz": EVERYONE,
    "readyz": EVERYONE,
    "accounts/login/": EVERYONE,
    # Logging out always ends on the login page (a redirect there reads as "denied").
    "accounts/logout/": NOBODY,
    "admin/": STAFF,
    "admin/login/": EVERYONE,
    # Signed-out and non-staff callers get the "logged out" page; staff are sent to log in again.
    "admin/logout/": s(AN, OU, CL, UW, SEN),
    "admin/password_change/": STAFF,
    "admin/password_change/done/": STAFF,
    "admin/autocomplete/": NOBODY,  # no ModelAdmin declares autocomplete_fields
    "admin/jsi18n/": STAFF,
    "admin/r/<path:content_type_id>/<path:object_id>/": NOBODY,  # no model has a public URL
    "admin:app_list": STAFF,  # keyed by name: the pattern lists the apps in registry order
    r"admin/(?P<url>.*)$": NOBODY,
    "admin/decisioning/batch/<int:batch_id>/results.csv": MODELS,
    "admin/decisioning/rulesetversion/<int:pk>/clone/": s(RA, RM, SU),
    "admin/decisioning/rulesetversion/<int:pk>/run-tests/": s(RA, RM, SU),
    "admin/decisioning/rulesetversion/<int:pk>/check/": s(RA, RM, SU),
    "admin/decisioning/rulesetversion/<int:pk>/submit/": s(RA, RM, SU),
    "admin/decisioning/rulesetversion/<int:pk>/withdraw/": s(RA, RM, SU),
    "admin/decisioning/rulesetversion/<int:pk>/simulate/": s(RA, RM, SU),
    "admin/decisioning/rulesetversion/<int:pk>/publish/": MANAGERS,
    "admin/decisioning/rulesetversion/<int:pk>/rollback/": MANAGERS,
    "admin/decisioning/rulesetversion/diff/": MODELS,
    "api/v1/decisions": s(CL),
    "api/v1/decisions/<str:decision_id>": s(CL),
    "api/v1/decisions/<str:decision_id>/outcome": s(CL),
    "api/v1/products": s(CL),
    "api/v1/batches": s(CL),
    "api/v1/batches/<str:batch_id>": s(CL),
    "api/v1/batches/<str:batch_id>/results": s(CL),
    "api/schema/": EVERYONE,  # the integration contract is public; it holds no data
    "api/docs/": EVERYONE,
    "api/redoc/": EVERYONE,
    "reviews/": QUEUE,
    "reviews/metrics/": QUEUE,
    "reviews/cases/<int:case_id>/": QUEUE,
    "reviews/cases/<int:case_id>/claim": WORKERS,
    "reviews/cases/<int:case_id>/release": WORKERS,
    "reviews/cases/<int:case_id>/assign": SENIORS,
    "reviews/cases/<int:case_id>/decide": WORKERS,
    "reviews/cases/<int:case_id>/request-info": WORKERS,
    "reviews/cases/<int:case_id>/approve-override": SENIORS,
    "reviews/cases/<int:case_id>/reject-override": SENIORS,
    "reviews/decisions/<uuid:decision_id>/appeal": WORKERS,
    "audit/": AUDIT,
    "audit/verify": AUDIT,
    "audit/decisions/": AUDIT,
    "audit/decisions/<str:decision_id>/": AUDIT,
    "audit/decisions/<str:decision_id>/pdf": AUDIT,
    "audit/decisions/<str:decision_id>/replay": AUDIT,
    "audit/api/exports": s(AU, SU),
    "models/": MODELS,
    "models/shadow/": MODELS,
    "models/shadow/<slug:product_code>/start": MANAGERS,
    "models/shadow/<slug:product_code>/rollback": MANAGERS,
    "models/shadow/<slug:product_code>/<str:version>/": MODELS,
    "models/shadow/<slug:product_code>/<str:version>/promote": MANAGERS,
    "models/shadow/<slug:product_code>/<str:version>/stop": MANAGERS,
    "models/api/shadow/<slug:product_code>/<str:version>": MODELS,
    "models/<str:name>/<str:version>/": MODELS,
    "monitoring/": AUDIT,
    "monitoring/<slug:product>/features/<str:feature>/": AUDIT,
    "monitoring/alerts/<uuid:alert_id>/acknowledge/": MANAGERS,
    "metrics": NOBODY,  # Prometheus' bearer token only (tests/monitoring/test_metrics_endpoint.py)
}

#: POSTed: the rule-set admin's actions answer a GET with a redirect back to the version.
POSTED = {r for r in EXPECTED if r.startswith("admin/decisioning/rulesetversion/<int:pk>/")} - {
    "admin/decisioning/rulesetversion/<int:pk>/publish/",
    "admin/decisioning/rulesetversion/<int:pk>/rollback/",
} | {"accounts/logout/", "admin/logout/"}

#: Every registered ModelAdmin: who may view (v), add (a), change (c), delete (d). Evidence is
#: read-only for everyone (ReadOnlyAdmin); superusers hold every right Django gives them.
ADMIN_RIGHTS: dict[str, dict[str, str]] = {
    "auth.group": {SU: "vacd"},
    "auth.user": {
        RM: "vc",
        SU: "vacd",
    },  # risk managers: roles only (tests/audit/test_roles_audit.py)
    "decisioning.product": {RA: "v", RM: "vac", AU: "v", SU: "vac"},
    "decisioning.integrationclient": {RA: "v", RM: "vac", AU: "v", SU: "vac"},
    "decisioning.apitoken": {RM: "v", AU: "v", SU: "v"},
    "decisioning.application": {RA: "v", RM: "v", AU: "v", SU: "v"},
    "decisioning.decision": {RA: "v", RM: "v", AU: "v", SU: "v"},
    "decisioning.loanoutcome": {RA: "v", RM: "v", AU: "v", SU: "v"},
    "decisioning.batch": {RA: "va", RM: "va", AU: "v", SU: "va"},
    "decisioning.reasoncode": {RA: "v", RM: "vac", AU: "v", SU: "vac"},
    "decisioning.ruleset": {RA: "v", RM: "va", AU: "v", SU: "va"},
    # The published version in the fixture: nobody changes it; drafts come from "clone".
    "decisioning.rulesetversion": {RA: "v", RM: "v", AU: "v", SU: "v"},
    "decisioning.ruledefinition": {RA: "v", RM: "v", AU: "v", SU: "v"},
    "decisioning.rulesetsimulation": {RA: "v", RM: "v", AU: "v", SU: "v"},
    "audit.auditevent": {RA: "v", RM: "v", AU: "v", SU: "v"},
    "audit.verificationrun": {SU: "v"},  # auditors see runs on /audit/
    "modeling.promotiongate": {RA: "v", RM: "va", AU: "v", SU: "va"},
    "modeling.modelassignment": {RA: "v", RM: "v", AU: "v", SU: "v"},
    "reviews.reviewcase": {RA: "v", RM: "v", AU: "v", SU: "v"},
    "reviews.reviewaction": {SU: "v"},
    "reviews.webhookdelivery": {SU: "v"},
    "monitoring.alertrule": {RM: "vac", AU: "v", SU: "vacd"},
    "monitoring.notificationtarget": {RM: "vac", AU: "v", SU: "vacd"},
    "monitoring.alert": {RM: "v", AU: "v", SU: "v"},
    "monitoring.alertnotification": {RM: "v", AU: "v", SU: "v"},
    "monitoring.metricpoint": {RM: "v", AU: "v", SU: "v"},
    "monitoring.monitoringrun": {RM: "v", AU: "v", SU: "v"},
    "monitoring.baseline": {RM: "v", AU: "v", SU: "v"},
}


def expected_for(route: ms.Route) -> frozenset[str]:
    if route.name == "admin:app_list":
        return EXPECTED[route.name]
    if route.route in EXPECTED:
        return EXPECTED[route.route]
    label = ms.admin_model_of(route.route)
    assert label is not None, f"{route.route} ({route.name}) has no entry in EXPECTED"
    assert label in ADMIN_RIGHTS, f"admin model {label} has no entry in ADMIN_RIGHTS"
    rights = ADMIN_RIGHTS[label]
    who = lambda letters: frozenset(p for p, r in rights.items() if set(letters) & set(r))  # noqa: E731
    tail = route.route.split("/", 3)[3]
    if route.name is None and tail == "<path:object_id>/":
        return STAFF  # Django's old-style URL: a redirect to .../change/ for anyone in the admin
    by_view = {
        "changelist": who("vc"),
        "add": who("a"),
        "change": who("vc"),
        "delete": who("d"),
        "history": who("vc"),
        "simple_history": who("vc"),
        "password_change": s(SU),  # only account editors set passwords
    }
    view = (route.name or "").rsplit("_", 1)[-1]
    view = "simple_history" if (route.name or "").endswith("_simple_history") else view
    view = "password_change" if (route.name or "").endswith("_password_change") else view
    assert view in by_view, f"{route.route}: an admin view the matrix does not know ({route.name})"
    return by_view[view]


def test_every_url_has_an_expectation() -> None:
    """A new URL (or a new ModelAdmin) fails here until someone says who may open it."""
    missing = []
    for route in ms.all_routes():
        try:
            expected_for(route)
        except AssertionError as e:
            missing.append(str(e))
    assert not missing, "\n".join(missing)
    registered = {f"{m._meta.app_label}.{m._meta.model_name}" for m in admin.site._registry}
    assert set(ADMIN_RIGHTS) == registered
    stale = set(EXPECTED) - {r.route for r in ms.all_routes()} - {"admin:app_list"}
    assert not stale, f"entries for URLs that no longer exist: {sorted(stale)}"


@pytest.mark.parametrize("persona", ms.PERSONAS)
def test_the_permission_matrix(world: dict[str, Any], persona: str) -> None:
    wrong = []
    for route in ms.all_routes():
        url = ms.concrete_url(route.route, world["objects"])
        got = _outcome(world, persona, url, post=route.route in POSTED)
        want = persona in expected_for(route)
        if got is not want:
            label = {True: "allowed", False: "denied"}.get(got, got)  # type: ignore[call-overload]
            wrong.append(
                f"{route.route}  {url}: {label}, expected {'allowed' if want else 'denied'}"
            )
    assert not wrong, f"{persona}:\n" + "\n".join(wrong)
