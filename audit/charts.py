"""Server-side SVG for the dossier: no JavaScript, prints as it shows, embeds in the PDF."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

RISK_UP, RISK_DOWN, INK, MUTED = "#b42318", "#067647", "#1d2939", "#667085"


def pd_scale(
    *,
    pd: float | None,
    lower: float | None,
    upper: float | None,
    approve_max: float | None,
    decline_min: float | None,
    width: int = 560,
) -> str:
    """PD and its interval on a 0..top scale, over the approve / refer / decline bands."""
    height, left, right, y = 70, 10, 10, 30
    values = [v for v in (pd, upper, decline_min) if v is not None]
    top = min(1.0, max(0.3, max(values, default=0.3) * 1.25))
    span = width - left - right

    def x(v: float) -> float:
        return left + span * min(max(v, 0.0), top) / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Probability of default on the cut-off scale" '
        'font-family="Helvetica, Arial, sans-serif" font-size="11">'
    ]
    if approve_max is not None and decline_min is not None:
        for lo, hi, colour, label in (
            (0.0, approve_max, "#d1fadf", "approve"),
            (approve_max, decline_min, "#fef0c7", "refer"),
            (decline_min, top, "#fee4e2", "decline"),
        ):
            parts.append(
                f'<rect x="{x(lo):.1f}" y="{y - 12}" width="{max(0.0, x(hi) - x(lo)):.1f}" height="24" fill="{colour}"/>'
            )
            parts.append(
                f'<text x="{(x(lo) + x(hi)) / 2:.1f}" y="{y - 16}" text-anchor="middle" fill="{MUTED}">{label}</text>'
            )
    parts.append(
        f'<line x1="{left}" y1="{y + 12}" x2="{width - right}" y2="{y + 12}" stroke="{MUTED}"/>'
    )
    for i in range(6):
        v = top * i / 5
        parts.append(
            f'<text x="{x(v):.1f}" y="{y + 26}" text-anchor="middle" fill="{MUTED}">{v:.0%}</text>'
        )
    if lower is not None and upper is not None:
        parts.append(
            f'<line x1="{x(lower):.1f}" y1="{y}" x2="{x(upper):.1f}" y2="{y}" stroke="{INK}" stroke-width="2"/>'
        )
        for v in (lower, upper):
            parts.append(
                f'<line x1="{x(v):.1f}" y1="{y - 6}" x2="{x(v):.1f}" y2="{y + 6}" stroke="{INK}" stroke-width="2"/>'
            )
    if pd is not None:
        parts.append(f'<circle cx="{x(pd):.1f}" cy="{y}" r="5" fill="{INK}"/>')
        parts.append(
            f'<text x="{x(pd):.1f}" y="{y + 40}" text-anchor="middle" fill="{INK}" font-weight="bold">PD {pd:.2%}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def contributions(items: Sequence[tuple[str, float]], *, width: int = 560, limit: int = 12) -> str:
    """The largest feature contributions (log-odds), risk-raising to the right."""
    top = sorted(items, key=lambda kv: abs(kv[1]), reverse=True)[:limit]
    row, label_w, pad = 20, 190, 8
    height = row * len(top) + 30
    if not top:
        return ""
    biggest = max(abs(v) for _, v in top) or 1.0
    half = (width - label_w - 2 * pad) / 2
    zero = label_w + pad + half
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Feature contributions to the score" '
        'font-family="Helvetica, Arial, sans-serif" font-size="11">'
    ]
    for i, (name, value) in enumerate(top):
        yy = 10 + i * row
        w = half * abs(value) / biggest
        x0 = zero if value >= 0 else zero - w
        colour = RISK_UP if value >= 0 else RISK_DOWN
        parts.append(
            f'<text x="{label_w}" y="{yy + 13}" text-anchor="end" fill="{INK}">{escape(name)}</text>'
        )
        parts.append(
            f'<rect x="{x0:.1f}" y="{yy + 3}" width="{max(w, 0.5):.1f}" height="13" fill="{colour}"/>'
        )
        anchor, tx = ("start", x0 + w + 3) if value >= 0 else ("end", x0 - 3)
        parts.append(
            f'<text x="{tx:.1f}" y="{yy + 13}" text-anchor="{anchor}" fill="{MUTED}">{value:+.3f}</text>'
        )
    parts.append(
        f'<line x1="{zero:.1f}" y1="5" x2="{zero:.1f}" y2="{height - 18}" stroke="{MUTED}"/>'
    )
    parts.append(
        f'<text x="{zero - 6:.1f}" y="{height - 4}" text-anchor="end" fill="{RISK_DOWN}">◀ lowers risk</text>'
    )
    parts.append(f'<text x="{zero + 6:.1f}" y="{height - 4}" fill="{RISK_UP}">raises risk ▶</text>')
    parts.append("</svg>")
    return "".join(parts)
