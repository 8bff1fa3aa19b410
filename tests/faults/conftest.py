"""Fixtures of the fault-injection tests: data the real server and worker processes can see,
and the pieces each test breaks (tests/faults/support.py).

The subprocesses read committed rows, so these tests cannot run inside a rolled-back test
transaction. Instead the few rows they share (a product, an integration client and its token, an
underwriter) are committed once for the whole run by `world`, every test uses its own keys and
references and checks the whole-database invariants (no application without its decision, no
decision without its audit event), and the database is emptied once at the end. pytest-django runs
tests that use no `db` fixture after all the others, so nothing else sees these rows. Every
process a test starts is stopped by that test's fixtures, before the tables are emptied.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection

from decisioning import roles
from decisioning.models import IntegrationClient, Product
from reviews import services as review_services
from reviews.models import ReviewCase
from tests.conftest import PRODUCT_CODE, make_client, make_user
from tests.faults.support import ApiServer, HoldingReceiver, RedisServer, TcpProxy, write_scorer
from tests.reviews.conftest import make_decision

RATIONALE = "Income verified from three months of payslips; affordable."

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="PostgreSQL fault: this run is on SQLite (CI runs the suite on PostgreSQL too)",
)


@dataclass(frozen=True)
class World:
    product: Product
    client: IntegrationClient
    token: str
    underwriter: User


@pytest.fixture(scope="session")
def _test_database(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """pytest-django creates the test database only when a collected test asks for `db`; when
    these tests run alone, none does, so create it here (and drop it afterwards)."""
    from django.test.utils import setup_databases, teardown_databases

    if connection.settings_dict["NAME"] == connection.creation._get_test_db_name():
        yield
        return
    with django_db_blocker.unblock():
        config = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    try:
        yield
    finally:
        with django_db_blocker.unblock():
            teardown_databases(config, verbosity=0)


@pytest.fixture(scope="session")
def world(_test_database: None, django_db_blocker: Any) -> Iterator[World]:
    with django_db_blocker.unblock():
        product = Product.objects.create(code=PRODUCT_CODE, name="Personal loan")
        client, token = make_client("origination")
        underwriter = make_user("uma-faults", roles.UNDERWRITER)
    try:
        yield World(product=product, client=client, token=token, underwriter=underwriter)
    finally:
        with django_db_blocker.unblock():
            # As a transactional test's teardown does (roles come back through post_migrate).
            call_command("flush", verbosity=0, interactive=False)


@pytest.fixture(autouse=True)
def _orm(world: World, django_db_blocker: Any) -> Iterator[None]:
    """The test itself reads and writes the committed data (autocommit), as its processes do."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture(scope="session")
def scorer_file(trained_scorer: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_scorer(trained_scorer, tmp_path_factory.mktemp("faults") / "champion.pickle")


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def pg_proxy() -> Iterator[TcpProxy]:
    settings = connection.settings_dict
    proxy = TcpProxy(
        (settings.get("HOST") or "127.0.0.1", int(settings.get("PORT") or 5432))
    ).start()
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


@pytest.fixture
def receiver() -> Iterator[HoldingReceiver]:
    r = HoldingReceiver().start()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def referred(world: World, receiver: HoldingReceiver) -> Iterator[dict[str, Any]]:
    """The integration client's webhook points at this test's receiver (and nowhere afterwards)."""
    client = world.client
    client.webhook_url, client.webhook_secret = receiver.url, "whsec-faults-0123456789"
    client.save()
    try:
        yield {"client": client, "product": world.product, "underwriter": world.underwriter}
    finally:
        client.webhook_url = ""
        client.save()


def decide_case(data: dict[str, Any], *, reference: str) -> ReviewCase:
    """A referred decision, claimed and approved by an underwriter: the webhook is queued after commit."""
    decision = make_decision(client=data["client"], product=data["product"], reference=reference)
    case = decision.review_case
    user = data["underwriter"]
    review_services.case_claim(
        actor=user, case_id=case.pk, expected_version=ReviewCase.objects.get(pk=case.pk).version
    )
    review_services.case_decide(
        actor=user,
        case_id=case.pk,
        expected_version=ReviewCase.objects.get(pk=case.pk).version,
        outcome="approve",
        rationale=RATIONALE,
    )
    return case
