"""The dossier as a PDF (fpdf2: pure Python, no system libraries)."""

from __future__ import annotations

import io
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from audit.dossier import Dossier

_SUBSTITUTES = {
    "\u2026": "...",
    "\u2013": "-",
    "\u2014": "-",
    "\u25c0": "<",
    "\u25b6": ">",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
}


def _t(value: Any) -> str:
    """Core PDF fonts are Latin-1: keep £ and accents, replace the rest visibly."""
    text = "" if value is None else str(value)
    for a, b in _SUBSTITUTES.items():
        text = text.replace(a, b)
    return text.encode("latin-1", "replace").decode("latin-1")


class _Pdf(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(format="A4")
        self.doc_title = title
        self.set_auto_page_break(auto=True, margin=15)
        self.set_title(title)
        self.set_creator("Verdict")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=7)
        self.set_text_color(100)
        self.cell(0, 5, _t(f"{self.doc_title} - page {self.page_no()}/{{nb}}"), align="C")


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(3)
    pdf.set_font("Helvetica", style="B", size=11)
    pdf.cell(0, 7, _t(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=8)


def _table(
    pdf: FPDF, header: list[str], rows: list[list[Any]], widths: tuple[int, ...] | None = None
) -> None:
    pdf.set_font("Helvetica", size=7)
    with pdf.table(
        col_widths=widths, text_align="LEFT", line_height=4, first_row_as_headings=True
    ) as table:
        head = table.row()
        for h in header:
            head.cell(_t(h))
        for r in rows:
            row = table.row()
            for v in r:
                row.cell(_t(v))
    pdf.set_font("Helvetica", size=8)


def svg_for_pdf(svg: str) -> str:
    """The PDF core fonts have no arrow glyphs: spell them as XML-escaped ASCII."""
    return svg.replace("\u25c0", "&lt;").replace("\u25b6", "&gt;")


def _svg(pdf: FPDF, svg: str, width: float) -> None:
    if not svg:
        return
    try:
        pdf.image(io.BytesIO(svg_for_pdf(svg).encode()), w=width)
    except Exception:  # a chart the SVG renderer cannot draw is left out, never the dossier
        pdf.cell(
            0,
            5,
            "(chart not available in PDF; see the web page)",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )


def dossier_pdf(d: Dossier) -> bytes:
    dec = d.decision
    pdf = _Pdf(f"Decision dossier {dec.pk}")
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=15)
    pdf.cell(0, 9, _t("Decision dossier"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=8)
    summary = [
        ["Decision", str(dec.pk)],
        ["Made at (UTC)", dec.created_at.isoformat()],
        ["Product", dec.product.code],
        ["Client", dec.client.name],
        ["Engine outcome", dec.outcome],
        ["Final outcome", d.final_outcome or "pending review"],
        [
            "PD (interval)",
            f"{dec.pd!r} ({dec.pd_lower!r} - {dec.pd_upper!r})"
            if dec.pd is not None
            else "no score",
        ],
        ["Approved amount", dec.approved_amount or "-"],
        ["Rule set", dec.ruleset_version],
        ["Features", dec.feature_version],
        ["Model", f"{dec.model_name} v{dec.model_version}" if dec.model_name else "none"],
        ["Model SHA-256", dec.model_hash or "-"],
        ["Degraded", "yes" if dec.degraded else "no"],
        ["Reasons", ", ".join(f"{r['code']}: {r['description']}" for r in dec.reasons) or "-"],
    ]
    _table(pdf, ["", ""], summary, (35, 145))

    _heading(pdf, "Proof")
    if d.proof is not None:
        proof = [
            ["Event", f"#{d.proof.seq} {d.proof.event_type}"],
            ["Chain position", d.proof.position or "awaiting seal"],
            ["Event hash (SHA-256)", d.proof.hash or "awaiting seal"],
            ["Previous hash", d.proof.prev_hash or "-"],
            ["Chain head at print", f"#{d.chain_head[0]} {d.chain_head[1]}"],
        ]
        _table(pdf, ["", ""], proof, (35, 145))
    else:
        pdf.cell(
            0, 5, "No decision.created audit event found.", new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )

    _heading(pdf, "Probability of default")
    _svg(pdf, d.pd_chart, 180)

    _heading(pdf, "Applicant and loan, as submitted")
    _table(pdf, ["Field", "Value"], [[k, v] for k, v in d.applicant], (60, 120))

    _heading(pdf, "Features and their lineage")
    _table(
        pdf,
        ["Feature", "Value", "Lineage", "Source", "Version"],
        [
            [f["name"], f["value"], f["lineage_kind"], f["lineage_source"], f["version"]]
            for f in d.features
        ],
        (40, 25, 25, 75, 15),
    )

    _heading(pdf, "Signals (stored responses)")
    _table(
        pdf,
        ["Type", "Provider", "OK", "Response", "SHA-256"],
        [
            [
                s.get("signal_type"),
                f"{s.get('provider')} {s.get('provider_version')}",
                s.get("ok"),
                ", ".join(f"{k}={v}" for k, v in (s.get("response") or {}).items())
                or s.get("error", ""),
                (s.get("response_sha256") or "")[:16],
            ]
            for s in d.signals
        ],
        (18, 30, 10, 95, 27),
    )

    _heading(pdf, "Rule results")
    _table(
        pdf,
        ["Rule", "Version", "Fired", "Action", "Reason", "Inputs", "Error"],
        [
            [
                r.get("rule_id"),
                r.get("rule_version"),
                "yes" if r.get("fired") else "no",
                r.get("action"),
                r.get("reason_code"),
                ", ".join(f"{k}={v}" for k, v in (r.get("inputs") or {}).items()),
                r.get("error", ""),
            ]
            for r in d.rule_results
        ],
        (30, 12, 10, 18, 28, 60, 22),
    )

    _heading(pdf, "Model explanation (contributions, log-odds)")
    _svg(pdf, d.contributions_chart, 180)

    _heading(pdf, "Review")
    if d.review:
        _table(pdf, ["", ""], [[k.replace("_", " "), v] for k, v in d.review.items()], (45, 135))
        if d.review_actions:
            pdf.ln(2)
            _table(
                pdf,
                ["When", "Who", "Action", "Outcome", "Reasons", "Rationale"],
                [
                    [
                        a["when"],
                        a["actor"],
                        a["kind"],
                        a["outcome"],
                        ", ".join(a["reason_codes"] or []),
                        a["rationale"],
                    ]
                    for a in d.review_actions
                ],
                (30, 25, 22, 15, 28, 60),
            )
    else:
        pdf.cell(0, 5, "Not referred: no review case.", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    _heading(pdf, "Audit trail")
    _table(
        pdf,
        ["#", "Pos.", "When (UTC)", "Event", "Actor", "Hash"],
        [
            [
                e.seq,
                e.position or "-",
                e.occurred_at.isoformat(timespec="seconds"),
                e.event_type,
                e.actor_display,
                e.hash or "awaiting seal",
            ]
            for e in d.events
        ],
        (10, 10, 35, 35, 25, 65),
    )
    return bytes(pdf.output())
