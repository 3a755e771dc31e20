"""The post-launch report of a recorded launch: every decision with actor and time, the right actuals."""

from __future__ import annotations

import math
import re
from pathlib import Path
from xml.etree import ElementTree

import orjson
import pytest
from recorded import record_launch
from runcli import warroom

from warroom.cli import main
from warroom.core.rules import show
from warroom.core.units import format_t_relative
from warroom.report.build import build_report, to_json
from warroom.report.render_html import render_html
from warroom.report.render_md import md, render_markdown


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    return record_launch(tmp_path_factory.mktemp("rep") / "launch.jsonl", until="20m", hostile=True)


@pytest.fixture(scope="module")
def rep(rec):
    return build_report(rec.path)


def expected_actual(rec, cid: str, value: float | None) -> str:
    c = rec.launch.criteria_by_id[cid]
    return "—" if value is None else show(c, value)


def test_every_decision_appears_with_actor_and_time(rec, rep):
    md_text = render_markdown(rep)
    rows = [line for line in md_text.splitlines() if line.startswith("| T")]
    shown = [w for w in rec.human if not (w.kind == "rollback" and w.data["phase"] in ("step_started", "step_output"))]
    assert len(rep.timeline) == len(shown)
    for w, e in zip(shown, rep.timeline, strict=True):
        assert (e.seq, e.ts, e.actor) == (w.seq, w.ts, w.who)
        rel = format_t_relative(w.ts - rec.t0)
        assert any(r.startswith(f"| {rel} |") and md(w.who) in r for r in rows), (rel, w.who)
    # and in the JSON, with UTC times
    js = to_json(rep)
    assert [(t["seq"], t["by"], t["at"]["ts"]) for t in js["timeline"]] == [(w.seq, w.who, w.ts) for w in shown]


def test_go_nogo_tables_hold_the_actual_at_each_signoff_and_the_final_decision(rec, rep):
    written = rec.of_kind("signoff") + rec.of_kind("decision")
    gates = {g.seq: g for g in rep.gates}
    assert sorted(gates) == sorted(w.seq for w in written)
    for w in written:
        g = gates[w.seq]
        assert g.actor == w.who and g.ts == w.ts and g.verdict == w.data["verdict"]
        for row in g.rows:
            assert row.actual == expected_actual(rec, row.criterion, w.values[row.criterion]), (w.seq, row)
    final = rec.of_kind("decision")[-1]
    assert rep.decision is not None and rep.decision.seq == final.seq
    # the NO-GO sign-off was given while latency was breaching, and the table says so
    nogo = next(g for g in rep.gates if g.kind == "signoff" and g.verdict == "NO-GO")
    p95 = next(r for r in nogo.rows if r.criterion == "api-p95")
    assert p95.status == "NO-GO" and p95.value is not None and p95.value > 500
    text = render_markdown(rep)
    section = text.split("### At the final decision")[1].split("###")[0]
    for cid, v in final.values.items():
        name = rec.launch.criteria_by_id[cid].name
        assert re.search(
            rf"\| {re.escape(name)} \| [^|]+ \| {re.escape(md(expected_actual(rec, cid, v)))} \|", section
        ), name


def test_checklist_alerts_rollbacks_and_metrics(rec, rep):
    items = {i.id: i for p in rep.phases for i in p.items}
    deploy = next(w for w in rec.human if w.kind == "check" and w.data["item"] == "deploy")
    assert items["deploy"].done and items["deploy"].by == deploy.who and items["deploy"].at == deploy.ts
    tests_green = [w for w in rec.human if w.data.get("item") == "tests-green"]
    assert items["tests-green"].at == tests_green[-1].ts  # re-checked after the uncheck
    assert not items["hourly-latency"].done
    am = next(a for a in rep.alerts if a.key == "am:a1b2c3")
    assert am.ended is not None and am.acked_by == "Sam (DevOps) (devops@bastion)"
    crit = next(a for a in rep.alerts if a.key == "criterion:api-p95")
    assert crit.ended is not None and 150 <= crit.ended - crit.started <= 240  # the 3-minute breach
    assert len(rep.rollbacks) == 1
    rb = rep.rollbacks[0].state
    assert rb is not None and rb.status == "succeeded" and rb.dry_run
    assert [s.exit_code for s in rb.steps] == [0]
    p95 = next(m for m in rep.metrics if m.metric.id == "p95-week")
    values = [v for v in _samples(rec, "api-p95") if v is not None]
    assert p95.overall.n == len(values)
    assert p95.overall.hi == max(values) and p95.overall.lo == min(values)
    assert math.isclose(p95.overall.mean or 0, sum(values) / len(values))
    assert p95.overall.meeting == sum(1 for v in values if v < 500)
    assert p95.status == "MET so far"  # the mean meets the target, the 7-day window is barely begun


def _samples(rec, cid: str) -> list[float | None]:
    out = []
    for line in rec.path.read_bytes().splitlines():
        d = orjson.loads(line)
        if d["kind"] == "sample" and d["data"]["criterion"] == cid and d["data"]["t"] >= rec.t0:
            out.append(d["data"]["value"])
    return out


def test_html_and_markdown_escape_untrusted_text(rep):
    page = render_html(rep)
    assert "<script" not in page
    assert "&lt;script&gt;alert(" in page
    assert "\x1b" not in page
    assert page.count("<svg") == len(rep.launch.criteria)
    text = render_markdown(rep)
    assert "\x1b" not in text
    assert "<script>" not in text.split("```text")[0]  # outside the code block everything is escaped
    note = next(line for line in text.splitlines() if "alert('x')" in line and line.startswith("| T"))
    assert note.count(" | ") == 3  # the pipe in the note did not add a column
    assert r"\<script\>" in note and r"\*bold\*" in note and r"\[link\]" in note


def test_chart_has_thresholds_and_decisions(rep):
    page = render_html(rep)
    for svg in re.findall(r"<svg.*?</svg>", page, re.S):
        ElementTree.fromstring(svg)  # well-formed: every text escaped, every element closed
    chart = page.split('aria-labelledby="t-api-p95"')[1].split("</svg>")[0]
    assert "go &lt; 500ms" in chart and "warn &lt; 400ms" in chart
    assert "decision GO" in chart and "CTO NO-GO" in chart and "rollback" in chart


def test_cli_formats_and_output_file(rec, tmp_path, capsys):
    assert main(["report", str(rec.path)]) == 0
    assert capsys.readouterr().out.startswith("# Post-launch report: Demo Launch (simulated)")
    for fmt in ("md", "html", "json"):
        out = tmp_path / f"r.{fmt}"
        assert main(["report", str(rec.path), "-o", str(out)]) == 0
        body = out.read_text()
        if fmt == "json":
            assert orjson.loads(body)["final"]["decision"]["verdict"] == "GO"
        elif fmt == "html":
            assert body.startswith("<!DOCTYPE html>")
        else:
            assert "## Go/No-Go" in body


def test_cli_errors_are_messages(tmp_path, rec):
    r = warroom("report", tmp_path / "none.jsonl")
    assert r.returncode == 2 and "no such log file" in r.stderr and "Traceback" not in r.stderr
    r = warroom("report", rec.path, "-o", tmp_path / "missing-dir" / "r.md")
    assert r.returncode == 2 and "cannot write the report" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text("hello\n")
    r = warroom("report", bad)
    assert r.returncode != 0 and "Traceback" not in r.stderr and r.stderr.strip()


def test_tampered_log_is_reported_as_such(tmp_path):
    rec = record_launch(tmp_path / "t.jsonl", until="-20m")
    lines = rec.path.read_bytes().split(b"\n")
    lines[99] = lines[99].replace(b'"value":', b'"value":9', 1)
    rec.path.write_bytes(b"\n".join(lines))
    rep = build_report(rec.path)
    assert not rep.integrity_ok and rep.events == 99
    assert "TAMPERED: event seq 100 (line 100)" in render_markdown(rep)
    assert main(["report", str(rec.path), "-o", str(tmp_path / "r.md")]) == 1


@pytest.mark.parametrize(
    "config", sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.yaml")), ids=lambda p: p.stem
)
def test_every_shipped_launch_reports_from_a_bare_and_a_busy_log(config, tmp_path):
    from test_report_lean import stream

    from warroom.config import load_launch
    from warroom.core.events import Actor
    from warroom.store.launchlog import bind
    from warroom.store.log import DecisionLog

    launch = load_launch(config)
    clock = [launch.t0 - 7200.0]
    with DecisionLog(tmp_path / "bare.jsonl", Actor("dana", "bastion"), lambda: clock[0]) as lg:
        bind(lg, launch, config.read_text(), str(config))
    bare = build_report(tmp_path / "bare.jsonl")
    assert bare.events == 1 and bare.decision is None and bare.status != "GO"
    text = render_markdown(bare)
    assert "no final decision was recorded" in text and "No alerts." in text
    assert all(m.status in ("NO DATA", "NOT MEASURED") for m in bare.metrics)
    with DecisionLog(tmp_path / "busy.jsonl", Actor("dana", "bastion"), lambda: clock[0]) as lg:
        bind(lg, launch, config.read_text(), str(config))
        for ev in stream(launch, 2000, 9):
            clock[0] = ev.ts
            lg.append("sample", ev.data, actor=ev.actor)
    busy = build_report(tmp_path / "busy.jsonl")
    assert busy.kinds["sample"] > 1500 and len(busy.charts) == len(launch.criteria)
    outside = [m for m in busy.metrics if m.criterion is None]
    assert all(m.status == "NOT MEASURED" for m in outside)
    for fmt in (render_markdown, render_html):
        assert fmt(busy)
    assert orjson.dumps(to_json(busy))
