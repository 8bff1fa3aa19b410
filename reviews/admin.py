from django.contrib import admin

from decisioning.admin import ReadOnlyAdmin
from reviews.models import ReviewCase


@admin.register(ReviewCase)
class ReviewCaseAdmin(ReadOnlyAdmin):
    list_display = ("id", "decision", "status", "assignee", "due_at", "final_outcome")
    list_filter = ("status",)
