"""The batch API (`/api/v1/batches`): start a batch, follow it, download its results.

One APIView per operation, nested Input/Output serializers, the one error shape. An integration
client's batch over stored applications covers that client's own decisions only, and another
client's batch is "not found".
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from config.errors import ApplicationError, Conflict
from decisioning.apis import AUTH_ERRORS, StrictSerializer, _client, _error
from decisioning.batches import selectors as batch_selectors
from decisioning.batches import services as batch_services
from decisioning.models import Batch, Product
from decisioning.parsers import BoundedJSONParser

BATCH_NOT_FOUND = {404: _error("Missing, or another client's.", "not_found", "Batch not found.")}

EXAMPLE_CREATE = {"product": "personal-loan", "source": "generated", "count": 100000, "seed": 7}
EXAMPLE_WHAT_IF = {
    "product": "personal-loan",
    "source": "stored",
    "date_from": "2026-11-01T00:00:00Z",
    "date_to": "2026-12-01T00:00:00Z",
    "ruleset_version": "personal-loan-v3",
    "model_version": "4",
}
EXAMPLE_BATCH = {
    "id": 42,
    "product": "personal-loan",
    "source": "stored",
    "status": "running",
    "selection": {"date_from": "2026-11-01T00:00:00+00:00", "date_to": "2026-12-01T00:00:00+00:00", "count": None, "seed": 1},
    "what_if": True,
    "ruleset_version": "personal-loan-v3",
    "model": {"name": "verdict-personal-loan", "version": "4"},
    "total": 120000,
    "done": 45000,
    "errors": 0,
    "progress": 0.375,
    "chunks": {"total": 24, "done": 9},
    "throughput": None,
    "summary": {},
    "error": "",
    "error_samples": [],
    "created_at": "2026-12-04T10:15:02.120000+00:00",
    "started_at": "2026-12-04T10:15:02.900000+00:00",
    "finished_at": None,
    "results_url": "/api/v1/batches/42/results",
}
EXAMPLE_CSV = (
    "item,reference,application_id,outcome,pd,pd_lower,pd_upper,approved_amount,reasons,"
    "original_outcome,original_pd,flipped,error\n"
    "0,APP-000123,5b0d3f0e-6f7c-4a53-9a55-0d0f9a3c2e11,refer,0.140000,0.120000,0.160000,,PD_REFER_BAND,"
    "approve,0.031200,true,\n"
)


class BatchOut(serializers.Serializer):
    class BatchSelectionOut(serializers.Serializer):
        date_from = serializers.DateTimeField(allow_null=True)
        date_to = serializers.DateTimeField(allow_null=True)
        count = serializers.IntegerField(allow_null=True)
        seed = serializers.IntegerField()

    class BatchModelOut(serializers.Serializer):
        name = serializers.CharField()
        version = serializers.CharField()

    class BatchChunksOut(serializers.Serializer):
        total = serializers.IntegerField()
        done = serializers.IntegerField()

    id = serializers.IntegerField()
    product = serializers.CharField()
    source = serializers.ChoiceField(choices=Batch.Source.values)
    status = serializers.ChoiceField(choices=Batch.Status.values)
    selection = BatchSelectionOut()
    what_if = serializers.BooleanField(help_text="A chosen rule-set and/or model version instead of the live ones.")
    ruleset_version = serializers.CharField(help_text="Frozen when the batch starts (blank while queued).")
    model = BatchModelOut(allow_null=True)
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    errors = serializers.IntegerField(help_text="Items that could not be decided (see error_samples).")
    progress = serializers.FloatField(help_text="0 to 1.")
    chunks = BatchChunksOut()
    throughput = serializers.FloatField(allow_null=True, help_text="Applications per second, start to finish.")
    summary = serializers.DictField(help_text="Outcome distribution, flips against the original decisions, score shift (when done).")
    error = serializers.CharField()
    error_samples = serializers.ListField(child=serializers.DictField())
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    results_url = serializers.CharField()

    def to_representation(self, b: Batch) -> dict[str, Any]:
        def iso(value: Any) -> Any:
            return value.isoformat() if value is not None else None

        return {
            "id": b.pk,
            "product": b.product.code,
            "source": b.source,
            "status": b.status,
            "selection": {"date_from": iso(b.date_from), "date_to": iso(b.date_to), "count": b.generate_count, "seed": b.seed},
            "what_if": b.is_what_if,
            "ruleset_version": b.ruleset_version or b.requested_ruleset_version,
            "model": {"name": b.model_name, "version": b.model_version} if b.model_version else None,
            "total": b.total,
            "done": b.done,
            "errors": b.errors,
            "progress": round(b.progress, 4),
            "chunks": {"total": b.chunks_total, "done": b.chunks_done},
            "throughput": b.throughput,
            "summary": b.summary,
            "error": b.error,
            "error_samples": b.error_samples,
            "created_at": iso(b.created_at),
            "started_at": iso(b.started_at),
            "finished_at": iso(b.finished_at),
            "results_url": f"/api/v1/batches/{b.pk}/results",
        }


class BatchCreateApi(APIView):
    parser_classes = [BoundedJSONParser, MultiPartParser]

    class BatchCreateIn(StrictSerializer):
        product = serializers.SlugField(max_length=40)
        source = serializers.ChoiceField(choices=Batch.Source.values)
        date_from = serializers.DateTimeField(required=False, help_text="stored: decided at or after (ISO 8601).")
        date_to = serializers.DateTimeField(required=False, help_text="stored: decided before; default now.")
        count = serializers.IntegerField(required=False, min_value=1, max_value=batch_services.MAX_ITEMS, help_text="generated: how many.")
        seed = serializers.IntegerField(required=False, default=1, min_value=0, max_value=2**31 - 1)
        ruleset_version = serializers.CharField(required=False, allow_blank=True, default="", max_length=64, help_text="What-if: a published or retired version label; default the live one.")
        model_version = serializers.CharField(required=False, allow_blank=True, default="", max_length=32, help_text="What-if: a registered model version; default the champion.")
        chunk_size = serializers.IntegerField(required=False, default=5000, min_value=100, max_value=50_000)
        file = serializers.FileField(required=False, help_text="upload (multipart): CSV with the API's field names, one application a line.")

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            source = attrs["source"]
            if source == Batch.Source.GENERATED and "count" not in attrs:
                raise serializers.ValidationError({"count": ["Required for generated batches."]})
            if source == Batch.Source.UPLOAD and "file" not in attrs:
                raise serializers.ValidationError({"file": ["Required for upload batches (multipart/form-data)."]})
            if source != Batch.Source.GENERATED and "count" in attrs:
                raise serializers.ValidationError({"count": ["Only for generated batches."]})
            if source != Batch.Source.STORED and ("date_from" in attrs or "date_to" in attrs):
                raise serializers.ValidationError({"date_from": ["Only for stored batches."]})
            if source != Batch.Source.UPLOAD and "file" in attrs:
                raise serializers.ValidationError({"file": ["Only for upload batches."]})
            return attrs

    @extend_schema(
        operation_id="batches_create",
        summary="Start a batch",
        description=(
            "Rescores a selection — your stored decisions of a product in a date range (`stored`), "
            "an uploaded CSV (`upload`, multipart) or N generated applications (`generated`) — with "
            "the live policy and champion model, or with a chosen `ruleset_version` and/or "
            "`model_version` (what-if). Runs in the background on the batch workers; follow it with "
            "`GET /batches/{id}`. No explanations or counterfactuals are computed for batches."
        ),
        request={"application/json": BatchCreateIn, "multipart/form-data": BatchCreateIn},
        responses={
            202: OpenApiResponse(BatchOut, description="Queued."),
            400: _error("Invalid request.", "invalid", "The batch request is invalid; see `errors`.", {"count": ["Required for generated batches."]}),
            413: _error("Body or file too large.", "payload_too_large", "The uploaded file is too large."),
            415: _error("Neither JSON nor multipart.", "unsupported_media_type", "Send the body as application/json."),
            **AUTH_ERRORS,
        },
        examples=[
            OpenApiExample("Generated", value=EXAMPLE_CREATE, request_only=True),
            OpenApiExample("What-if over stored decisions", value=EXAMPLE_WHAT_IF, request_only=True),
            OpenApiExample("Queued", value={**EXAMPLE_BATCH, "status": "queued", "done": 0, "progress": 0.0}, response_only=True, status_codes=["202"]),
        ],
        tags=["batches"],
    )
    def post(self, request: Request) -> Response:
        if not hasattr(request.data, "keys"):
            raise ApplicationError("The body must be a JSON object.", errors={"non_field_errors": ["Expected a JSON object."]})
        data_in = self.BatchCreateIn(data=request.data)
        data_in.is_valid(raise_exception=True)
        data = data_in.validated_data
        product = Product.objects.filter(code=data["product"], is_active=True).first()
        if product is None:
            raise ApplicationError("Unknown product.", errors={"product": [f"No product with code {data['product']!r}."]})
        upload = data.get("file")
        limit = int(getattr(settings, "BATCH_MAX_UPLOAD_BYTES", 200 * 1024 * 1024))
        if upload is not None and upload.size > limit:
            raise ApplicationError("The uploaded file is too large.", code="payload_too_large",
                                   errors={"file": [f"At most {limit:,} bytes."]}, status_code=413)
        client = _client(request)
        batch = batch_services.batch_create(
            product=product, source=data["source"], actor=Actor.for_client(client), client=client,
            date_from=data.get("date_from"), date_to=data.get("date_to"), generate_count=data.get("count"),
            seed=data["seed"], upload=upload, ruleset_version=data["ruleset_version"],
            model_version=data["model_version"], chunk_size=data["chunk_size"],
        )
        batch.refresh_from_db()
        return Response(BatchOut(batch).data, status=status.HTTP_202_ACCEPTED)


class BatchDetailApi(APIView):
    @extend_schema(
        operation_id="batches_retrieve",
        summary="Follow a batch",
        description="Status, counts, progress and, when done, the summary.",
        responses={200: BatchOut, **BATCH_NOT_FOUND, **AUTH_ERRORS},
        examples=[OpenApiExample("Running", value=EXAMPLE_BATCH, response_only=True)],
        tags=["batches"],
    )
    def get(self, request: Request, batch_id: str) -> Response:
        batch = batch_selectors.batch_get(batch_id=batch_id, client=_client(request))
        return Response(BatchOut(batch).data)


class BatchResultsApi(APIView):
    @extend_schema(
        operation_id="batches_results",
        summary="Download a finished batch's results (CSV, streamed)",
        description=(
            "One line per item: `item, reference, application_id, outcome, pd, pd_lower, pd_upper, "
            "approved_amount, reasons, original_outcome, original_pd, flipped, error`."
        ),
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="CSV.",
                examples=[OpenApiExample("Results", value=EXAMPLE_CSV, media_type="text/csv")],
            ),
            409: _error("Not finished yet.", "not_finished", "The batch has not finished; try again when its status is done."),
            **BATCH_NOT_FOUND,
            **AUTH_ERRORS,
        },
        tags=["batches"],
    )
    def get(self, request: Request, batch_id: str) -> StreamingHttpResponse:
        batch = batch_selectors.batch_get(batch_id=batch_id, client=_client(request))
        if batch.status != Batch.Status.DONE:
            raise Conflict("The batch has not finished; try again when its status is done.", code="not_finished")
        response = StreamingHttpResponse(batch_selectors.results_csv(batch=batch), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="batch-{batch.pk}-results.csv"'
        return response
