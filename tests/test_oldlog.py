"""A log written before typed events (warroom at 668a652, tests/fixtures/oldlog) reads exactly as it did.

The fixture's expected/ files were produced by that code; here today's code verifies, reports, folds and
replays the same log and must say the same, byte for byte; and every line, decoded to its typed record and
encoded again, is the line on disk.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent / "fixtures" / "oldlog"
sys.path.insert(0, str(HERE))

import expected  # noqa: E402

from warroom.core.events import decode, encode  # noqa: E402
from warroom.store.log import read_log  # noqa: E402

LOG = HERE / "oldlog.jsonl"


@pytest.fixture(scope="module")
def now_outputs() -> dict[str, bytes]:
    return expected.outputs(LOG)


@pytest.mark.parametrize("name", ["verify.txt", "report.json", "report.md", "report.html", "fold.json", "replay.json"])
def test_old_log_reads_as_it_did(now_outputs: dict[str, bytes], name: str) -> None:
    assert now_outputs[name].decode() == (expected.EXPECTED / name).read_text()


def test_old_log_holds_every_kind_the_code_writes() -> None:
    kinds = {ev.kind for ev in read_log(LOG).events}
    assert kinds >= {"launch", "session", "sample", "source", "alert", "recorder", "check", "uncheck", "note"}
    assert kinds >= {"signoff", "trigger_mode", "ack", "decision", "rollback", "backfill", "measurement"}
    assert "torn_recovered" in kinds


def test_each_old_line_encodes_again_to_its_bytes() -> None:
    lines = LOG.read_bytes().splitlines()
    assert len(lines) == len(read_log(LOG).events)
    for line in lines:
        ev = decode(line)
        again, digest = encode(ev.seq, ev.ts, ev.actor, ev.kind, ev.data, ev.prev)
        assert again == line + b"\n"
        assert digest == ev.hash


def test_typed_records_write_the_bytes_the_old_writers_wrote() -> None:
    """A writer that builds a record and writes `to_data()` puts the same line on disk as 668a652 did."""
    rewritten = set()
    for line in LOG.read_bytes().splitlines():
        ev = decode(line)
        to_data = getattr(ev.payload, "to_data", None)
        if to_data is None:
            continue
        again, _digest = encode(ev.seq, ev.ts, ev.actor, ev.kind, to_data(), ev.prev)
        assert again == line + b"\n", ev.kind
        rewritten.add(ev.kind)
    assert rewritten >= {"launch", "session", "sample", "source", "check", "uncheck", "note", "ack", "decision"}
    assert "trigger_mode" in rewritten


def test_every_kind_in_the_old_log_decodes_to_its_record() -> None:
    from warroom.core.records import RECORDS, Other, Unreadable

    for ev in read_log(LOG).events:
        assert not isinstance(ev.payload, Other | Unreadable), ev.kind
        assert type(ev.payload) is RECORDS[ev.kind]
