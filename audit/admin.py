from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse

from audit.exports import ExportFilter, export_filename, export_zip_stream
from audit.models import AuditEvent, VerificationRun
from audit.services import Actor
from decisioning.admin import DecisionAdmin, ReadOnlyAdmin
from decisioning.models import Decision

#: An admin selection becomes an id list; bigger exports go by date range (CLI, API).
MAX_ADMIN_EXPORT = 50_000


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = (
        "seq",
        "position",
        "occurred_at",
        "event_type",
        "actor_display",
        "subject_type",
        "subject_id",
    )
    list_filter = ("event_type", "actor_type")
    search_fields = ("subject_id", "correlation_id", "hash")
    date_hierarchy = "occurred_at"


@admin.register(VerificationRun)
class VerificationRunAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "started_at",
        "requested_by_display",
        "source",
        "status",
        "checked",
        "first_bad_seq",
    )
    list_filter = ("status", "source")


@admin.action(description="Export selected decisions for a regulator (JSONL + CSV + manifest)")
def export_for_regulator(
    modeladmin: Any, request: HttpRequest, queryset: QuerySet[Decision]
) -> HttpResponseBase | None:
    if not request.user.has_perm("audit.export"):
        modeladmin.message_user(request, "Only auditors may export decisions.", messages.ERROR)
        return None
    if queryset.count() > MAX_ADMIN_EXPORT:
        modeladmin.message_user(
            request,
            f"More than {MAX_ADMIN_EXPORT:,} decisions: export by date range with the export API "
            "(Audit page) or `manage.py export_decisions`.",
            messages.WARNING,
        )
        return None
    ids = tuple(str(pk) for pk in queryset.values_list("pk", flat=True).iterator(chunk_size=5000))
    response = StreamingHttpResponse(
        export_zip_stream(f=ExportFilter(decision_ids=ids), actor=Actor.for_user(request.user)),
        content_type="application/zip",
    )
    response["Content-Disposition"] = f'attachment; filename="{export_filename()}"'
    return response


# The decision admin is the decisioning app's; the export action is the audit app's.
DecisionAdmin.actions = [*(DecisionAdmin.actions or []), export_for_regulator]
