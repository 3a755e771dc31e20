"""The report and the console agree: at several moments of a recorded launch, the report built from the log
up to that moment shows the same checklist and go/no-go table as `view()` of the fold at that moment.

The launch links a critical checklist item to P95 latency, whose breach needs two samples: between the
first breaching sample and the second the criterion is WARN with a breach pending, which is not `passing`,
so the item is open on the console, and must be open in the report too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from recorded import DEMO, record_launch

from warroom.core.state import LaunchState, view
from warroom.report.build import build_report
from warroom.store.log import read_log


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("agree")
    text = DEMO.read_text()
    linked = "critical: true, criterion: error-rate}"
    assert text.count(linked) == 1
    cfg = tmp / "demo-linked.yaml"
    cfg.write_text(
        text.replace(linked, "critical: true, criterion: api-p95}")
    )  # 'health' now ticks itself from P95 latency
    return record_launch(tmp / "launch.jsonl", until="12m", config=cfg)


def prefix(src: Path, dst: Path, n: int) -> None:
    """The first n events of the log, byte for byte (a log as it stood at that moment)."""
    with open(src, "rb") as f:
        lines = [next(f) for _ in range(n)]
    dst.write_bytes(b"".join(lines))


def test_report_checklist_and_table_match_the_view_at_several_moments(recorded, tmp_path: Path):
    events = read_log(recorded.path).events
    launch = recorded.launch
    st = LaunchState(launch)
    moments: dict[str, int] = {}
    for i, ev in enumerate(events, 1):
        st.apply(ev)
        if ev.kind != "sample":
            continue
        cv = next(c for c in view(st, ev.ts).criteria if c.criterion.id == "api-p95")
        off = ev.ts - launch.t0
        if off < 0 and "before" not in moments:
            moments["before"] = i
        elif off > 0 and "live" not in moments:
            moments["live"] = i
        elif cv.pending and ev.data.get("criterion") == "api-p95" and "pending" not in moments:
            moments["pending"] = i
        elif cv.level.value == "NO-GO" and "nogo" not in moments:
            moments["nogo"] = i
        elif off > 10 * 60 and cv.level.value in ("GO", "WARN") and "after" not in moments:
            moments["after"] = i
    assert set(moments) == {"before", "live", "pending", "nogo", "after"}, moments

    for name, n in moments.items():
        part = tmp_path / f"{name}.jsonl"
        prefix(recorded.path, part, n)
        st = LaunchState(launch)
        for ev in events[:n]:
            st.apply(ev)
        now = events[n - 1].ts
        v = view(st, now)
        rep = build_report(part)
        assert rep.last_ts == now
        # the go/no-go table: the same rows, levels, values and reasons
        assert [(r.criterion, r.status, r.actual, r.reason) for r in rep.final_rows] == [
            (cv.criterion.id, cv.level.value, cv.shown, cv.reason) for cv in v.criteria
        ], name
        assert (rep.status, rep.reasons) == (v.status, v.reasons), name
        # the checklist: the same items done, phase by phase
        assert [(p.id, p.done, p.total) for p in rep.phases] == [(p.id, p.done, p.total) for p in v.phases], name
        done = {i.id for p in rep.phases for i in p.items if i.done}
        assert done == set(v.items_done), name
        health = next(i for p in rep.phases for i in p.items if i.id == "health")
        if name == "pending":
            assert not health.done  # WARN with a breach pending is not passing: open on both
            assert next(c for c in v.criteria if c.criterion.id == "api-p95").pending
        if name == "after":
            assert health.done
