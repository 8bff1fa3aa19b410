"""The DRF exception handler: every API error, whatever raised it, in the one JSON shape."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from config.errors import ApplicationError, error_body

logger = logging.getLogger(__name__)


def _flatten(detail: Any) -> dict[str, Any]:
    """DRF's nested ValidationError detail → `{field: [messages]}` with dotted paths."""
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list) and value and all(not isinstance(v, dict | list) for v in value):
            out.setdefault(prefix or "non_field_errors", []).extend(str(v) for v in value)
        elif isinstance(value, list):
            for index, sub in enumerate(value):
                walk(f"{prefix}.{index}" if prefix else str(index), sub)
        else:
            out.setdefault(prefix or "non_field_errors", []).append(str(value))

    walk("", detail)
    return out


_DRF_CODES: dict[type[exceptions.APIException], tuple[str, str]] = {
    exceptions.NotAuthenticated: ("not_authenticated", "Authentication credentials were not provided."),
    exceptions.AuthenticationFailed: ("authentication_failed", "Invalid or revoked API token."),
    exceptions.PermissionDenied: ("permission_denied", "You do not have permission to do this."),
    exceptions.NotFound: ("not_found", "Not found."),
    exceptions.MethodNotAllowed: ("method_not_allowed", "Method not allowed."),
    exceptions.NotAcceptable: ("not_acceptable", "Only application/json responses are available."),
    exceptions.UnsupportedMediaType: (
        "unsupported_media_type",
        "Send the body as application/json.",
    ),
    exceptions.ParseError: ("malformed_json", "The request body is not valid JSON."),
}


def _code_of(exc: exceptions.APIException) -> tuple[str, str] | None:
    from decisioning.parsers import PayloadTooLarge

    if isinstance(exc, PayloadTooLarge):
        return "payload_too_large", str(exc.detail)
    return None


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, exc.errors), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, OperationalError | InterfaceError):
        logger.error("database unavailable: %s", type(exc).__name__)
        response = Response(
            error_body("unavailable", "The service is temporarily unavailable; retry shortly."),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        response["Retry-After"] = "2"
        return response
    if isinstance(exc, DatabaseError):
        logger.exception("database error")
        return Response(
            error_body("unavailable", "The service could not complete the request; retry."),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )

    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(
            "invalid", "The request is invalid; see `errors`.", _flatten(exc.detail)
        )
        return response
    if isinstance(exc, exceptions.Throttled):
        wait = int(exc.wait or 1)
        response.data = error_body("throttled", f"Too many requests; retry in {wait} s.")
        response["Retry-After"] = str(wait)
        return response
    special = _code_of(exc) if isinstance(exc, exceptions.APIException) else None
    if special is not None:
        response.data = error_body(*special)
        return response
    code, message = next(
        ((c, m) for klass, (c, m) in _DRF_CODES.items() if isinstance(exc, klass)),
        ("error", "The request could not be processed."),
    )
    if isinstance(exc, exceptions.APIException) and isinstance(exc.detail, str) and code in (
        "authentication_failed",
        "permission_denied",
        "malformed_json",
        "method_not_allowed",
    ):
        message = str(exc.detail)
    response.data = error_body(code, message)
    return response
