"""Fixtures of the fault-injection tests: the test database's data, seen by real server and
worker processes, and the pieces each test breaks (tests/faults/support.py).

The subprocesses read the data these tests commit, so the tests are transactional (the tables
are emptied afterwards) and every process is stopped before that happens.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from decisioning.models import IntegrationClient, Product
from tests.conftest import PRODUCT_CODE, make_client
from tests.faults.support import ApiServer, RedisServer, TcpProxy, write_scorer


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def require_postgres(transactional_db: None) -> None:
    if not is_postgres():
        pytest.skip("PostgreSQL fault: the suite runs on SQLite here (CI runs it on PostgreSQL)")


@pytest.fixture(scope="session")
def scorer_file(trained_scorer: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_scorer(trained_scorer, tmp_path_factory.mktemp("faults") / "champion.pickle")


@pytest.fixture
def seeded(transactional_db: None) -> tuple[IntegrationClient, str]:
    """A product open for applications and an integration client with its raw token."""
    Product.objects.create(code=PRODUCT_CODE, name="Personal loan")
    return make_client("origination")


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def pg_proxy(require_postgres: None) -> Iterator[TcpProxy]:
    settings = connection.settings_dict
    proxy = TcpProxy((settings.get("HOST") or "127.0.0.1", int(settings.get("PORT") or 5432))).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def servers() -> Iterator[list[ApiServer]]:
    """Servers a test starts go in here; all are killed when it ends, whatever happened."""
    started: list[ApiServer] = []
    try:
        yield started
    finally:
        for server in started:
            server.kill()
