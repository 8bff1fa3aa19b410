"""Server-side SVG charts: no JavaScript, no network, printable, readable by screen readers.

Each function returns a complete `<svg>` string (mark it safe in the template). Values are
escaped; the chart carries a `<title>` and a `<desc>` so the numbers are available as text.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = ("#0b5cad", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#57606a")


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def line_chart(
    series: Sequence[tuple[str, Sequence[tuple[float, float]]]],
    *,
    title: str,
    x_label: str = "",
    y_label: str = "",
    width: int = 420,
    height: int = 300,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    diagonal: bool = False,
) -> str:
    """Lines (with points) for named series of (x, y); `diagonal` draws y = x for reference."""
    pad_l, pad_r, pad_t, pad_b = 52, 12, 28, 40
    xs = [x for _, pts in series for x, _ in pts] or [0.0, 1.0]
    ys = [y for _, pts in series for _, y in pts] or [0.0, 1.0]
    x0, x1 = x_range or (min(xs), max(xs))
    y0, y1 = y_range or (min(0.0, min(ys)), max(ys))
    x1 = x1 if x1 > x0 else x0 + 1
    y1 = y1 if y1 > y0 else y0 + 1
    w, h = width - pad_l - pad_r, height - pad_t - pad_b

    def px(x: float) -> float:
        return pad_l + (x - x0) / (x1 - x0) * w

    def py(y: float) -> float:
        return pad_t + h - (y - y0) / (y1 - y0) * h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" class="chart"><title>{escape(title)}</title>',
        "<desc>"
        + escape("; ".join(f"{n}: " + ", ".join(f"({_fmt(x)}, {_fmt(y)})" for x, y in pts) for n, pts in series))
        + "</desc>",
        f'<text x="{pad_l}" y="16" font-size="13" font-weight="600">{escape(title)}</text>',
        f'<rect x="{pad_l}" y="{pad_t}" width="{w}" height="{h}" fill="#fff" stroke="#d0d7de"/>',
    ]
    for i in range(5):
        gy = y0 + (y1 - y0) * i / 4
        gx = x0 + (x1 - x0) * i / 4
        parts.append(f'<line x1="{pad_l}" x2="{pad_l + w}" y1="{py(gy):.1f}" y2="{py(gy):.1f}" stroke="#eef1f4"/>')
        parts.append(f'<text x="{pad_l - 4}" y="{py(gy) + 4:.1f}" font-size="10" text-anchor="end">{_fmt(gy)}</text>')
        parts.append(f'<text x="{px(gx):.1f}" y="{pad_t + h + 14}" font-size="10" text-anchor="middle">{_fmt(gx)}</text>')
    if diagonal:
        lo, hi = max(x0, y0), min(x1, y1)
        parts.append(f'<line x1="{px(lo):.1f}" y1="{py(lo):.1f}" x2="{px(hi):.1f}" y2="{py(hi):.1f}" stroke="#8c959f" stroke-dasharray="4 3"/>')
    for idx, (name, pts) in enumerate(series):
        colour = PALETTE[idx % len(PALETTE)]
        if pts:
            path = " ".join(f"{'M' if j == 0 else 'L'}{px(x):.1f},{py(y):.1f}" for j, (x, y) in enumerate(pts))
            parts.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
            if len(pts) <= 30:
                parts += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{colour}"/>' for x, y in pts]
        parts.append(f'<rect x="{pad_l + 8}" y="{pad_t + 8 + idx * 16}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{pad_l + 22}" y="{pad_t + 17 + idx * 16}" font-size="11">{escape(name)}</text>')
    parts.append(f'<text x="{pad_l + w / 2:.0f}" y="{height - 6}" font-size="11" text-anchor="middle">{escape(x_label)}</text>')
    parts.append(f'<text transform="translate(12,{pad_t + h / 2:.0f}) rotate(-90)" font-size="11" text-anchor="middle">{escape(y_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    bars: Sequence[tuple[str, float]],
    *,
    title: str,
    width: int = 420,
    bar_height: int = 18,
    value_format: str = "{:.3g}",
    signed: bool = False,
) -> str:
    """Horizontal bars, one per (label, value); `signed` centres zero (red right, green left)."""
    label_w, pad_r, pad_t = 170, 56, 26
    height = pad_t + len(bars) * (bar_height + 6) + 8
    peak = max((abs(v) for _, v in bars), default=1.0) or 1.0
    span = width - label_w - pad_r
    zero = label_w + (span / 2 if signed else 0)
    scale = (span / 2 if signed else span) / peak
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" class="chart"><title>{escape(title)}</title>',
        "<desc>" + escape("; ".join(f"{label}: {value_format.format(v)}" for label, v in bars)) + "</desc>",
        f'<text x="0" y="16" font-size="13" font-weight="600">{escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(bars):
        y = pad_t + i * (bar_height + 6)
        length = abs(value) * scale
        x = zero if value >= 0 or not signed else zero - length
        colour = ("#cf222e" if value > 0 else "#1a7f37") if signed else PALETTE[0]
        parts.append(f'<text x="{label_w - 6}" y="{y + bar_height - 5}" font-size="11" text-anchor="end">{escape(label)}</text>')
        parts.append(f'<rect x="{x:.1f}" y="{y}" width="{max(length, 1):.1f}" height="{bar_height}" fill="{colour}"/>')
        tx = x + length + 4 if value >= 0 or not signed else x - 4
        anchor = "start" if value >= 0 or not signed else "end"
        parts.append(f'<text x="{tx:.1f}" y="{y + bar_height - 5}" font-size="10" text-anchor="{anchor}">{escape(value_format.format(value))}</text>')
    if signed:
        parts.append(f'<line x1="{zero}" x2="{zero}" y1="{pad_t - 4}" y2="{height - 4}" stroke="#57606a"/>')
    parts.append("</svg>")
    return "".join(parts)
