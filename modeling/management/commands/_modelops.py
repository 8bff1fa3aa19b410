"""Shared parsing of the champion/challenger commands: the product, the acting user, the clock."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser

from decisioning.models import Product


def add_common(parser: CommandParser, *, needs_user: bool = True) -> None:
    parser.add_argument("--product", required=True, help="Product code, e.g. personal-loan.")
    if needs_user:
        parser.add_argument(
            "--by",
            required=True,
            help="Username of the risk manager acting (recorded in the audit trail).",
        )
    parser.add_argument("--now", help="ISO timestamp to act as of (replays, demos); default: now.")


def product(code: str) -> Product:
    found = Product.objects.filter(code=code).first()
    if found is None:
        raise CommandError(f"No product {code!r}.")
    return found


def manager(username: str) -> Any:
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None or not user.has_perm("modeling.promote_model"):
        raise CommandError(f"{username!r} is not an active risk manager.")
    return user


def when(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise CommandError("--now needs a timezone, e.g. 2027-01-15T09:00:00+00:00.")
    return parsed
