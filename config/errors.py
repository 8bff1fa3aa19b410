"""One error vocabulary: services raise `ApplicationError`; the API renders every error the same way.

Shape: `{"code": "<stable code>", "message": "<human text>", "errors": {field: [messages]}}`.
"""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A refusal that the caller can act on. `code` is stable; `message` is for people."""

    status_code = 400

    def __init__(
        self,
        message: str,
        *,
        code: str = "invalid",
        errors: dict[str, list[str]] | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.errors = errors or {}
        if status_code is not None:
            self.status_code = status_code


class NotFound(ApplicationError):
    """Missing or not visible to the caller: the two are indistinguishable on purpose."""

    status_code = 404

    def __init__(self, message: str = "Not found.") -> None:
        super().__init__(message, code="not_found")


class Conflict(ApplicationError):
    status_code = 409


def error_body(code: str, message: str, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "errors": errors or {}}
