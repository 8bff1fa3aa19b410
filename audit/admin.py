from django.contrib import admin

from audit.models import AuditEvent
from decisioning.admin import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "occurred_at", "event_type", "actor_display", "subject_type", "subject_id")
    list_filter = ("event_type", "actor_type")
    search_fields = ("subject_id", "correlation_id", "hash")
    date_hierarchy = "occurred_at"
