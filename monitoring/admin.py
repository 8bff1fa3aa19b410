from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from decisioning.admin import ReadOnlyAdmin
from monitoring.models import (
    Alert,
    AlertNotification,
    AlertRule,
    Baseline,
    MetricPoint,
    MonitoringRun,
    NotificationTarget,
)


@admin.register(AlertRule)
class AlertRuleAdmin(SimpleHistoryAdmin):
    list_display = ("name", "metric", "feature", "product", "operator", "threshold", "severity", "min_count",
                    "cooldown_minutes", "is_active")
    list_editable = ("threshold", "severity", "is_active")
    list_filter = ("severity", "is_active", "metric")
    search_fields = ("name", "metric", "feature")


@admin.register(NotificationTarget)
class NotificationTargetAdmin(SimpleHistoryAdmin):
    list_display = ("name", "kind", "address", "min_severity", "is_active")
    list_filter = ("kind", "is_active")


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ("message", "severity", "status", "occurrences", "last_seen_at", "acknowledged_by")
    list_filter = ("status", "severity", "metric")


@admin.register(AlertNotification)
class AlertNotificationAdmin(ReadOnlyAdmin):
    list_display = ("id", "alert", "target", "event", "status", "attempts", "last_status_code", "created_at")
    list_filter = ("status", "event")


@admin.register(MetricPoint)
class MetricPointAdmin(ReadOnlyAdmin):
    list_display = ("product", "model_version", "metric", "feature", "window", "window_end", "value")
    list_filter = ("metric", "window")


@admin.register(MonitoringRun)
class MonitoringRunAdmin(ReadOnlyAdmin):
    list_display = ("product", "window", "window_start", "window_end", "status", "decisions", "points", "alerts_opened")
    list_filter = ("status", "window")


@admin.register(Baseline)
class BaselineAdmin(ReadOnlyAdmin):
    list_display = ("product", "model_version", "source", "fetched_at")
