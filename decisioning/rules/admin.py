"""The rule-set admin: analysts edit drafts (rules inline, order, enable), run tests and static
checks, simulate impact and submit; risk managers publish and roll back. Every state change goes
through `decisioning.rules.services`, which audits it; templates only render prepared context.

Access: model permissions (migration 0006) let the staff roles see these pages; the django-rules
permissions `decisioning.edit_policy` / `decisioning.publish_policy` decide what they may do, and
a version that is not a draft is read-only for everybody.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from config.errors import ApplicationError
from decisioning.models import (
    ReasonCode,
    RuleDefinition,
    RuleSet,
    RuleSetSimulation,
    RuleSetTestCase,
    RuleSetVersion,
)
from decisioning.rules import selectors as rule_selectors
from decisioning.rules import services
from decisioning.rules.diff import diff_versions
from decisioning.rules.language import ConditionError, fields_as_rows, parse

EDIT, PUBLISH = "decisioning.edit_policy", "decisioning.publish_policy"
VIEWERS = (EDIT, PUBLISH, "audit.view_audit")


def _can_view(request: HttpRequest) -> bool:
    return (
        request.user.is_active
        and request.user.is_staff
        and any(request.user.has_perm(p) for p in VIEWERS)
    )


def _fail(request: HttpRequest, e: ApplicationError) -> None:
    detail = "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in e.errors.items())
    messages.error(request, f"{e.message} {detail}".strip())


# ---- reason codes --------------------------------------------------------------------------------


@admin.register(ReasonCode)
class ReasonCodeAdmin(SimpleHistoryAdmin):
    list_display = ("code", "customer_text", "is_active", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("code", "customer_text")
    fields = ("code", "customer_text", "description", "is_active")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("code",) if obj is not None else ()

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _can_view(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PUBLISH)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(PUBLISH)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # versions and decisions refer to codes forever; deactivate instead

    def save_model(self, request: HttpRequest, obj: ReasonCode, form: Any, change: bool) -> None:
        saved = services.reason_code_save(
            user=request.user,
            code=obj.code,
            customer_text=obj.customer_text,
            description=obj.description,
            is_active=obj.is_active,
        )
        obj.pk = saved.pk


# ---- rule sets -------------------------------------------------------------------------------------


class VersionLinkInline(admin.TabularInline):
    model = RuleSetVersion
    fields = ("link", "status", "approve_max_pd", "decline_min_pd", "created_by", "published_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    @admin.display(description="version")
    def link(self, obj: RuleSetVersion) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:decisioning_rulesetversion_change", args=[obj.pk]),
            obj.label,
        )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RuleSet)
class RuleSetAdmin(SimpleHistoryAdmin):
    list_display = ("name", "product", "published")
    inlines = [VersionLinkInline]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("product",) if obj is None else ("product", "name", "description")

    def get_inlines(self, request: HttpRequest, obj: Any) -> list[Any]:
        return [] if obj is None else [VersionLinkInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return () if obj is None else ("product", "name", "description")

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("product")

    @admin.display(description="published version")
    def published(self, obj: RuleSet) -> str:
        v = obj.versions.filter(status=RuleSetVersion.Status.PUBLISHED).first()
        return v.label if v else "—"

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _can_view(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PUBLISH)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: RuleSet, form: Any, change: bool) -> None:
        created = services.ruleset_create(product=obj.product, user=request.user)
        obj.pk = created.pk

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # versions are made by the service


class RuleForm(forms.ModelForm):
    class Meta:
        model = RuleDefinition
        fields = (
            "order",
            "key",
            "name",
            "condition",
            "action",
            "parameter",
            "reason_code",
            "enabled",
            "description",
        )
        widgets = {
            "condition": forms.Textarea(attrs={"rows": 2, "cols": 60, "spellcheck": "false"}),
            "description": forms.Textarea(attrs={"rows": 2, "cols": 30}),
            "order": forms.NumberInput(attrs={"style": "width: 4em"}),
            "parameter": forms.NumberInput(attrs={"style": "width: 7em", "step": "any"}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "reason_code" in self.fields:
            self.fields["reason_code"].queryset = ReasonCode.objects.filter(is_active=True)

    def clean_condition(self) -> str:
        text = self.cleaned_data["condition"]
        try:
            return parse(text).text
        except ConditionError as e:
            raise ValidationError(str(e)) from e

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action, parameter = data.get("action"), data.get("parameter")
        if action in ("adjust_score", "cap_amount") and parameter is None:
            self.add_error("parameter", "This action needs a parameter.")
        if action in ("decline", "refer") and parameter is not None:
            self.add_error("parameter", "Decline and refer take no parameter.")
        return data


class DraftOnlyInline:
    """Inline rows of a version: editable while the version is a draft, by those who edit policy."""

    def _editable(self, request: HttpRequest, obj: Any) -> bool:
        return request.user.has_perm(EDIT) and (
            obj is None or obj.status == RuleSetVersion.Status.DRAFT
        )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._editable(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._editable(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._editable(request, obj)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _can_view(request)


class RuleInline(DraftOnlyInline, admin.TabularInline):
    model = RuleDefinition
    form = RuleForm
    extra = 0
    ordering = ("order", "key")


class TestCaseForm(forms.ModelForm):
    class Meta:
        model = RuleSetTestCase
        fields = (
            "name",
            "expected_outcome",
            "expected_reasons",
            "model_pd",
            "application",
            "signal_overrides",
        )
        widgets = {
            "application": forms.Textarea(attrs={"rows": 6, "cols": 80, "spellcheck": "false"}),
            "signal_overrides": forms.Textarea(
                attrs={"rows": 2, "cols": 80, "spellcheck": "false"}
            ),
        }

    def clean_model_pd(self) -> float:
        pd = self.cleaned_data["model_pd"]
        if not 0.0 <= pd <= 1.0:
            raise ValidationError("A PD is between 0 and 1.")
        return float(pd)

    def clean_expected_reasons(self) -> list[str]:
        value = self.cleaned_data["expected_reasons"] or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValidationError('A list of reason codes, e.g. ["UNDER_18"].')
        return value


class TestCaseInline(DraftOnlyInline, admin.StackedInline):
    model = RuleSetTestCase
    form = TestCaseForm
    extra = 0


class VersionForm(forms.ModelForm):
    class Meta:
        model = RuleSetVersion
        fields = ("approve_max_pd", "decline_min_pd", "change_summary")


@admin.register(RuleSetVersion)
class RuleSetVersionAdmin(SimpleHistoryAdmin):
    form = VersionForm
    change_form_template = "admin/decisioning/rulesetversion/change_form.html"
    list_display = (
        "label",
        "product",
        "status",
        "approve_max_pd",
        "decline_min_pd",
        "created_by",
        "published_at",
    )
    list_filter = ("status", "rule_set")
    list_select_related = ("rule_set__product", "created_by")
    search_fields = ("label", "change_summary")
    inlines = [RuleInline, TestCaseInline]
    readonly_fields = (
        "label",
        "status",
        "based_on",
        "content_hash",
        "created_by",
        "created_at",
        "submitted_by",
        "submitted_at",
        "published_by",
        "published_at",
        "retired_at",
    )

    @admin.display(description="product")
    def product(self, obj: RuleSetVersion) -> str:
        return obj.rule_set.product.code

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["approve_max_pd", "decline_min_pd", "change_summary", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is not None and not obj.is_draft:
            return ("approve_max_pd", "decline_min_pd", "change_summary", *self.readonly_fields)
        return self.readonly_fields

    # permissions: drafts are edited by analysts and managers; nothing else is ever edited
    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _can_view(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a version is made by cloning (or by creating the rule set)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(EDIT) and (obj is None or obj.is_draft)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(EDIT) and obj is not None and obj.is_draft

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        # Cascaded rules/test cases of a draft go with it; let the confirmation page say so
        # without requiring separate delete permissions on each related model.
        deleted, model_count, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, model_count, set(), protected

    def delete_model(self, request: HttpRequest, obj: RuleSetVersion) -> None:
        services.ruleset_draft_discard(version=obj, user=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in queryset:
            services.ruleset_draft_discard(version=obj, user=request.user)

    def save_model(
        self, request: HttpRequest, obj: RuleSetVersion, form: Any, change: bool
    ) -> None:
        stored = RuleSetVersion.objects.select_for_update().get(pk=obj.pk)
        if not stored.is_draft:
            raise PermissionDenied("This version is not a draft.")
        request._ruleset_before = rule_selectors.version_spec(stored)  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        findings = services.ruleset_draft_saved(
            version=form.instance,
            before=request._ruleset_before,
            user=request.user,  # type: ignore[attr-defined]
        )
        problems = [f for f in findings if f.severity == "error"]
        if problems:
            messages.warning(
                request,
                f"Saved, but {len(problems)} check(s) fail: "
                + "; ".join(f.message for f in problems),
            )

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/clone/", wrap(self.clone_view), name="decisioning_rulesetversion_clone"),
            path(
                "<int:pk>/run-tests/",
                wrap(self.run_tests_view),
                name="decisioning_rulesetversion_run_tests",
            ),
            path("<int:pk>/check/", wrap(self.check_view), name="decisioning_rulesetversion_check"),
            path(
                "<int:pk>/submit/", wrap(self.submit_view), name="decisioning_rulesetversion_submit"
            ),
            path(
                "<int:pk>/withdraw/",
                wrap(self.withdraw_view),
                name="decisioning_rulesetversion_withdraw",
            ),
            path(
                "<int:pk>/simulate/",
                wrap(self.simulate_view),
                name="decisioning_rulesetversion_simulate",
            ),
            path(
                "<int:pk>/publish/",
                wrap(self.publish_view),
                name="decisioning_rulesetversion_publish",
            ),
            path(
                "<int:pk>/rollback/",
                wrap(self.rollback_view),
                name="decisioning_rulesetversion_rollback",
            ),
            path("diff/", wrap(self.diff_view), name="decisioning_rulesetversion_diff"),
            *super().get_urls(),
        ]

    # ---- extra context for the change page ----

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        version = get_object_or_404(
            RuleSetVersion.objects.select_related("rule_set__product"), pk=object_id
        )
        simulation = rule_selectors.latest_simulation(version=version)
        others = list(version.rule_set.versions.exclude(pk=version.pk).values_list("pk", "label"))
        context = {
            "version": version,
            "can_edit": request.user.has_perm(EDIT),
            "can_publish": request.user.has_perm(PUBLISH),
            "findings": version.check_findings,
            "test_report": version.test_report,
            "simulation": simulation,
            "simulation_url": reverse(
                "admin:decisioning_rulesetsimulation_change", args=[simulation.pk]
            )
            if simulation
            else "",
            "fields_help": fields_as_rows(),
            "other_versions": others,
            "compare_default": version.based_on_id,
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra_context=context)

    # ---- actions (POST only) ----

    def _version(self, request: HttpRequest, pk: int) -> RuleSetVersion:
        if not _can_view(request):
            raise PermissionDenied
        return get_object_or_404(RuleSetVersion.objects.select_related("rule_set__product"), pk=pk)

    def _back(self, version: RuleSetVersion) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse("admin:decisioning_rulesetversion_change", args=[version.pk])
        )

    def _post_action(
        self, request: HttpRequest, pk: int, perm: str, action: Any, ok: str
    ) -> HttpResponse:
        version = self._version(request, pk)
        if request.method != "POST":
            return self._back(version)
        if not request.user.has_perm(perm):
            raise PermissionDenied
        try:
            result = action(version)
        except ApplicationError as e:
            _fail(request, e)
            return self._back(version)
        messages.success(request, ok.format(version=version, result=result))
        if isinstance(result, RuleSetVersion):
            return self._back(result)
        return self._back(version)

    def clone_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._post_action(
            request,
            pk,
            EDIT,
            lambda v: services.ruleset_version_clone(version=v, user=request.user),
            "Created draft {result.label} from {version.label}.",
        )

    def run_tests_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._post_action(
            request,
            pk,
            EDIT,
            lambda v: services.ruleset_run_tests(version=v, user=request.user),
            "Tests of {version.label}: {result[passed]} passed, {result[failed]} failed.",
        )

    def check_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        def run(v: RuleSetVersion) -> int:
            with transaction.atomic():
                return len(services.ruleset_check(version=v))

        return self._post_action(
            request, pk, EDIT, run, "Static checks of {version.label}: {result} finding(s)."
        )

    def submit_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._post_action(
            request,
            pk,
            EDIT,
            lambda v: services.ruleset_submit(version=v, user=request.user),
            "{version.label} is submitted for publication.",
        )

    def withdraw_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._post_action(
            request,
            pk,
            EDIT,
            lambda v: services.ruleset_withdraw(version=v, user=request.user),
            "{version.label} is a draft again.",
        )

    def simulate_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = self._version(request, pk)
        if request.method != "POST":
            return self._back(version)
        if not request.user.has_perm(EDIT):
            raise PermissionDenied
        try:
            size = int(request.POST.get("sample_size") or services.DEFAULT_SAMPLE_SIZE)
            simulation = services.simulation_request(
                version=version, user=request.user, sample_size=size
            )
        except ValueError:
            messages.error(request, "Sample size must be a whole number.")
            return self._back(version)
        except ApplicationError as e:
            _fail(request, e)
            return self._back(version)
        return HttpResponseRedirect(
            reverse("admin:decisioning_rulesetsimulation_change", args=[simulation.pk])
        )

    def publish_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = self._version(request, pk)
        if not request.user.has_perm(PUBLISH):
            raise PermissionDenied
        simulation = rule_selectors.latest_simulation(
            version=version, content_hash=version.content_hash or "-"
        )
        if request.method == "POST":
            shown = RuleSetSimulation.objects.filter(
                pk=request.POST.get("simulation") or 0, version=version
            ).first()
            try:
                services.ruleset_publish(version=version, user=request.user, simulation=shown)
            except ApplicationError as e:
                _fail(request, e)
                return HttpResponseRedirect(request.path)
            messages.success(
                request,
                f"{version.label} is published; {version.rule_set.product.code} decides under it now.",
            )
            return self._back(version)
        current = rule_selectors.published_version(product=version.rule_set.product)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Publish {version.label}",
            "opts": self.model._meta,
            "version": version,
            "current": current,
            "changes": diff_versions(
                rule_selectors.version_spec(current), rule_selectors.version_spec(version)
            )
            if current
            else [],
            "simulation": simulation,
            "results": simulation.results if simulation else {},
            "matrix_rows": _matrix_rows(simulation.results)
            if simulation and simulation.results
            else [],
        }
        return TemplateResponse(request, "admin/decisioning/rulesetversion/publish.html", context)

    def rollback_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = self._version(request, pk)
        if not request.user.has_perm(PUBLISH):
            raise PermissionDenied
        if request.method == "POST":
            try:
                new = services.ruleset_rollback(
                    to_version=version, user=request.user, reason=request.POST.get("reason", "")
                )
            except ApplicationError as e:
                _fail(request, e)
                return HttpResponseRedirect(request.path)
            messages.success(
                request, f"Rolled back: {new.label} (the content of {version.label}) is published."
            )
            return self._back(new)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Roll back to {version.label}",
            "opts": self.model._meta,
            "version": version,
        }
        return TemplateResponse(request, "admin/decisioning/rulesetversion/rollback.html", context)

    def diff_view(self, request: HttpRequest) -> HttpResponse:
        if not _can_view(request):
            raise PermissionDenied
        a = get_object_or_404(
            RuleSetVersion.objects.select_related("rule_set"), pk=request.GET.get("a") or 0
        )
        b = get_object_or_404(
            RuleSetVersion.objects.select_related("rule_set"), pk=request.GET.get("b") or 0
        )
        if a.rule_set_id != b.rule_set_id:
            raise PermissionDenied("Versions of different products.")
        changes = diff_versions(rule_selectors.version_spec(a), rule_selectors.version_spec(b))
        context = {
            **self.admin_site.each_context(request),
            "title": f"{a.label} → {b.label}",
            "opts": self.model._meta,
            "a": a,
            "b": b,
            "changes": [c.as_dict() for c in changes],
        }
        return TemplateResponse(request, "admin/decisioning/rulesetversion/diff.html", context)


def _matrix_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    matrix = results.get("matrix") or {}
    return [
        {
            "before": b,
            "cells": [matrix.get(b, {}).get(a, 0) for a in ("approve", "refer", "decline")],
        }
        for b in ("approve", "refer", "decline")
    ]


@admin.register(RuleDefinition)
class RuleDefinitionAdmin(SimpleHistoryAdmin):
    """Read-only list of every rule of every version, with each rule's change history."""

    list_display = ("key", "version", "name", "action", "reason_code", "enabled")
    list_filter = ("version__rule_set", "action", "enabled")
    search_fields = ("key", "name", "condition")
    list_select_related = ("version",)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _can_view(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # rules are edited inline on their (draft) version

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RuleSetSimulation)
class RuleSetSimulationAdmin(admin.ModelAdmin):
    list_display = ("pk", "version", "baseline_label", "status", "done", "total", "created_at")
    list_filter = ("status",)
    list_select_related = ("version",)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _can_view(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        if not _can_view(request):
            raise PermissionDenied
        simulation = get_object_or_404(
            RuleSetSimulation.objects.select_related("version__rule_set"), pk=object_id
        )
        results = simulation.results or {}
        context = {
            **self.admin_site.each_context(request),
            "title": f"Impact of {simulation.version.label} vs {simulation.baseline_label}",
            "opts": self.model._meta,
            "simulation": simulation,
            "running": simulation.status
            in (RuleSetSimulation.Status.QUEUED, RuleSetSimulation.Status.RUNNING),
            "percent": round(100 * (1.0 if simulation.status == "done" else simulation.progress)),
            "results": results,
            "matrix_rows": _matrix_rows(results) if results else [],
            "results_json": json.dumps(results, indent=2)[:20000],
            "version_url": reverse(
                "admin:decisioning_rulesetversion_change", args=[simulation.version_id]
            ),
        }
        return TemplateResponse(request, "admin/decisioning/rulesetsimulation/detail.html", context)
