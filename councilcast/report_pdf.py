"""The report-back sheet as a PDF (A4), made with fpdf2.

fpdf2 is pure Python and installs with pip alone (no Cairo, Pango or a browser), so the
README's one command keeps working; WeasyPrint would need Pango from the system, and printing
the HTML through Chromium would tie a server to a browser. The sheet's dict
(:meth:`councilcast.services.report_back.ReportBackService.sheet`) is laid out here as text:
the same numbers as the HTML page, one page per workplace. The PDF core fonts cover Latin-1;
other characters are written as their closest Latin-1 form (dashes, quotes) or ``?``.
"""

from __future__ import annotations

from fpdf import FPDF

from councilcast.plan_cards import SHORT, short_unit

__all__ = ["report_pdf"]

_PLAIN = str.maketrans({"\u2014": "-", "\u2013": "-", "\u2212": "-", "\u2018": "'", "\u2019": "'",
                        "\u201c": '"', "\u201d": '"', "\u2026": "...", "\u00a0": " ", "\u2009": " ",
                        "\u202f": " ", "\u2192": "->", "\u00b1": "+/-"})


def _t(text) -> str:
    """Text the core fonts can write."""
    return str(text).translate(_PLAIN).encode("latin-1", "replace").decode("latin-1")


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def _mandate(m: dict) -> str:
    return m["option"] if m["kind"] == "option" else "free vote" if m["kind"] == "free" else f'"{m["text"]}"'


class _Sheet(FPDF):
    def __init__(self, footer: str):
        super().__init__(format="A4")
        self._footer = footer
        self.set_auto_page_break(auto=True, margin=15)
        self.set_margins(15, 15, 15)

    def footer(self):
        self.set_y(-12)
        self.set_font("Helvetica", size=7)
        self.cell(0, 5, _t(f"{self._footer} - page {self.page_no()}"), align="C")

    def heading(self, text: str, size: float = 13):
        self.set_font("Helvetica", "B", size)
        self.multi_cell(0, size * 0.5, _t(text), new_x="LMARGIN", new_y="NEXT")
        self.ln(1)

    def para(self, text: str, size: float = 9.5, style: str = ""):
        self.set_font("Helvetica", style, size)
        self.multi_cell(0, size * 0.48, _t(text), new_x="LMARGIN", new_y="NEXT")
        self.ln(0.8)


def report_pdf(r: dict) -> bytes:
    d = r["delegate"]
    pdf = _Sheet(f"Report back: delegate {d['name']}, since {r['since']} - sheet SHA-256 {r['hash'][:16]}")
    pdf.add_page()
    pdf.heading(f"Report back: delegate {d['name']}", 15)
    pdf.para("For the General Assemblies of " + ", ".join(a["name"] for a in d["constituency"])
          + f". Sessions since {r['since']} (UTC). Status: {d['status']}"
          + (f", term ends {d['term_ends']}" if d.get("term_ends") else "") + f". Made {r['generated_at'][:16]} UTC.")
    pdf.heading("What was decided", 12)
    if not r["sessions"]:
        pdf.para(f"No session since {r['since']}.")
    for s in r["sessions"]:
        pdf.heading(s["title"], 11)
        pdf.para(f"{s['body']} - opened {(s['opened_at'] or '')[:16]} - minutes {s['minutes']} ({s['minutes_hash'][:12]})",
              8)
        for n, i in enumerate(s["items"], start=1):
            pdf.para(f"{n}. {i['title']} ({i['kind']}) {(i['started_at'] or '')[11:16]}"
                  + (f"-{i['ended_at'][11:16]}" if i["ended_at"] else ""), 10, "B")
            if i["speakers"]:
                pdf.para("Spoke: " + ", ".join(i["speakers"]), 9)
            if i["recording"]:
                pdf.para(f"Recording: {i['recording']}", 8)
            dec = i.get("decision")
            if not dec:
                continue
            figures = ""
            if dec["totals"]:
                figures = ": " + " - ".join(f"{o} {v}" for o, v in dec["totals"].items()) + f" - abstain {dec['abstain']}"
            pdf.para(dec["outcome"] + figures, 10, "B")
            if dec["final_hash"]:
                pdf.para(f"Audit hash {dec['final_hash']}", 7.5)
            for v in i["votes"]:
                if v["shares"]:
                    line = "Your assemblies: " + " - ".join(f"{_pct(x)} {o}" for o, x in v["shares"].items())
                    line += " (of votes cast)"
                    for a in v["assemblies"]:
                        line += f"; {a['name']}: " + " - ".join(f"{_pct(x)} {o}" for o, x in a["shares"].items())
                    pdf.para(line + ".")
                pdf.para(f"Your delegate voted {v['choice']} in the roll call.")
                for m in v["mandates"]:
                    pdf.para(f"Mandate of {m['assembly_name']}: {_mandate(m)}"
                          + (" - voted against this mandate" if m["against"] else ""), 9.5, "B" if m["against"] else "")
            if not i["votes"]:
                for m in i["mandates"]:
                    pdf.para(f"Mandate of {m['assembly_name']}: {_mandate(m)}")
                pdf.para("No roll-call vote of the delegate on this item.", 9, "I")
    pdf.heading("Open questions for the meeting", 12)
    for q in r["open_questions"] or [{"text": "None."}]:
        pdf.para("- " + q["text"])
    pdf.para(f"Sheet SHA-256 {r['hash']}", 7.5)
    for w in r["workplaces"]:
        pdf.add_page()
        pdf.heading(f"{w['assembly']}: what the adopted variant means"
              + (f" ({r['adopted']['option']})" if r.get("adopted") else ""), 12)
        card = w.get("card")
        if not card:
            pdf.para(w.get("note") or "No card.")
            continue
        pdf.para(f"Variant {card['variant']} - {card['workplace']['name']} - {card['workplace']['sector']}", 10, "B")
        for f in card["fields"]:
            unit = short_unit(f["unit"])
            value = f"{f['text']}{(' ' + unit) if unit else ''}"
            change = f"{f['text_change']} on today"
            if f.get("previous") is not None:
                change += f" - {f['text_change_previous']} since last"
            pdf.set_font("Helvetica", "B", 9.5)
            pdf.cell(60, 5, _t(SHORT.get(f["key"], f["label"])))
            pdf.set_font("Helvetica", "", 9.5)
            pdf.cell(45, 5, _t(value))
            pdf.set_font("Helvetica", "", 8.5)
            pdf.multi_cell(0, 5, _t(change), new_x="LMARGIN", new_y="NEXT")
            if f.get("text_range"):
                pdf.para(f"    estimate {f['text_range']}", 8)
        pdf.ln(2)
        pdf.para(card.get("rounding", ""), 8)
        pdf.para(f"Inputs {card.get('input_hash', '')} - {card.get('solver_version', '')} - published variant set "
              f"{w.get('variant_set')}", 7.5)
    return bytes(pdf.output())
