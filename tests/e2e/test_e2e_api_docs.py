"""The API documentation renders in a browser with no internet: Swagger UI and its assets are served
by Verdict itself (drf-spectacular-sidecar), never from a CDN."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.support import screenshot

pytestmark = pytest.mark.e2e


def test_it_renders_swagger_ui_offline(page: Any, offline: Any) -> None:
    page.goto("/api/docs/")
    page.locator(".opblock").first.wait_for()

    decide = page.locator(".opblock-post", has=page.locator('[data-path="/api/v1/decisions"]'))
    expect(decide).to_have_count(1)
    expect(decide.locator(".opblock-summary-method")).to_have_text("POST")
    expect(
        page.locator(".opblock-get", has=page.locator('[data-path="/api/v1/decisions"]'))
    ).to_have_count(1)
    expect(page.locator(".info .title")).to_contain_text("Verdict decisioning API")

    screenshot(page, "api-docs")
    assert offline.blocked == []
    assert offline.page_errors == []
