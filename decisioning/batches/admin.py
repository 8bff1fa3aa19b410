"""Batches in the admin: start one (a form), watch it (a page with a self-refreshing progress bar),
download its results. Analysts and managers start batches; auditors may look."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from audit.services import Actor
from config.errors import ApplicationError
from decisioning.batches import selectors as batch_selectors
from decisioning.batches import services as batch_services
from decisioning.models import Batch, Product


def _can_start(request: HttpRequest) -> bool:
    return request.user.is_active and request.user.is_staff and request.user.has_perm("decisioning.edit_policy")


def _can_view(request: HttpRequest) -> bool:
    return _can_start(request) or (
        request.user.is_active and request.user.is_staff and request.user.has_perm("audit.view_audit")
    )


class BatchStartForm(forms.Form):
    product = forms.ModelChoiceField(queryset=Product.objects.filter(is_active=True))
    source = forms.ChoiceField(choices=Batch.Source.choices)
    date_from = forms.DateTimeField(required=False, help_text="Stored: decided at or after.")
    date_to = forms.DateTimeField(required=False, help_text="Stored: decided before (default now).")
    count = forms.IntegerField(required=False, min_value=1, max_value=batch_services.MAX_ITEMS,
                               help_text="Generated: how many applications.")
    seed = forms.IntegerField(initial=1, min_value=0)
    file = forms.FileField(required=False, help_text="Upload: CSV with the API's field names.")
    ruleset_version = forms.CharField(required=False, help_text="What-if: a version label; blank for the live policy.")
    model_version = forms.CharField(required=False, help_text="What-if: a model version; blank for the champion.")
    chunk_size = forms.IntegerField(initial=5000, min_value=100, max_value=50_000)


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ("pk", "product", "source", "status", "percent", "total", "errors", "rate", "ruleset_version", "model_version", "created_at")
    list_filter = ("status", "source", "product")
    list_select_related = ("product",)

    @admin.display(description="progress")
    def percent(self, obj: Batch) -> str:
        return f"{100 * obj.progress:.0f}%"

    @admin.display(description="apps/s")
    def rate(self, obj: Batch) -> str:
        return f"{obj.throughput:,.0f}" if obj.throughput else ""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _can_view(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _can_view(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _can_start(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        return [
            path("<int:batch_id>/results.csv", self.admin_site.admin_view(self.results_view),
                 name="decisioning_batch_results"),
            *super().get_urls(),
        ]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        if not _can_start(request):
            raise PermissionDenied
        form = BatchStartForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            try:
                batch = batch_services.batch_create(
                    product=d["product"], source=d["source"], actor=Actor.for_user(request.user),
                    user=request.user, date_from=d["date_from"], date_to=d["date_to"],
                    generate_count=d["count"], seed=d["seed"] or 0, upload=d["file"],
                    ruleset_version=d["ruleset_version"], model_version=d["model_version"],
                    chunk_size=d["chunk_size"],
                )
            except ApplicationError as e:
                for field, errors in e.errors.items():
                    form.add_error(field if field in form.fields else None, errors)
                if not e.errors:
                    form.add_error(None, e.message)
            else:
                messages.success(request, f"Batch {batch.pk} queued.")
                return HttpResponseRedirect(reverse("admin:decisioning_batch_change", args=[batch.pk]))
        context = {**self.admin_site.each_context(request), "title": "Start a batch", "opts": self.model._meta, "form": form}
        return TemplateResponse(request, "batches/start.html", context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        if not _can_view(request):
            raise PermissionDenied
        batch = get_object_or_404(Batch.objects.select_related("product", "requested_by"), pk=object_id)
        summary = batch.summary or {}
        context = {
            **self.admin_site.each_context(request),
            "title": f"Batch {batch.pk}",
            "opts": self.model._meta,
            "batch": batch,
            "running": batch.status in (Batch.Status.QUEUED, Batch.Status.RUNNING),
            "percent": round(100 * batch.progress),
            "summary": summary,
            "outcome_rows": [(o, summary.get("outcomes", {}).get(o, 0), summary.get("outcome_rates", {}).get(o, 0.0))
                             for o in ("approve", "refer", "decline")] if summary else [],
            "flip_rows": [(b, [row.get(a, 0) for a in ("approve", "refer", "decline")])
                          for b, row in summary.get("flip_matrix", {}).items()] if summary.get("compared") else [],
            "results_url": reverse("admin:decisioning_batch_results", args=[batch.pk]),
        }
        return TemplateResponse(request, "batches/detail.html", context)

    def results_view(self, request: HttpRequest, batch_id: int) -> HttpResponse:
        if not _can_view(request):
            raise PermissionDenied
        batch = get_object_or_404(Batch, pk=batch_id, status=Batch.Status.DONE)
        response = StreamingHttpResponse(batch_selectors.results_csv(batch=batch), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="batch-{batch.pk}-results.csv"'
        return response
