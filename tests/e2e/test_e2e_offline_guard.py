"""The browser tests' network guard itself: a request to another host is refused and recorded,
so "no request left the machine" in the other tests means something."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.e2e


def test_it_refuses_and_records_requests_to_other_hosts(page: Any, offline: Any) -> None:
    # Verdict's pages carry a Content Security Policy (connect-src 'self') that stops such a
    # request inside the browser before the guard sees it; a blank page has none.
    page.goto("about:blank")
    result = page.evaluate(
        "() => fetch('https://cdn.example.com/x.js').then(() => 'fetched', () => 'refused')"
    )
    assert result == "refused"
    assert offline.blocked == ["https://cdn.example.com/x.js"]
    offline.blocked.clear()  # seen and expected: the fixture's own check would fail otherwise


def test_the_content_security_policy_stops_requests_to_other_hosts(page: Any, offline: Any) -> None:
    page.goto("/accounts/login/")
    result = page.evaluate(
        "() => fetch('https://cdn.example.com/x.js').then(() => 'fetched', () => 'refused')"
    )
    assert result == "refused"
    assert offline.blocked == []  # refused by the page's policy: it never reached the network
