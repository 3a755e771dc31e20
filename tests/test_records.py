"""Typed event records: one per kind, read once from a line's data with the fold's safe defaults."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from warroom.core.describe import describe
from warroom.core.events import KINDS, SYSTEM, Event
from warroom.core.records import (
    RECORDS,
    Kind,
    Other,
    Rollback,
    RollbackPhase,
    Sample,
    SourceHealth,
    TriggerMode,
    TriggerModeSet,
    Unreadable,
    Verdict,
    payload_of,
)

ROOT = Path(__file__).resolve().parent.parent


def test_every_kind_the_code_appends_has_a_record_and_a_line_in_kinds():
    """A kind written anywhere in warroom/ (a literal first argument of an append) is in the registry."""
    written: set[str] = set()
    for f in (ROOT / "warroom").rglob("*.py"):
        written |= set(re.findall(r'\.append\(\s*"([a-z_]+)",\s*[{A-Za-z]', f.read_text()))
        written |= set(re.findall(r'record_event\(\s*"([a-z_]+)"', f.read_text()))
    written.discard("")
    assert written, "the scan found no appends"
    assert written <= set(RECORDS), written - set(RECORDS)
    assert set(KINDS) == {str(k) for k in Kind} == set(RECORDS)
    assert all(KINDS.values())


def test_enums_are_the_strings_in_the_log():
    assert RollbackPhase.STEP_FINISHED == "step_finished"
    assert orjson.dumps({"phase": RollbackPhase.REQUESTED, "mode": TriggerMode.AUTO}) == (
        b'{"phase":"requested","mode":"auto"}'
    )
    assert Verdict.NOGO == "NO-GO"


def test_hostile_sample_fields_become_the_folds_defaults():
    s = payload_of("sample", {"criterion": 7, "value": "NaN", "t": "soon", "tick": True, "reason": None})
    assert isinstance(s, Sample)
    assert s.criterion == "7"
    assert s.value != s.value  # NaN, as the fold always read "NaN" from Prometheus
    assert s.t is None and s.tick is None and s.reason == "" and s.error is None
    assert payload_of("sample", {"value": 10**400}).value is None


def test_other_fields_fall_back_as_the_fold_did():
    rb = payload_of("rollback", {"phase": "nonsense", "index": "2", "lines": "abc", "steps": {"a": 1}})
    assert isinstance(rb, Rollback) and rb.phase is None and rb.step_index == -1 and rb.lines == () and rb.steps == ()
    tm = payload_of("trigger_mode", {"criterion": "p95", "mode": "sometimes"})
    assert tm == TriggerModeSet("p95", None)
    src = payload_of("source", {"source": "prom", "ok": "yes"})
    assert isinstance(src, SourceHealth) and src.ok is False and src.error == "error" and src.feed == "readings"
    assert payload_of("decision", {"verdict": "go"}).verdict == Verdict.NOGO  # type: ignore[union-attr]
    assert payload_of("brand_new_kind", {"x": 1}) == Other("brand_new_kind")


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no words")


def test_a_payload_that_cannot_be_read_is_kept_shown_and_not_folded(launch_for_records):
    ev = Event(1, 3, 1e9, SYSTEM, "note", {"text": _Unprintable()})
    assert isinstance(ev.payload, Unreadable)
    assert "unreadable payload" in describe(ev)
    from warroom.core.state import fold

    st = fold(launch_for_records, [ev])
    assert st.notes == [] and st.seq == 3


def test_the_payload_is_read_once_and_kept():
    ev = Event(1, 1, 1e9, SYSTEM, "sample", {"criterion": "p95", "value": 1.0, "t": 1e9})
    assert ev.payload is ev.payload
    assert ev.typed is ev.payload


@pytest.fixture
def launch_for_records():
    from warroom.config import load_launch

    return load_launch(str(ROOT / "tests" / "fixtures" / "minimal.yaml"))
