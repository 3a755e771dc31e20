"""An empty gate is not GO: `validate` warns about what a launch almost certainly needs and lacks, and
`check` (full or --criteria-only) exits 1 with the reason when no required criterion is judged."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import runcli

ROOT = Path(__file__).resolve().parent.parent


warroom = functools.partial(runcli.warroom, cwd=ROOT)


def test_a_config_cut_short_gets_warnings_and_check_is_not_go(tmp_path: Path):
    # the reported case: reconciliation-platform.yaml cut at line 79 still parses, with 0 criteria and 0 steps
    cut = tmp_path / "cut.yaml"
    cut.write_text("".join((ROOT / "configs" / "reconciliation-platform.yaml").read_text().splitlines(True)[:79]))
    res = warroom("validate", str(cut))
    assert res.returncode == 0, res.stderr  # still valid: these are warnings, not errors
    assert "0 criteria" in res.stdout
    assert f"{cut}: warning: no criteria" in res.stderr
    assert f"{cut}: warning: no rollback steps" in res.stderr
    assert "no required sign-off" not in res.stderr  # its roles do sign off

    for args in ((), ("--criteria-only",)):
        gate = warroom("check", str(cut), *args)
        assert gate.returncode == 1, gate.stdout + gate.stderr
        assert "Verdict: GO" not in gate.stdout
        assert "no required criteria: nothing is judged" in gate.stdout
    doc = json.loads(warroom("check", str(cut), "--criteria-only", "--json").stdout)
    assert doc["status"] == "PENDING" and doc["exit_code"] == 1 and doc["criteria"] == []


def test_advisory_only_no_steps_no_signoff_each_named(tmp_path: Path):
    cfg = tmp_path / "bare.yaml"
    cfg.write_text(
        "version: 1\n"
        "launch: {id: bare, name: Bare, t0: 2027-01-15T08:00:00Z}\n"
        "roles: [{id: commander, title: Commander, members: [dana], commander: true}]\n"
        "phases: [{id: go, name: Go, at: -1d}]\n"
        "sources:\n  sim: {type: simulated, signals: {x: {base: 1}}}\n"
        "criteria:\n  - {id: x, name: X, source: sim, query: x, go: '< 5', required: false}\n"
    )
    res = warroom("validate", str(cfg))
    assert res.returncode == 0, res.stderr
    warnings = [ln for ln in res.stderr.splitlines() if ": warning: " in ln]
    assert len(warnings) == 3, res.stderr
    assert "no required criteria: all 1 are 'required: false'" in warnings[0]
    assert "no rollback steps" in warnings[1]
    assert "no required sign-off" in warnings[2]
    gate = warroom("check", str(cfg), "--criteria-only")
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "no required criteria: nothing is judged" in gate.stdout


def test_a_complete_config_has_no_warnings():
    res = warroom("validate", str(ROOT / "configs" / "demo.yaml"))
    assert res.returncode == 0 and "warning" not in res.stderr, res.stderr
