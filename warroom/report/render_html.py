"""The post-launch report as one self-contained HTML file: inline CSS, inline SVG charts, no JavaScript.

All text goes through `warroom.core.text.clean` (escapes, controls, bidi and
zero-width characters, length cap), then `html.escape`; nothing logged or configured is ever spliced in as markup.
"""

from __future__ import annotations

import html

from warroom.core.text import clean
from warroom.report.build import Report
from warroom.report.document import Bullets, Cell, ChartBlock, Code, Heading, Paragraph, Table, build_document
from warroom.report.render_svg import chart_svg

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;
     color:#1d1d1f;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
h3{font-size:1.05em;margin-top:1.3em}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:13px}
th,td{border:1px solid #d6d6d6;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f2f2f2} table.summary td:first-child{font-weight:600;white-space:nowrap}
td.GO{color:#1e7b34} td.WARN{color:#9a6700} td.NO-GO,td.ROLLBACK,td.MISSED{color:#b3261e;font-weight:600}
td.UNKNOWN,td.NO.DATA{color:#6e6e73;font-weight:600} td.MET{color:#1e7b34}
pre{background:#f6f6f6;border:1px solid #e0e0e0;padding:.6em;overflow-x:auto;font-size:12px}
svg.chart{display:block;margin:.3em 0 1em;max-width:100%;height:auto}
nav a{margin-right:1em}
@media print{nav{display:none}}
"""
NAV = [
    ("summary", "Summary"),
    ("gonogo", "Go/No-Go"),
    ("charts", "Charts"),
    ("timeline", "Timeline"),
    ("checklist", "Checklist"),
    ("alerts", "Alerts"),
    ("rollbacks", "Rollbacks"),
    ("metrics", "Success metrics"),
    ("integrity", "Integrity"),
]
STATUS_WORDS = {"GO", "WARN", "NO-GO", "ROLLBACK", "UNKNOWN", "MET", "MISSED", "NO DATA", "MET so far"}


def h(text: object) -> str:
    """Untrusted text, safe in HTML element content and quoted attributes."""
    return html.escape(clean(text), quote=True)


def _runs(cell: Cell) -> str:
    runs = cell if isinstance(cell, list) else [cell]
    return "".join(f"<strong>{h(r.text)}</strong>" if r.strong else h(r.text) for r in runs)


def _td(cell: Cell) -> str:
    runs = cell if isinstance(cell, list) else [cell]
    word = runs[0].text if len(runs) == 1 else ""
    cls = f' class="{h(word.replace(" so far", ""))}"' if word in STATUS_WORDS else ""
    return f"<td{cls}>{_runs(cell)}</td>"


def render_html(rep: Report) -> str:
    doc = build_document(rep, charts=True)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{h(doc.title)}</title>",
        f"<style>{CSS}</style></head><body>",
    ]
    nav_done = False
    for b in doc.blocks:
        if isinstance(b, Heading):
            anchor = f' id="{h(b.anchor)}"' if b.anchor else ""
            out.append(f"<h{b.level}{anchor}>{h(b.text)}</h{b.level}>")
            if b.level == 1 and not nav_done:
                present = {x.anchor for x in doc.blocks if isinstance(x, Heading) and x.anchor}
                out.append("<nav>" + "".join(f'<a href="#{a}">{h(t)}</a>' for a, t in NAV if a in present) + "</nav>")
                nav_done = True
        elif isinstance(b, Paragraph):
            out.append(f"<p>{_runs(b.parts)}</p>")
        elif isinstance(b, Bullets):
            out.append("<ul>" + "".join(f"<li>{_runs(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            cls = f' class="{h(b.cls)}"' if b.cls else ""
            head = (
                "" if not any(b.head) else "<thead><tr>" + "".join(f"<th>{h(x)}</th>" for x in b.head) + "</tr></thead>"
            )
            body = "\n".join("<tr>" + "".join(_td(c) for c in row) + "</tr>" for row in b.rows)  # a row a line
            out.append(f"<table{cls}>{head}<tbody>{body}</tbody></table>")
        elif isinstance(b, Code):
            lines = "\n".join(h(x).replace("&#x27;", "'") for x in b.lines)
            out.append(f"<p>{h(b.caption)}</p><pre>{lines}</pre>")
        elif isinstance(b, ChartBlock):
            out.append(chart_svg(rep, b.chart, h))
    out.append("</body></html>")
    return "\n".join(out) + "\n"
