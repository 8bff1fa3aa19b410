"""The export API for auditors (staff users, signed in with their session)."""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from audit.exports import ExportFilter, export_filename, export_zip_stream
from audit.services import Actor
from config.errors import NotFound


class CanExport(BasePermission):
    """Auditors only; to everyone else the endpoint does not exist (404, as for the pages)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if (
            user is None
            or not getattr(user, "is_authenticated", False)
            or not user.has_perm("audit.export")
        ):
            raise NotFound()
        return True


class ExportCreateApi(APIView):
    authentication_classes = [SessionAuthentication]
    permission_classes = [CanExport]
    parser_classes = [JSONParser, FormParser, MultiPartParser]
    throttle_classes: list[Any] = []

    class InputSerializer(serializers.Serializer):
        date_from = serializers.DateTimeField(required=False, allow_null=True, default=None)
        date_to = serializers.DateTimeField(required=False, allow_null=True, default=None)
        product = serializers.SlugField(required=False, allow_blank=True, default="")
        decision_ids = serializers.ListField(
            child=serializers.UUIDField(), required=False, default=list, max_length=100_000
        )
        personal_data = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        exclude=True,  # staff-only; the integration API's schema documents token clients
        request=InputSerializer,
        responses={
            200: OpenApiResponse(
                description="application/zip: decisions.jsonl, decisions.csv, manifest.json"
            )
        },
    )
    def post(self, request: Request) -> StreamingHttpResponse:
        data = request.data
        if hasattr(data, "getlist"):  # a form: ids one per line, checkbox for personal data
            data = {
                "date_from": data.get("date_from") or None,
                "date_to": data.get("date_to") or None,
                "product": data.get("product", ""),
                "decision_ids": [i for i in data.get("decision_ids", "").split() if i],
                "personal_data": data.get("personal_data") in ("on", "true", "1"),
            }
        s = self.InputSerializer(data=data)
        s.is_valid(raise_exception=True)
        v = s.validated_data
        f = ExportFilter(
            date_from=v["date_from"],
            date_to=v["date_to"],
            product=v["product"] or None,
            decision_ids=tuple(str(i) for i in v["decision_ids"]),
            personal_data=v["personal_data"],
        )
        response = StreamingHttpResponse(
            export_zip_stream(f=f, actor=Actor.for_user(request.user)),
            content_type="application/zip",
        )
        response["Content-Disposition"] = f'attachment; filename="{export_filename()}"'
        return response
