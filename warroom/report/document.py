"""The report laid out once as a small document (headings, paragraphs, tables, code, charts).

Markdown and HTML render the same document, each escaping every piece of
text its own way, so the two formats can never say different things and no
renderer ever splices logged text into markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from warroom.core.text import clean
from warroom.core.units import format_duration, format_t_relative, format_value
from warroom.report.build import Chart, Report, Row, alert_duration, metric_origin, metric_summary, period_rows


@dataclass(frozen=True)
class T:
    """A run of text; `strong` for emphasis. The text is untrusted until a renderer escapes it."""

    text: str
    strong: bool = False


Para = list[T]
Cell = T | Para  # a table cell: one run, or several


@dataclass
class Heading:
    level: int
    text: str
    anchor: str = ""


@dataclass
class Paragraph:
    parts: Para


@dataclass
class Bullets:
    items: list[Para]


@dataclass
class Table:
    head: list[str]
    rows: list[list[Cell]]
    cls: str = ""


@dataclass
class Code:
    caption: str
    lines: list[str]


@dataclass
class ChartBlock:
    chart: Chart


Block = Heading | Paragraph | Bullets | Table | Code | ChartBlock


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def h(self, level: int, text: str, anchor: str = "") -> None:
        self.blocks.append(Heading(level, text, anchor))

    def p(self, *parts: T | str) -> None:
        self.blocks.append(Paragraph([x if isinstance(x, T) else T(x) for x in parts]))


def _status(s: str) -> T:
    return T(s, strong=s != "GO")


def _gate(doc: Document, rows: list[Row]) -> None:
    doc.blocks.append(
        Table(
            ["Criterion", "Threshold", "Actual", "Status"],
            [
                [T(r.name + ("" if r.required else " (advisory)")), T(r.threshold), T(r.actual), _status(r.status)]
                for r in rows
            ],
            "gate",
        )
    )
    notes = [[T(r.name, True), T(": " + r.reason)] for r in rows if r.status not in ("GO", "WARN")]
    if notes:
        doc.blocks.append(Bullets(notes))


def build_document(rep: Report, charts: bool = True) -> Document:
    L = rep.launch
    doc = Document(f"Post-launch report: {L.name}")
    doc.h(1, doc.title)
    doc.p(f"Launch {L.id} · T-0 {rep.utc(rep.t0)} · log {rep.path}")
    if L.launch.description:
        doc.p(L.launch.description)

    dec = rep.decision
    span = "—"
    if rep.first_ts is not None and rep.last_ts is not None:
        span = (
            f"{rep.events:,} events from {rep.rel(rep.first_ts)} to {rep.rel(rep.last_ts)} "
            f"({format_duration(rep.last_ts - rep.first_ts)})"
        )
    decided = [T("no final decision was recorded")]
    if dec is not None:
        decided = [
            T(dec.verdict, True),
            T(f" by {dec.actor} at {rep.when(dec.ts)}" + (f" — {dec.reason}" if dec.reason else "")),
        ]
    rb_text = (
        ", ".join(
            f"{r.state.status}{' (dry run)' if r.state.dry_run else ''}" if r.state else "refused"
            for r in rep.rollbacks
        )
        or "none"
    )
    firing = sum(1 for a in rep.alerts if a.firing)
    doc.h(2, "Summary", "summary")
    summary: list[list[Cell]] = [
        [T("Final decision"), decided],
        [T("Console verdict at the end of the log"), T(rep.status, True)],
        [T("Log"), T(span)],
        [T("Samples"), T(f"{rep.kinds.get('sample', 0):,}")],
        [T("Alerts"), T(f"{len(rep.alerts) + rep.alerts_omitted:,} ({firing} still firing at the end)")],
        [T("Decisions and actions"), T(f"{len(rep.timeline) + rep.timeline_omitted:,}")],
        [T("Rollbacks"), T(rb_text)],
        [T("Integrity"), T(rep.integrity, not rep.integrity_ok)],
    ]
    if rep.sources:
        summary.append(
            [
                T("Sources at the end"),
                T("; ".join(sv.text(rep.t0) for sv in rep.sources), any(sv.failing for sv in rep.sources)),
            ]
        )
    doc.blocks.append(Table(["", ""], summary, "summary"))
    doc.p(f"Why the console said {rep.status} at the end of the log:")
    doc.blocks.append(Bullets([[T(r)] for r in rep.reasons]))
    if rep.participants:
        doc.p("Participants:")
        doc.blocks.append(
            Bullets([[T(a), T(" — " + ", ".join(sorted(k)))] for a, k in sorted(rep.participants.items())])
        )

    doc.h(2, "Go/No-Go", "gonogo")
    if dec is not None:
        doc.h(3, f"At the final decision: {dec.verdict} by {dec.actor}, {rep.when(dec.ts)}")
        doc.p("The console said ", T(dec.console, True), " at that moment.")
        _gate(doc, dec.rows)
    doc.h(3, f"At the end of the log, {rep.when(rep.last_ts)}")
    _gate(doc, rep.final_rows)
    for g in rep.gates:
        if g is dec:
            continue
        what = f"Sign-off {g.role}" if g.kind == "signoff" else "Earlier decision"
        why = f" — {g.reason}" if g.reason else ""
        doc.h(3, f"{what}: {g.verdict} by {g.actor}, {rep.when(g.ts)}{why}")
        doc.p("The console said ", T(g.console, True), " at that moment.")
        _gate(doc, g.rows)

    if charts and rep.charts:
        doc.h(2, "Criteria over the launch", "charts")
        for ch in rep.charts:
            doc.h(3, f"{ch.criterion.name} ({ch.criterion.threshold_text})")
            doc.blocks.append(ChartBlock(ch))

    if rep.compare:
        doc.h(2, "Compare to baseline", "baseline")
        doc.p(
            "Each criterion's mean in each post-launch day beside its pre-launch baseline (the relative "
            "threshold's baseline where it has one, else the mean of the samples before T-0):"
        )
        cmp_rows: list[list[Cell]] = []
        for cmp in rep.compare:
            unit = cmp.criterion.unit
            base = "—" if cmp.baseline is None else format_value(cmp.baseline, unit)
            for d, p in sorted(cmp.days.items()):
                change = cmp.change(p)
                cmp_rows.append(
                    [
                        T(cmp.criterion.name),
                        T(f"day {d + 1} (from {rep.rel(p.start)})"),
                        T(base),
                        T("—" if p.mean is None else format_value(p.mean, unit)),
                        T("—" if change is None else f"{change:+.1f}%"),
                    ]
                )
        doc.blocks.append(Table(["Criterion", "Period", "Baseline", "Mean", "Change"], cmp_rows))
    if rep.breaches:
        doc.h(2, "Breach timeline", "breaches")
        doc.blocks.append(
            Table(["T", "UTC", "What"], [[T(rep.rel(e.ts)), T(rep.utc(e.ts)), T(e.text)] for e in rep.breaches])
        )
    if rep.backfilled or rep.cannot_backfill:
        doc.h(2, "History from Prometheus", "backfill")
        doc.p(
            "Samples the console did not record were filled in afterwards from Prometheus (warroom backfill) "
            "and judged with the same rules:"
        )
        items: list[Para] = [[T(f"{cid}: {n:,} samples backfilled")] for cid, n in sorted(rep.backfilled.items())]
        items += [[T(f"{cid}: cannot be backfilled: {why}", True)] for cid, why in rep.cannot_backfill.items()]
        doc.blocks.append(Bullets(items))

    doc.h(2, "Timeline of decisions", "timeline")
    if rep.timeline:
        doc.blocks.append(
            Table(
                ["T", "UTC", "Who", "What"],
                [[T(rep.rel(e.ts)), T(rep.utc(e.ts)), T(e.actor), T(e.text)] for e in rep.timeline],
                "timeline",
            )
        )
        if rep.timeline_omitted:
            doc.p(f"… and {rep.timeline_omitted:,} later entries (see warroom log).")
    else:
        doc.p("No decisions were recorded.")

    doc.h(2, "Checklist", "checklist")
    for ph in rep.phases:
        doc.h(3, f"{ph.name} (from {format_t_relative(ph.at)}): {ph.done}/{ph.total} done")
        doc.blocks.append(
            Table(
                ["Item", "Owner", "Critical", "Done", "When", "By"],
                [
                    [
                        T(i.text),
                        T(i.owner),
                        T("yes" if i.critical else ""),
                        T("✔" if i.done else "✘ open", not i.done and i.critical),
                        T(rep.rel(i.at) if i.done and i.at is not None else ""),
                        T(i.by or ""),
                    ]
                    for i in ph.items
                ],
            )
        )

    doc.h(2, "Alerts", "alerts")
    if rep.alerts:
        doc.blocks.append(
            Table(
                ["Alert", "Severity", "Source", "Started", "Ended", "Duration", "Acknowledged"],
                [
                    [
                        T(a.title),
                        T(a.severity),
                        T(a.source),
                        T(rep.rel(a.started)),
                        T(rep.rel(a.ended) if a.ended is not None else "firing", a.ended is None),
                        T(alert_duration(rep, a)),
                        T(f"{a.acked_by} at {rep.rel(a.acked_at)}" if a.acked_by else ""),
                    ]
                    for a in rep.alerts
                ],
            )
        )
        if rep.alerts_omitted:
            doc.p(f"… and {rep.alerts_omitted:,} more.")
    else:
        doc.p("No alerts.")

    doc.h(2, "Rollbacks", "rollbacks")
    if not rep.rollbacks:
        doc.p("No rollback was requested.")
    for n, r in enumerate(rep.rollbacks, 1):
        vals = ", ".join(f"{k} = {v!r}" for k, v in r.values.items())
        req = f"procedure '{r.procedure}'" + (f" with {vals}" if vals else "")
        if r.requested_by:
            req += f", chosen by {r.requested_by} at {rep.rel(r.requested_at)}"
        if r.refused is not None:
            doc.h(3, f"Rollback {n}: refused at {rep.rel(r.refused['at'])}")
            doc.p(f"{req}; refused: {r.refused['reason']}".lstrip("; "))
            continue
        rb = r.state
        assert rb is not None
        flags = ", ".join(x for x in ("dry run" if rb.dry_run else "", "automatic" if rb.automatic else "") if x)
        doc.h(3, f"Rollback {n}: {rb.status}" + (f" ({flags})" if flags else ""))
        started = f"started by {rb.by} at {rep.rel(rb.started)}"
        done = f", finished at {rep.rel(rb.finished)}" if rb.finished is not None else ", not finished in the log"
        doc.p("; ".join(x for x in (req, started + done) if x) + (f". Reason: {rb.reason}" if rb.reason else ""))
        doc.blocks.append(
            Table(
                ["#", "Step", "Status", "Exit", "Started", "Took"],
                [
                    [
                        T(str(i)),
                        T(s.name),
                        T(s.status, s.status not in ("ok", "pending")),
                        T("" if s.exit_code is None else str(s.exit_code)),
                        T(rep.rel(s.started) if s.started else ""),
                        T(format_duration(s.finished - s.started) if s.started and s.finished else ""),
                    ]
                    for i, s in enumerate(rb.steps, 1)
                ],
            )
        )
        for i, s in enumerate(rb.steps, 1):
            if s.output:
                doc.blocks.append(
                    Code(
                        f"Output of step {i} (last {min(20, len(s.output))} lines):", [clean(x) for x in s.output[-20:]]
                    )
                )

    doc.h(2, "Success metrics", "metrics")
    if rep.metrics_provenance:
        doc.p(f"Success metrics {rep.metrics_provenance}.")
    if rep.metrics:
        rows: list[list[Cell]] = []
        for m in rep.metrics:
            figures = metric_summary(m)
            rows.append(
                [
                    T(m.metric.name),
                    T(m.metric.target),
                    T(m.metric.check),
                    T(figures["window"]),
                    T(figures["coverage"]),
                    T(figures["min"]),
                    T(figures["avg"]),
                    T(figures["max"]),
                    T(figures["share"]),
                    T(m.status, True),
                ]
            )
        doc.blocks.append(
            Table(
                [
                    "Metric",
                    "Target",
                    "Check",
                    "Window",
                    "Log covers",
                    "Min",
                    "Avg",
                    "Max",
                    "Samples meeting target",
                    "Status",
                ],
                rows,
            )
        )
        doc.p("Where the values came from:")
        doc.blocks.append(Bullets([[T(m.metric.name, True), T(": " + metric_origin(rep, m))] for m in rep.metrics]))
        for m in rep.metrics:
            if m.measurements:
                doc.p(f"{m.metric.name}: measurements entered in the log:")
                doc.blocks.append(
                    Table(
                        ["Period", "Value", "Status", "By", "When", "Source"],
                        [
                            [
                                T(x.period or "—"),
                                T(format_value(x.value, m.metric.unit)),
                                T("MET" if m.meets(x.value) else "MISSED", not m.meets(x.value)),
                                T(x.by),
                                T(rep.when(x.ts)),
                                T(x.link or x.source),
                            ]
                            for x in m.measurements
                        ],
                    )
                )
            elif m.criterion is None:
                doc.p(
                    f"{m.metric.name}: not measured: no measurement is in the log "
                    f"({m.metric.source or 'outside Prometheus'} {m.metric.query or ''}); its owner enters one with "
                    f"'warroom measure LOG {m.metric.id} VALUE'."
                )
            elif len(m.periods) > 1:
                doc.p(f"{m.metric.name} per {m.metric.check} period:")
                doc.blocks.append(
                    Table(
                        ["From", "Samples", "Avg", "Meeting target", "Status"],
                        [
                            [
                                T(p["start"]),
                                T(str(p["samples"])),
                                T(p["avg"]),
                                T(p["share"]),
                                T(p["status"], p["status"] != "MET"),
                            ]
                            for p in period_rows(m)
                        ],
                    )
                )
    else:
        doc.p("No success metrics are defined.")

    doc.h(2, "Integrity", "integrity")
    doc.p(T(rep.integrity, not rep.integrity_ok))
    doc.p(
        T(f"Head of the log: {rep.head or '(empty)'}"), T(" — keep it; 'warroom verify --expect-head' checks it later")
    )
    doc.h(2, "Who did what", "trust")
    if rep.refused:
        doc.p(T(f"{len(rep.refused)} event(s) refused by the fold (kept as evidence, not applied):", True))
        for line in rep.refused:
            doc.p(T(line, True))
    else:
        doc.p("No event was refused: every decision's actor held the authority for it.")
    for line in rep.signatures:
        doc.p(T(line, "BAD SIGNATURE" in line))
    for line in rep.anchors:
        doc.p(T(line, True))
    return doc


def backtick_fence(text: str) -> str:
    """A Markdown code fence longer than any run of backticks in `text`."""
    return "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", text)), default=0))
