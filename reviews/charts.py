"""Server-side SVG charts: no JavaScript, no external assets, readable by screen readers (each
chart has a <title> and a text table next to it in the page)."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

INK, MUTED, GRID = "#1b1f24", "#57606a", "#d0d7de"
RISK_UP, RISK_DOWN, BAR = "#cf222e", "#1a7f37", "#0b5cad"


def _svg(width: int, height: int, title: str, body: list[str]) -> SafeString:
    return mark_safe(  # noqa: S308 — every interpolated text below is escaped
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def contributions_chart(
    contributions: Sequence[Sequence[object]], *, top: int = 8, title: str = "Top factors"
) -> SafeString | None:
    """Diverging bars: right (red) pushes the probability of default up, left (green) down."""
    items: list[tuple[str, float]] = []
    for item in contributions or []:
        try:
            name, value = str(item[0]), float(item[1])  # type: ignore[arg-type]
        except (TypeError, ValueError, IndexError):
            continue
        if name.lower() in ("bias", "intercept"):
            continue
        items.append((name, value))
    items = sorted(items, key=lambda kv: abs(kv[1]), reverse=True)[:top]
    if not items:
        return None
    label_w, bar_w, row_h, pad = 210, 300, 22, 6
    width, height = label_w + bar_w + 70, row_h * len(items) + 2 * pad + 16
    biggest = max(abs(v) for _n, v in items) or 1.0
    mid = label_w + bar_w / 2
    body = [f'<line x1="{mid}" y1="{pad}" x2="{mid}" y2="{height - 16}" stroke="{GRID}"/>']
    for i, (name, value) in enumerate(items):
        y = pad + i * row_h
        length = abs(value) / biggest * (bar_w / 2 - 4)
        x = mid if value >= 0 else mid - length
        colour = RISK_UP if value >= 0 else RISK_DOWN
        body.append(
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" font-size="12" fill="{INK}">'
            f"{escape(name.replace('_', ' '))}</text>"
            f'<rect x="{x:.1f}" y="{y + 4}" width="{max(length, 1):.1f}" height="{row_h - 8}" fill="{colour}">'
            f"<title>{escape(name)}: {value:+.3f}</title></rect>"
            f'<text x="{label_w + bar_w + 6}" y="{y + 15}" font-size="12" fill="{MUTED}">{value:+.3f}</text>'
        )
    body.append(
        f'<text x="{mid - 6}" y="{height - 3}" text-anchor="end" font-size="11" fill="{RISK_DOWN}">← lowers risk</text>'
        f'<text x="{mid + 6}" y="{height - 3}" font-size="11" fill="{RISK_UP}">raises risk →</text>'
    )
    return _svg(width, height, title, body)


def bar_chart(
    items: Sequence[tuple[str, float, str]],
    *,
    title: str,
    maximum: float | None = None,
    colour: str = BAR,
) -> SafeString | None:
    """Horizontal bars: (label, value, value shown as text)."""
    if not items:
        return None
    label_w, bar_w, row_h, pad = 150, 200, 22, 4
    width, height = label_w + bar_w + 90, row_h * len(items) + 2 * pad
    top = maximum if maximum else max((v for _l, v, _t in items), default=0) or 1.0
    body = []
    for i, (label, value, text) in enumerate(items):
        y = pad + i * row_h
        length = max(0.0, min(1.0, value / top)) * bar_w
        body.append(
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" font-size="12" fill="{INK}">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{bar_w}" height="{row_h - 8}" fill="#eef1f4"/>'
            f'<rect x="{label_w}" y="{y + 4}" width="{length:.1f}" height="{row_h - 8}" fill="{colour}"/>'
            f'<text x="{label_w + bar_w + 6}" y="{y + 15}" font-size="12" fill="{MUTED}">{escape(text)}</text>'
        )
    return _svg(width, height, title, body)
