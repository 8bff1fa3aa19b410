"""Browser tests: Playwright for Python driving Debian's chromium against pytest-django's live server.

Every request the browser makes to a host other than the live server is refused and recorded, and a
test that made one fails: pages must work on a machine with no internet (all assets served locally).
Playwright never downloads a browser here (`playwright install` is not used): the tests run
/usr/bin/chromium (`apt-get install chromium`) and skip, saying why, when it is absent.

Create a test's data in fixtures listed before `page` where you can. While Playwright's sync API
is open it marks an asyncio loop as running in this thread, and Django then keeps this thread's
database connections apart (asgiref's per-async-context storage) and refuses ORM calls unless
DJANGO_ALLOW_ASYNC_UNSAFE is set. `page` sets it for its own lifetime only, so fixtures and
assertions may use the ORM while the browser is open (one thread drives both, so it is safe), and
closes those separate connections before Playwright, so none is left open when the database is
flushed or dropped. `page` starts after the test database is set up and ends before its flush.
Do not set DJANGO_ALLOW_ASYNC_UNSAFE at import time: that disables the check for the whole run.

The live server needs transactional tests, whose teardown empties every table: the role groups
that migration decisioning/0002_roles created are gone for the next such test, so `_roles` puts
them back with that migration's own code.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.support import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS


def _unavailable() -> str | None:
    # Playwright itself is a pinned requirement: the test modules import it.
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Skip before any fixture runs, so a machine without a browser pays nothing for these tests.
    reason = _unavailable()
    if reason is None:
        return
    for item in items:
        if item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.skip(reason=f"browser test: {reason}"))


@pytest.fixture(scope="session")
def _roles_migration_state(django_db_setup: None, django_db_blocker: Any) -> Any:
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    with django_db_blocker.unblock():
        loader = MigrationLoader(connection)
        return loader.project_state(("decisioning", "0002_roles")).apps


@pytest.fixture(autouse=True)
def _roles(transactional_db: None, _roles_migration_state: Any) -> None:
    # Idempotent: get_or_create for permissions, groups and their grants.
    migration = importlib.import_module("decisioning.migrations.0002_roles")
    migration.create_roles(_roles_migration_state, None)


@dataclass
class Offline:
    """Lets the browser reach the live server only; records what else it tried to reach."""

    origin: str
    blocked: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def handle(self, route: Any) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" == self.origin or parts.scheme in ("data", "blob"):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")


@pytest.fixture
def offline(live_server: Any) -> Offline:
    return Offline(origin=live_server.url.rstrip("/"))


@pytest.fixture
def page(live_server: Any, offline: Offline) -> Iterator[Any]:
    """A page in a fresh chromium (~0.5 s to start) whose network ends at the live server."""
    from django.db import connections
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as mp, sync_playwright() as pw:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="en-GB"
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.route("**/*", offline.handle)
        page = context.new_page()
        page.on("pageerror", lambda error: offline.page_errors.append(str(error)))
        try:
            yield page
        finally:
            context.close()
            browser.close()
            # Only the connections of this async context: the test's own are flushed afterwards.
            connections.close_all()
    assert offline.blocked == [], f"the browser tried to leave the machine: {offline.blocked}"
