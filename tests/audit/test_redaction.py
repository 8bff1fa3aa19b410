"""No personal data in logs: canary values sent through real decisions never reach a handler."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from audit.redaction import MASK, RedactPersonalData, redact
from tests.conftest import application_body

pytestmark = pytest.mark.django_db

CANARY = {
    "first_name": "Zebedee",
    "last_name": "Canarywood",
    "date_of_birth": "1979-08-23",
    "postcode": "ZE2 9QQ",
}


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """The configured console handler, writing into a buffer, every logger at DEBUG."""
    stream = io.StringIO()
    root = logging.getLogger()
    handler = next(
        h for h in root.handlers if any(isinstance(f, RedactPersonalData) for f in h.filters)
    )
    old_stream, old_levels = handler.setStream(stream), {}
    for name in ("", "django", "django.request", "django.db.backends", "decisioning", "audit"):
        logger = logging.getLogger(name)
        old_levels[name] = logger.level
        logger.setLevel(logging.DEBUG)
    connection.force_debug_cursor = True  # log every SQL statement with its parameters
    try:
        yield stream
    finally:
        connection.force_debug_cursor = False
        handler.setStream(old_stream)
        for name, level in old_levels.items():
            logging.getLogger(name).setLevel(level)


def test_every_handler_has_the_filter() -> None:
    handlers = set(logging.getLogger().handlers) | set(logging.getLogger("django").handlers)
    configured = [h for h in handlers if type(h).__module__.startswith("logging")]
    assert configured and all(
        any(isinstance(f, RedactPersonalData) for f in h.filters) for h in configured
    )


def test_canaries_through_real_decisions_never_reach_the_log(
    api: Any, product: Any, log_output: io.StringIO
) -> None:
    ok = api.post("/api/v1/decisions", application_body(**CANARY), format="json")
    bad = api.post(
        "/api/v1/decisions", application_body(**CANARY, term_months="many"), format="json"
    )
    unknown = api.post(
        "/api/v1/decisions", application_body(**CANARY, product="nope"), format="json"
    )
    assert (ok.status_code, bad.status_code, unknown.status_code) == (201, 400, 400)
    logging.getLogger("decisioning").warning("declined %s", {"applicant": CANARY})
    logging.getLogger("decisioning").info("application %r", dict(CANARY, account_number="12345678"))
    try:
        raise ValueError(f"bad applicant {CANARY['first_name']=} born {CANARY['date_of_birth']}")
    except ValueError:
        logging.getLogger("decisioning").exception("failed")
    output = log_output.getvalue()
    assert "INSERT INTO" in output and "Bad Request" in output and MASK in output  # it did log
    for value in (*CANARY.values(), "23/08/1979", "12345678"):
        assert value not in output, value


REDACT = [
    ("{'first_name': 'Grace', 'last_name': 'Patel'}", "Grace"),
    ('{"date_of_birth": "1985-04-12"}', "1985-04-12"),
    ("ApplicationData(first_name='Grace', date_of_birth=datetime.date(1985, 4, 12))", "1985"),
    ("postcode=LS1 4AP", "LS1"),
    ("to SW1A 1AA today", "SW1A"),
    ("account 12345678 sort 12-34-56", "12345678"),
    ("sort code 12-34-56", "12-34-56"),
    ("iban GB29 NWBK 6016 1331 9268 19", "NWBK"),
    ("card 4111 1111 1111 1111", "4111"),
    ("mail grace@example.com", "grace@"),
    ("born 12/04/1985", "1985"),
]


@pytest.mark.parametrize(("text", "secret"), REDACT)
def test_it_redacts(text: str, secret: str) -> None:
    assert secret not in redact(text)


KEEP = [
    "decision 3f2c9a1e-1d2b-4c3d-8e9f-0a1b2c3d4e5f approved",
    "request 0123456789abcdef0123456789abcdef",
    "at 2026-12-04T16:10:00+00:00",
    "took 12.5 ms, 3 rules fired, pd=0.0712",
]


@pytest.mark.parametrize("text", KEEP)
def test_it_keeps_what_is_not_personal(text: str) -> None:
    assert redact(text) == text
