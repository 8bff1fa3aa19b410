"""Keeping personal data out of application logs.

`RedactPersonalData` is installed on every logging handler (settings.LOGGING). It rewrites each
record before it is formatted: the message with its arguments, and any traceback text.

What it removes:
- values of personal fields wherever they appear as key/value pairs — dict and dataclass reprs,
  `key=value`, JSON — for names, dates of birth, addresses and postcodes, account numbers,
  sort codes, IBANs, card numbers, e-mail addresses and phone numbers;
- the same kinds of value by shape, even without a key: UK postcodes, calendar dates, sort
  codes, IBANs, 8-digit account numbers and 13-19-digit card numbers, e-mail addresses;
- all SQL parameters and quoted literals of database query logs (`django.db.backends`): a
  column list cannot reliably be matched to parameters, so none are shown.

What it cannot do: recognise a bare name in free text ("declined Grace Patel"). Code must log
ids, not people; the canary tests in tests/audit/test_redaction.py prove the decision paths do.
Timestamps (a date followed by a time) are kept: they are when things happened, not birthdays.
"""

from __future__ import annotations

import logging
import re
import traceback

MASK = "[redacted]"

PERSONAL_KEYS = (
    "first_name",
    "last_name",
    "middle_name",
    "full_name",
    "name",
    "surname",
    "forename",
    "date_of_birth",
    "dob",
    "birth_date",
    "postcode",
    "post_code",
    "address",
    "address_line_1",
    "address_line_2",
    "address_line1",
    "address_line2",
    "street",
    "town",
    "city",
    "account_number",
    "account_no",
    "sort_code",
    "iban",
    "card_number",
    "pan",
    "email",
    "phone",
    "mobile",
    "identity_key",
)
_KEY = "|".join(sorted((re.escape(k) for k in PERSONAL_KEYS), key=len, reverse=True))

# 'first_name': 'Grace' · "first_name": "Grace" · first_name='Grace' · first_name=Grace
_KEYED = re.compile(
    rf"""(?P<key>["']?\b(?:{_KEY})\b["']?\]?\s*[:=]\s*)"""
    r"""(?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|datetime\.date\([^)]*\)|(?![{\[])[^\s,;)}\]]+)""",
    re.IGNORECASE,
)
# A quoted SQL literal (SQLite's debug log inlines the parameters into the statement).
_SQL_LITERAL = re.compile(r"'(?:[^']|'')*'")

_SHAPES = [
    # UK postcode (outward + inward)
    re.compile(r"\b[A-Z]{1,2}[0-9][A-Z0-9]?\s?[0-9][A-Z]{2}\b", re.IGNORECASE),
    # a calendar date not followed by a time: 1985-04-12, 12/04/1985, 12-04-1985, 12.04.1985
    re.compile(r"\b\d{4}-\d{2}-\d{2}\b(?![T ]\d{2}:)"),
    re.compile(r"\b\d{1,2}[/.-]\d{1,2}[/.-]\d{4}\b"),
    re.compile(r"datetime\.date\(\d{4}, \d{1,2}, \d{1,2}\)"),
    # IBAN, sort code, card number, account number
    re.compile(r"\bGB\d{2}\s?[A-Z]{4}(?:\s?\d){14}\b", re.IGNORECASE),
    re.compile(r"\b\d{2}-\d{2}-\d{2}\b"),
    re.compile(r"(?<![\w.])(?:\d[ -]?){12,18}\d(?![\w.])"),
    re.compile(r"(?<![\w.-])\d{8}(?![\w.-])"),
    re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b"),
]


def redact(text: str) -> str:
    text = _KEYED.sub(lambda m: m.group("key") + MASK, text)
    for shape in _SHAPES:
        text = shape.sub(MASK, text)
    return text


class RedactPersonalData(logging.Filter):
    """Never drops a record; rewrites it so that no personal data reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_verdict_redacted", False):
            return True  # several handlers share one record: redact once
        try:
            if (
                record.name.startswith("django.db.backends")
                and isinstance(record.args, tuple)
                and len(record.args) >= 3
            ):
                # "(%.3f) %s; args=%s; alias=%s": keep the timing and the SQL, drop the parameters.
                args = list(record.args)
                args[2] = MASK
                record.args = tuple(args)
            message = record.getMessage()
            if record.name.startswith("django.db.backends"):
                message = _SQL_LITERAL.sub("'?'", message)
        except Exception:  # a malformed record: show its template, redacted
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        if hasattr(record, "sql"):
            record.sql = redact(str(record.sql))
        if hasattr(record, "params"):
            record.params = MASK
        record._verdict_redacted = True
        return True
