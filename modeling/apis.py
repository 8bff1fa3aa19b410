"""The shadow report as JSON, for staff signed in with their session (risk managers, analysts,
auditors): model governance is not part of the integration API, whose clients are lenders'
systems, so it is neither exposed to API tokens nor in the integration OpenAPI schema."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import NotFound
from decisioning.models import Product
from modeling import selectors


class CanViewModels(BasePermission):
    """To anyone who may not see models the endpoint does not exist (404, as for the pages)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if (
            user is None
            or not getattr(user, "is_authenticated", False)
            or not user.has_perm("modeling.view_models")
        ):
            raise NotFound()
        return True


class ShadowReportApi(APIView):
    authentication_classes = [SessionAuthentication]
    permission_classes = [CanViewModels]
    throttle_classes: list[Any] = []

    @extend_schema(exclude=True)
    def get(self, request: Request, product_code: str, version: str) -> Response:
        product = Product.objects.filter(code=product_code).first()
        if product is None:
            raise NotFound("No such product.")
        return Response(selectors.shadow_report(product=product, version=version).as_dict())
