from django.contrib import admin

from decisioning.admin import ReadOnlyAdmin
from reviews.models import ReviewAction, ReviewCase, WebhookDelivery


@admin.register(ReviewCase)
class ReviewCaseAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "decision",
        "kind",
        "status",
        "assignee",
        "due_at",
        "final_outcome",
        "is_override",
    )
    list_filter = ("status", "kind", "is_override")


@admin.register(ReviewAction)
class ReviewActionAdmin(ReadOnlyAdmin):
    list_display = ("id", "case", "kind", "outcome", "actor", "created_at")
    list_filter = ("kind",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "case",
        "status",
        "attempts",
        "last_status_code",
        "created_at",
        "delivered_at",
    )
    list_filter = ("status",)
