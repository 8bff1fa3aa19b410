from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from audit.services import Actor
from config.errors import ApplicationError
from decisioning import selectors, services
from decisioning.models import ApiToken, Application, Decision, IntegrationClient, LoanOutcome, Product


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
    list_display = ("code", "name", "min_amount", "max_amount", "min_term_months", "max_term_months", "is_active")
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
                client=client, actor=Actor.for_user(request.user), label="admin", created_by=request.user
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
    list_display = ("reference", "product", "client", "requested_amount", "term_months", "submitted_at")
    list_filter = ("product",)
    search_fields = ("reference",)
    date_hierarchy = "submitted_at"


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ("id", "product", "outcome", "pd", "ruleset_version", "model_version", "degraded", "created_at")
    list_filter = ("outcome", "product", "degraded")
    search_fields = ("id", "application__reference")
    date_hierarchy = "created_at"
    list_select_related = ("product",)


@admin.register(LoanOutcome)
class LoanOutcomeAdmin(ReadOnlyAdmin):
    list_display = ("decision", "status", "as_of", "reported_at", "reported_by")
    list_filter = ("status",)


# ---- rule sets (docs/rules.md) -------------------------------------------------------------------

from decisioning.rules import admin as _rules_admin  # noqa: E402,F401  (registers the rule-set admin)
from decisioning.batches import admin as _batches_admin  # noqa: E402,F401  (registers the batch admin)
