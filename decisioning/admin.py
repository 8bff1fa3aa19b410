from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from simple_history.admin import SimpleHistoryAdmin

from audit.access import ACCESS_FLAGS
from audit.services import Actor
from config.errors import ApplicationError
from decisioning import role_services, roles, selectors, services
from decisioning.models import (
    ApiToken,
    Application,
    Decision,
    IntegrationClient,
    LoanOutcome,
    Product,
)

admin.site.site_header = "Verdict administration"
admin.site.site_title = "Verdict admin"
admin.site.index_title = "Policy, models, integrations and records"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records that are evidence: visible to those allowed, changeable by nobody (not even here)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Product)
class ProductAdmin(SimpleHistoryAdmin):
    list_display = (
        "code",
        "name",
        "min_amount",
        "max_amount",
        "min_term_months",
        "max_term_months",
        "is_active",
    )
    search_fields = ("code", "name")

    def save_model(self, request: HttpRequest, obj: Product, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        selectors.hot_caches_clear()  # this process sees the change at once, others within seconds

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(IntegrationClient)
class IntegrationClientAdmin(SimpleHistoryAdmin):
    list_display = ("name", "is_active", "contact_email", "created_at")
    actions = ["issue_token"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Issue a new API token (shown once)")
    def issue_token(self, request: HttpRequest, queryset: QuerySet[IntegrationClient]) -> None:
        if not request.user.has_perm("decisioning.manage_integrations"):
            self.message_user(request, "Only risk managers may issue tokens.", messages.ERROR)
            return
        for client in queryset:
            _token, raw = services.api_token_issue(
                client=client,
                actor=Actor.for_user(request.user),
                label="admin",
                created_by=request.user,
            )
            self.message_user(
                request,
                f"Token for {client.name} — copy it now, it is not stored: {raw}",
                messages.WARNING,
            )


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ("client", "prefix", "label", "created_at", "created_by", "revoked_at")
    list_filter = ("client",)
    exclude = ("key_hash",)
    actions = ["revoke"]

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        if not request.user.has_perm("decisioning.manage_integrations"):
            self.message_user(request, "Only risk managers may revoke tokens.", messages.ERROR)
            return
        for token in queryset:
            try:
                services.api_token_revoke(token=token, actor=Actor.for_user(request.user))
                self.message_user(request, f"Revoked {token.prefix}…", messages.SUCCESS)
            except ApplicationError as e:
                self.message_user(request, f"{token.prefix}…: {e.message}", messages.WARNING)


@admin.register(Application)
class ApplicationAdmin(ReadOnlyAdmin):
    list_display = (
        "reference",
        "product",
        "client",
        "requested_amount",
        "term_months",
        "submitted_at",
    )
    list_filter = ("product",)
    search_fields = ("reference",)
    date_hierarchy = "submitted_at"


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "product",
        "outcome",
        "pd",
        "ruleset_version",
        "model_version",
        "degraded",
        "created_at",
    )
    list_filter = ("outcome", "product", "degraded")
    search_fields = ("id", "application__reference")
    date_hierarchy = "created_at"
    list_select_related = ("product",)


@admin.register(LoanOutcome)
class LoanOutcomeAdmin(ReadOnlyAdmin):
    list_display = ("decision", "status", "as_of", "reported_at", "reported_by")
    list_filter = ("status",)


# ---- users and their roles ---------------------------------------------------------------------

ROLE_LABELS = {
    roles.UNDERWRITER: "Underwriter",
    roles.SENIOR_UNDERWRITER: "Senior underwriter",
    roles.RISK_ANALYST: "Risk analyst",
    roles.RISK_MANAGER: "Risk manager",
    roles.AUDITOR: "Auditor",
}


class UserRolesForm(UserChangeForm):
    """Django's user form with the raw `groups` widget replaced by the staff roles, so that a
    role change is a call to `role_grant`/`role_revoke` (and an audit event), not a bare m2m write."""

    roles = forms.MultipleChoiceField(
        choices=[(r, ROLE_LABELS[r]) for r in roles.ALL_ROLES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    #: Set per request by `VerdictUserAdmin.get_form`: a disabled field keeps its initial value
    #: whatever is posted, so a forged POST cannot change roles.
    roles_editable = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["roles"]
        if self.instance.pk:
            field.initial = sorted(selectors.user_roles(user=self.instance))
        if not self.roles_editable:
            field.disabled = True
            field.help_text = (
                "Only risk managers and superusers change roles, and nobody their own."
            )


admin.site.unregister(User)


@admin.register(User)
class VerdictUserAdmin(UserAdmin):
    """Users, with roles changed only through the audited services.

    Superusers edit accounts as in Django's admin (less the raw group and permission widgets).
    Risk managers may open any account to change its roles and nothing else: every other field
    is read-only for them and the password page is closed to them.
    """

    form = UserRolesForm
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Roles", {"fields": ("roles",)}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    list_display = ("username", "first_name", "last_name", "role_list", "is_staff", "is_active")
    filter_horizontal = ()

    # An account editor is anyone with Django's own "change user" right (superusers); a role
    # editor has `auth.change_roles` (risk managers). Role editors reach this admin only for roles.

    def _edits_accounts(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj)

    def _changes_roles(self, request: HttpRequest, obj: Any) -> bool:
        return (
            obj is not None
            and obj.pk != request.user.pk
            and request.user.has_perm("auth.change_roles")
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) or request.user.has_perm("auth.change_roles")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or request.user.has_perm(
            "auth.change_roles"
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._edits_accounts(request, obj) or request.user.has_perm("auth.change_roles")

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).prefetch_related("groups")

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not self._edits_accounts(request, obj):
            # Not even the password hash summary for a role editor.
            fieldsets = ((None, {"fields": ("username",)}), *fieldsets[1:])
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and not self._edits_accounts(request, obj):
            return (
                "username",
                "first_name",
                "last_name",
                "email",
                "is_active",
                "is_staff",
                "is_superuser",
                "last_login",
                "date_joined",
            )
        return super().get_readonly_fields(request, obj)

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)
        if obj is not None:
            form.roles_editable = self._changes_roles(request, obj)
        return form

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Account flags (active, staff, superuser) change through `user_access_set`, which
        writes the audit event; everything else saves as in Django's admin."""
        flags = {
            f: form.cleaned_data[f]
            for f in ACCESS_FLAGS
            if change and f in form.changed_data and f in form.cleaned_data
        }
        if flags:
            stored = type(obj).objects.filter(pk=obj.pk).values(*flags).get()
            for flag, value in stored.items():
                setattr(obj, flag, value)  # saved unchanged here; the service changes them
        super().save_model(request, obj, form, change)
        if flags:
            try:
                role_services.user_access_set(user=obj, actor=Actor.for_user(request.user), **flags)
            except ApplicationError as e:
                self.message_user(request, e.message, messages.ERROR)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if "roles" not in form.changed_data:
            return
        user = form.instance
        if not self._changes_roles(request, user):  # the disabled field makes this unreachable
            raise PermissionDenied
        wanted = set(form.cleaned_data["roles"])
        held = selectors.user_roles(user=user)
        actor = Actor.for_user(request.user)
        try:
            for role in sorted(wanted - held):
                role_services.role_grant(user=user, role=role, actor=actor)
            for role in sorted(held - wanted):
                role_services.role_revoke(user=user, role=role, actor=actor)
        except ApplicationError as e:  # e.g. another admin made the same change a moment ago
            self.message_user(request, e.message, messages.WARNING)

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        if not self._edits_accounts(request):
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    @admin.display(description="Roles")
    def role_list(self, obj: User) -> str:
        names = sorted(g.name for g in obj.groups.all() if g.name in roles.ALL_ROLES)
        return ", ".join(ROLE_LABELS[n] for n in names) or "—"


admin.site.unregister(Group)


@admin.register(Group)
class VerdictGroupAdmin(SimpleHistoryAdmin, GroupAdmin):
    """Groups (a staff role is a group): a change of permissions goes through
    `group_permissions_set` and its audit event, never a bare m2m write."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # `permissions` is the form's only many-to-many field, so `form.save_m2m()` is not called.
        group = form.instance
        wanted = list(form.cleaned_data.get("permissions") or [])
        held = set(group.permissions.values_list("pk", flat=True))
        if {p.pk for p in wanted} != held:
            try:
                role_services.group_permissions_set(
                    group=group, permissions=wanted, actor=Actor.for_user(request.user)
                )
            except ApplicationError as e:
                self.message_user(request, e.message, messages.ERROR)
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


# ---- rule sets (docs/rules.md) -------------------------------------------------------------------

from decisioning.batches import admin as _batches_admin  # noqa: E402,F401  (registers the batch admin)
from decisioning.rules import admin as _rules_admin  # noqa: E402,F401  (registers the rule-set admin)
