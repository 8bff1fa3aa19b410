"""Admin: the per-product promotion gate (risk managers edit it; history keeps every change).
Assignments and shadow scores change only through `modeling.services`, so they are read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from modeling.models import ModelAssignment, PromotionGate


@admin.register(PromotionGate)
class PromotionGateAdmin(SimpleHistoryAdmin):
    list_display = (
        "product",
        "min_shadow_days",
        "min_volume",
        "min_coverage",
        "max_psi",
        "max_approval_rate_change",
        "min_agreement_rate",
        "auc_alpha",
        "min_matured",
    )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("modeling.view_models")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("modeling.view_models")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("modeling.promote_model")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("modeling.promote_model")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ModelAssignment)
class ModelAssignmentAdmin(SimpleHistoryAdmin):
    list_display = (
        "product",
        "model_version",
        "role",
        "started_at",
        "ended_at",
        "end_reason",
        "started_by",
    )
    list_filter = ("product", "role")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("modeling.view_models")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("modeling.view_models")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
