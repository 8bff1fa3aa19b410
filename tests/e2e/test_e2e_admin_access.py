"""The Django admin is for staff roles: an underwriter who opens it is sent to the admin's login
and sees nothing of the site administration."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from tests.e2e.support import screenshot, sign_in

pytestmark = pytest.mark.e2e


def test_it_keeps_an_underwriter_out_of_the_admin(
    underwriter: User, page: Any, live_server: Any
) -> None:
    sign_in(page, "uma", "pw-uma")
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin")
    ).to_have_count(0)

    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/$"))
    expect(page.locator("body")).to_contain_text("not authorized to access this page")
    expect(page.get_by_text("Site administration")).to_have_count(0)
    expect(page.locator("#content-main .module")).to_have_count(0)  # the app list
    screenshot(page, "admin-refused")
