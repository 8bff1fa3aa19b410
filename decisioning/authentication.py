"""API authentication by per-integration token: `Authorization: Token <secret>`."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from decisioning import selectors
from decisioning.models import IntegrationClient


class ClientPrincipal(AnonymousUser):
    """The request.user of an API call: an integration client, never a staff user."""

    def __init__(self, client: IntegrationClient) -> None:
        super().__init__()
        self.client = client

    @property
    def is_authenticated(self) -> bool:  # type: ignore[override]
        return True

    def __str__(self) -> str:
        return f"client:{self.client.name}"


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[ClientPrincipal, IntegrationClient] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() not in (b"token", b"bearer"):
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header; use `Token <secret>`.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError as e:
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.") from e
        if len(raw) > 200:
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        client = selectors.client_for_token(raw=raw)
        if client is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        return ClientPrincipal(client), client

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "decisioning.authentication.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <api token>` — issue one with `manage.py issue_api_token` or in the admin.",
        }
