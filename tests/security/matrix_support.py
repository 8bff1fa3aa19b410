"""Machinery of the permission matrix (tests/security/test_permission_matrix.py): every URL
pattern of the project, a concrete URL for each, the personas, and one request classified as
allowed or denied."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

ANONYMOUS = "anonymous"
OUTSIDER = "outsider"  # signed in, no role
CLIENT = "client"  # an integration client's API token
SUPERUSER = "superuser"
ROLES = ("underwriter", "senior_underwriter", "risk_analyst", "risk_manager", "auditor")
PERSONAS = (ANONYMOUS, OUTSIDER, CLIENT, *ROLES, SUPERUSER)


@dataclass(frozen=True)
class Route:
    route: str  # the pattern as written, e.g. "reviews/cases/<int:case_id>/claim"
    name: str | None
    callback: Any


def all_routes() -> list[Route]:
    """Every URL pattern the project serves (the resolver walked, includes expanded)."""

    def walk(resolver: URLResolver, prefix: str) -> Iterator[Route]:
        for p in resolver.url_patterns:
            if isinstance(p, URLResolver):
                yield from walk(p, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                ns = resolver.namespace
                name = f"{ns}:{p.name}" if ns and p.name else p.name
                yield Route(prefix + str(p.pattern), name, p.callback)

    return list(walk(get_resolver(), ""))


def admin_model_of(route: str) -> str | None:
    """`app_label.model` for a route of a registered ModelAdmin, else None."""
    m = re.match(r"^admin/(\w+)/(\w+)/", route)
    if not m:
        return None
    label = f"{m.group(1)}.{m.group(2)}"
    registered = {f"{mdl._meta.app_label}.{mdl._meta.model_name}" for mdl in admin.site._registry}
    return label if label in registered else None


# ---- concrete URLs ------------------------------------------------------------------------------

_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


def concrete_url(route: str, objects: dict[str, Any]) -> str:
    """A URL for `route` that names rows that exist (so that a refusal is the permission's)."""
    model = admin_model_of(route)
    if "(?P<app_label>" in route:  # the admin's app index (app order varies)
        return "/admin/decisioning/"
    special = {r"admin/(?P<url>.*)$": "admin/no-such-page/"}
    queries = {
        "admin/decisioning/rulesetversion/diff/": "?a={v}&b={v}",
        "audit/decisions/": "?id={d}",
    }
    if route in queries:
        version = objects["admin_rows"]["decisioning.rulesetversion"]
        return "/" + route + queries[route].format(v=version.pk, d=objects["decision_id"])
    if route in special:
        return "/" + special[route]
    if "^([^/]+)/history/([^/]+)/$" in route:  # django-simple-history's "revert to" form
        label = admin_model_of(route)
        assert label is not None
        obj = objects["admin_rows"][label]
        history_id = (
            obj.history.order_by("-history_id").values_list("history_id", flat=True).first()
        )
        if history_id is None:  # a row made by a data migration, which records no history
            from simple_history.utils import get_history_manager_for_model

            record = get_history_manager_for_model(obj).model
            fields = {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}
            history_id = record.objects.create(
                **fields, history_date=timezone.now(), history_type="~"
            ).history_id
        return "/" + route.split("^")[0] + f"{obj.pk}/history/{history_id}/"

    def value(m: re.Match[str]) -> str:
        name = m.group(2)
        if name == "object_id" and model:
            return str(objects["admin_rows"][model].pk)
        if name == "object_id":  # view_on_site: the content type's object
            return str(objects["product"].pk)
        if name == "content_type_id":
            return str(ContentType.objects.get_for_model(objects["product"]).pk)
        if name == "id" and model == "auth.user":
            return str(objects["other_user"].pk)
        if name == "pk" and model == "decisioning.rulesetversion":
            return str(objects["admin_rows"][model].pk)
        if name == "product":
            return str(objects["product"].code)
        if name == "batch_id":
            return str(objects["batch"].pk)
        return str(objects[name])

    return "/" + _CONVERTER.sub(value, route)


# ---- requests -----------------------------------------------------------------------------------

LOGIN_PATHS = ("/accounts/login/", "/admin/login/")


@dataclass(frozen=True)
class Outcome:
    method: str
    status: int
    location: str

    @property
    def allowed(self) -> bool:
        """Denied: 401, 403, 404, or a redirect to a login page. Anything else got past the
        permission checks (a 400 on an empty form included)."""
        if self.status in (401, 403, 404):
            return False
        return not (self.status in (301, 302) and self.location.startswith(LOGIN_PATHS))


def signed_in(persona: str, users: dict[str, User]) -> Client:
    """A browser for the persona. Reuse it: each Client builds the middleware stack anew."""
    client = Client(raise_request_exception=True)
    if persona not in (ANONYMOUS, CLIENT):
        client.force_login(users[persona])
    return client


def request_as(persona: str, url: str, *, client: Client, token: str, post: bool) -> Outcome:
    headers: dict[str, str] = {}
    if persona == CLIENT:
        headers["Authorization"] = f"Token {token}"
    method = "post" if post else "get"
    response = getattr(client, method)(url, headers=headers)
    if response.status_code == 405 and not post:
        method = "post"
        response = client.post(url, headers=headers)
    return Outcome(method.upper(), response.status_code, response.get("Location", ""))


# ---- rows ---------------------------------------------------------------------------------------


def any_row(model: Any, *, depth: int = 0) -> Any:
    """A row of `model`: the first one, or a minimal one made from its fields' types (only for
    models the fixtures do not fill; append-only evidence always comes from the real pipeline)."""
    from decimal import Decimal

    from django.db import models

    row = model._default_manager.order_by("pk").first()
    if row is not None or depth > 3:
        return row
    kwargs: dict[str, Any] = {}
    for field in model._meta.concrete_fields:
        if (
            field.primary_key
            or field.has_default()
            or field.null
            or getattr(field, "auto_now", False)
            or getattr(field, "auto_now_add", False)
        ):
            continue
        if field.choices:
            kwargs[field.name] = field.choices[0][0]
        elif isinstance(field, models.ForeignKey):
            kwargs[field.name] = any_row(field.related_model, depth=depth + 1)
        elif isinstance(field, models.DateTimeField):
            kwargs[field.name] = timezone.now()
        elif isinstance(field, models.DateField):
            kwargs[field.name] = timezone.localdate()
        elif isinstance(field, models.BooleanField):
            kwargs[field.name] = False
        elif isinstance(field, models.DecimalField):
            kwargs[field.name] = Decimal("1")
        elif isinstance(field, models.FloatField):
            kwargs[field.name] = 0.1
        elif isinstance(field, models.IntegerField):
            kwargs[field.name] = 1
        elif isinstance(field, models.JSONField):
            kwargs[field.name] = {}
        elif isinstance(field, models.SlugField | models.CharField | models.TextField):
            kwargs[field.name] = f"matrix-{field.name}"[: field.max_length or 50]
        else:
            raise AssertionError(f"any_row: no sample for {model.__name__}.{field.name}")
    return model._default_manager.create(**kwargs)
