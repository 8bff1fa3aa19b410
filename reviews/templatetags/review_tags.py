"""Formatting for the review pages (no queries here: templates run none)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template

register = template.Library()


@register.filter
def pct(value: Any, digits: int = 1) -> str:
    """0.0412 → "4.1%"; None → "—"."""
    if value is None or value == "":
        return "—"
    try:
        return f"{float(value) * 100:.{int(digits)}f}%"
    except (TypeError, ValueError):
        return "—"


@register.filter
def duration(minutes: Any) -> str:
    """Minutes as "3 d 4 h", "2 h 5 min", "12 min"."""
    if minutes is None:
        return "—"
    total = int(float(minutes))
    days, rest = divmod(total, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {mins} min"
    return f"{mins} min"


@register.filter
def since(then: dt.datetime | None, now: dt.datetime) -> str:
    if then is None:
        return "—"
    return duration((now - then).total_seconds() / 60)


@register.filter
def until(then: dt.datetime | None, now: dt.datetime) -> str:
    """Time left before `then`, or how long ago it passed ("overdue 12 min")."""
    if then is None:
        return "—"
    delta = (then - now).total_seconds() / 60
    return f"in {duration(delta)}" if delta >= 0 else f"overdue {duration(-delta)}"


@register.filter
def get(mapping: Any, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.filter
def humanise(code: Any) -> str:
    return str(code or "").replace("_", " ").replace(".", " · ")


@register.simple_tag
def bar_width(value: Any, maximum: float = 1.0) -> str:
    try:
        return f"{max(0.0, min(1.0, float(value) / maximum)) * 100:.1f}%"
    except (TypeError, ValueError, ZeroDivisionError):
        return "0%"
