"""The report's fast pass (verified lines, plain samples folded straight from them) says exactly what the
straightforward fold says: Event by Event, every sample judged.

The log is a recorded launch with hostile text, then a tail of everything a fast path could get wrong:
recorder-shaped and hand-made samples (int values, "NaN", errors, no data, baseline-only, unreadable data),
repeated ticks, unknown criteria, a source time and an event time far ahead (doubts), time going back, a
refused check, a long silence (stale), swings across the thresholds (transitions, alerts), backfilled samples
and a backfill event. md, html and json must be byte for byte the same both ways.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from recorded import ACTORS, HOSTILE, record_launch

from warroom.core.events import SYSTEM, Actor, BadLine, decode, encode, iso, parse_iso
from warroom.core.lanes import Lane
from warroom.core.records import Sample, plain_sample, read_sample
from warroom.core.state import poll_interval
from warroom.core.text import json_bytes
from warroom.report.build import build_report, to_json
from warroom.report.render_html import render_html
from warroom.report.render_md import render_markdown
from warroom.store.log import LogCorrupt, VerifyProblem, chain_problem, iter_events_from, iter_lines

DAY = 86400.0


def _tail(path: Path) -> tuple[int, str, float]:
    last = path.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    d = orjson.loads(last)
    return d["seq"], d["hash"], parse_iso(d["ts"])


def append(path: Path, events: list[tuple[float, Actor, str, object]]) -> None:
    """Continue the chain with (ts, actor, kind, data) events, encoded as the log writes them."""
    seq, prev, _ = _tail(path)
    with open(path, "ab") as f:
        for ts, actor, kind, data in events:
            seq += 1
            line, prev = encode(seq, ts, actor, kind, data, prev)  # type: ignore[arg-type]
            f.write(line)


@pytest.fixture(scope="module")
def varied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fast") / "varied.jsonl"
    rec = record_launch(path, until="40m", hostile=True)
    launch = rec.launch
    _seq, _h, ts = _tail(path)
    epoch = orjson.loads(path.read_bytes().split(b"\n", 1)[0])["ts"]
    epoch_ts = parse_iso(epoch)
    rng = random.Random(16)
    crits = launch.criteria
    tick = {c.id: 0 for c in crits}
    out: list[tuple[float, Actor, str, object]] = []

    def sample(c, t: float, **data: object) -> None:
        nonlocal ts
        ts = max(ts, t) + 0.001
        iv = poll_interval(launch, c) or 5.0
        k = max(tick[c.id] + 1, int((t - epoch_ts) / iv))
        tick[c.id] = k
        body: dict[str, object] = {"criterion": c.id, "value": None, "t": t, "tick": k}
        body.update(data)
        out.append((ts, SYSTEM, "sample", body))

    t = ts
    for i in range(4000):
        t += rng.choice([1.0, 2.5, 5.0])
        c = rng.choice(crits)
        go = c.go_threshold
        centre = go.value if go.relative_to is None else 300.0
        swing = 3.0 if rng.random() < 0.1 else 0.3
        v = round(centre * (1 + rng.uniform(-swing, swing)) + rng.uniform(-1, 1), rng.choice([1, 3, 4]))
        roll = rng.random()
        if roll < 0.6:
            sample(c, t, value=float(v))  # plain: what the fast lane takes
        elif roll < 0.75:
            out.append((ts := max(ts, t) + 0.001, SYSTEM, "sample",
                        {"criterion": c.id, "value": float(v), "error": None, "reason": "", "t": t,
                         "tick": (tick.__setitem__(c.id, tick[c.id] + 1), tick[c.id])[1]}))  # fmt: skip
        elif roll < 0.78:
            sample(c, t, value=int(v))
        elif roll < 0.80:
            sample(c, t, value="NaN")
        elif roll < 0.82:
            sample(c, t, error="timeout", reason=HOSTILE)
        elif roll < 0.84:
            sample(c, t, error="no-data")
        elif roll < 0.85:
            sample(c, t, value=float(v), baseline=True)
        elif roll < 0.86:
            sample(c, t, value=float(v), tick=tick[c.id])  # a repeated slot
            tick[c.id] -= 1
        elif roll < 0.87:
            out.append((ts := max(ts, t) + 0.001, SYSTEM, "sample", {"criterion": "nope" + HOSTILE, "value": 1.0,
                                                                      "t": t, "tick": 1}))  # fmt: skip
        elif roll < 0.875:
            sample(c, t, value=float(v))
            out[-1][3]["t"] = t + 3 * 365 * DAY  # type: ignore[index]  # a source clock years ahead: a doubt
        elif roll < 0.88:
            out.append((ts := max(ts, t) + 0.001, SYSTEM, "sample", [c.id, v]))  # unreadable data
        elif roll < 0.885:
            sample(c, t, value=float(v), t_extra=1)  # an extra field: not plain
        elif roll < 0.89:
            sample(c, float(int(t)), value=float(v))
            out[-1][3]["t"] = int(t)  # type: ignore[index]
        else:
            sample(c, t, value=float(v))
        if i == 1500:  # one event from a clock 400 days ahead, then time goes back
            out.append((ts + 400 * DAY, ACTORS["commander"], "note", {"text": "from the future " + HOSTILE}))
        if i == 1800:
            out.append((ts := ts + 1, Actor("mallory", "evil"), "check", {"item": "deploy"}))  # no role: refused
            out.append((ts := ts + 1, ACTORS["devops"], "check", {"item": "deploy"}))
        if i == 2500:
            t += 3 * 3600  # a long silence: every criterion goes stale
            out.append((ts := t, ACTORS["commander"], "note", {"text": "after the silence"}))
        if i == 3000:
            c0 = crits[0]
            out.append((ts := ts + 1, SYSTEM, "sample", {"criterion": c0.id, "value": 1.0, "t": t - 600,
                                                         "backfilled": True, "query": "q"}))  # fmt: skip
            pts = [[int((t - 900 + 5 * k - epoch_ts) / 5), t - 900 + 5 * k, float(k)] for k in range(20)]
            pts.append([0, t - 100, None, "timeout", HOSTILE])
            out.append((ts := ts + 1, SYSTEM, "backfill", {"criterion": c0.id, "query": "q", "points": pts}))
    append(path, out)
    return path


def _render(rep) -> dict[str, bytes]:
    return {
        "md": render_markdown(rep).encode(),
        "html": render_html(rep).encode(),
        "json": json_bytes(to_json(rep), indent=True),
    }


def test_fast_report_equals_the_reference_fold(varied: Path) -> None:
    fast, ref = build_report(varied), build_report(varied, reference=True)
    assert ref.doubts and ref.refused and ref.backfilled  # the hostile tail was read, and said so
    assert any("not applied" in d for d in ref.doubts)
    a, b = _render(fast), _render(ref)
    for fmt in ("md", "html", "json"):
        assert a[fmt] == b[fmt], fmt
    lanes = [plain_sample(orjson.loads(ln)["data"]) for _o, ln, _c in iter_lines(varied) if b'"kind":"sample"' in ln]
    assert sum(p is not None for p in lanes) > len(lanes) // 2  # the fast lane was taken, most of the time
    assert sum(p is None for p in lanes) > 300  # and so was the slow one


def test_fast_report_of_a_prefix_with_a_torn_line(varied: Path, tmp_path: Path) -> None:
    lines = varied.read_bytes().split(b"\n")
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(b"\n".join(lines[: len(lines) * 2 // 3]) + b"\n" + lines[len(lines) * 2 // 3][:40])
    fast, ref = build_report(cut), build_report(cut, reference=True)
    assert fast.torn == ref.torn == 40
    assert _render(fast) == _render(ref)


def test_fast_report_stops_at_a_broken_chain_as_the_reference_does(varied: Path, tmp_path: Path) -> None:
    lines = varied.read_bytes().split(b"\n")
    i = len(lines) // 2
    lines[i] = lines[i].replace(b'"value":', b'"value": ', 1)  # edited: its hash no longer matches
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\n".join(lines))
    fast, ref = build_report(bad), build_report(bad, reference=True)
    assert not fast.integrity_ok and fast.problem == ref.problem
    assert _render(fast) == _render(ref)


def _old_iter_events_from(path: Path):
    """iter_events_from as it was before the fast pass: decode each line, then check the link."""
    seq, prev = 0, "0" * 64
    for n, (_off, line, complete) in enumerate(iter_lines(path), 1):
        if not complete:
            return
        try:
            ev = decode(line)
        except BadLine as e:
            problem = VerifyProblem(seq + 1, n, str(e))
            raise LogCorrupt(str(problem), problem) from None
        if ev.seq != seq + 1 or ev.prev != prev:
            problem = chain_problem(ev.seq, seq + 1, n)
            raise LogCorrupt(str(problem), problem)
        prev, seq = ev.hash, ev.seq
        yield ev


def _outcome(it) -> tuple[list, VerifyProblem | None]:
    got = []
    try:
        for x in it:
            got.append(x)
    except LogCorrupt as e:
        return got, e.problem
    return got, None


DAMAGE = [
    lambda ln: ln.replace(b'"v":1', b'"v":1.0'),  # accepted by decode (int(1.0)): the slow read, same event
    lambda ln: ln.replace(b'"v":1', b'"v":"x"'),
    lambda ln: ln.replace(b'"actor":{', b'"actor":[{', 1).replace(b'},"kind"', b'}],"kind"', 1),
    lambda ln: ln.replace(b',"hash":"', b', "hash":"'),
    lambda ln: ln.replace(b'"ts":"', b'"ts":"x'),
    lambda ln: ln[:-2] + b'" }',
    lambda ln: ln.replace(b'"data":', b'"dota":'),
    lambda ln: b"[" + ln + b"]",
    lambda ln: ln[:30],
    lambda ln: b"",
]


def _rehashed(line: bytes) -> bytes:
    """The line with its hash made to match its (damaged) content again, as a forger would."""
    body = line[:-75]
    return body + b',"hash":"' + hashlib.sha256(body + b"}").hexdigest().encode() + b'"}'


@pytest.mark.parametrize("rehash", [False, True])
@pytest.mark.parametrize("k", range(len(DAMAGE)))
def test_a_damaged_line_reads_as_it_always_did(varied: Path, tmp_path: Path, k: int, rehash: bool) -> None:
    lines = varied.read_bytes().split(b"\n")[:60]
    lines[40] = DAMAGE[k](lines[40])
    if rehash and len(lines[40]) > 75:
        lines[40] = _rehashed(lines[40])
    p = tmp_path / "d.jsonl"
    p.write_bytes(b"\n".join(lines) + b"\n")
    new, new_problem = _outcome(ev for _e, ev in iter_events_from(p))
    old, old_problem = _outcome(_old_iter_events_from(p))
    assert new == old and new_problem == old_problem
    assert len(new) >= 39


def test_plain_sample_reads_what_read_sample_reads() -> None:
    rng = random.Random(3)
    values: list[object] = [1.5, 0.0, float("inf"), 2, None, "NaN", True, "1.0", [1]]
    times: list[object] = [1767268800.25, 1767268800, float("nan"), None, "x", True]
    seen = 0
    for _ in range(20000):
        d: dict[str, object] = {}
        for key, pool in (("criterion", ["cfur", 3, None]), ("value", values), ("t", times),
                          ("tick", [7, True, 7.0, None]), ("error", [None, "timeout", ""]),
                          ("reason", ["", "why", None]), ("baseline", [True, False]),
                          ("backfilled", [True]), ("query", ["q"]), ("extra", [1])):  # fmt: skip
            if rng.random() < (0.9 if key in ("criterion", "value", "t", "tick") else 0.15):
                d[key] = rng.choice(pool)
        p = plain_sample(d)
        if p is not None:
            seen += 1
            c, v, t, tick = p
            assert read_sample(d) == Sample(c, v, None, "", t, tick), d
            assert type(v) is float and type(t) is float and type(tick) is int
    assert seen > 15
    rec = {"criterion": "cfur", "value": 99.5, "error": None, "reason": "", "t": 1767268800.5, "tick": 3}
    assert plain_sample(rec) == ("cfur", 99.5, 1767268800.5, 3)  # the recorder's own shape
    assert plain_sample({"criterion": "cfur", "value": float("nan"), "t": 1.5, "tick": 3}) is not None
    for near in (
        {**rec, "reason": "slow"},
        {**rec, "error": "timeout"},
        {**rec, "tick": True},
        {**rec, "t": 2},
        {**rec, "baseline": True, "error": 0},
        {"criterion": "c", "value": 1.0, "t": 1.0, "x": 1},
    ):
        assert plain_sample(near) is None, near


def test_parse_iso_gives_the_float_datetime_gives() -> None:
    rng = random.Random(5)
    for _ in range(20000):
        text = iso(rng.uniform(0, 4102444800))
        assert parse_iso(text) == datetime.fromisoformat(text).timestamp(), text
    for text in ["2026-01-01T12:00:00Z", "2026-01-01 12:00:00.250Z", "2026-01-01T12:00:00.250+00:00"]:
        assert parse_iso(text) == datetime.fromisoformat(text).timestamp()
    for text in ["2026-13-01T12:00:00.250Z", "2026-01-01T12:00:60.250Z", "2026-01-01T12:00:00.2x0Z", "x"]:
        with pytest.raises(ValueError):
            datetime.fromisoformat(text)
        with pytest.raises(ValueError):
            parse_iso(text)
    assert datetime.fromtimestamp(parse_iso("2026-01-01T12:00:00.999Z"), UTC).microsecond == 999000


@pytest.fixture(scope="module")
def long_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A long recorded launch (a poll a minute: T-0, days, metric periods and many chart bucket widenings go by
    inside runs of steady samples), then what a gathered run must not swallow: a tick a week ahead, a value
    beyond any seen at its level, time going back, a far source time, each in the middle of steady runs."""
    path = tmp_path_factory.mktemp("lanes") / "long.jsonl"
    rec = record_launch(path, events=12000, tick=60.0, seed=11)
    launch = rec.launch
    _seq, _h, ts = _tail(path)
    d = orjson.loads(path.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1])
    tick = d["data"]["tick"]
    out: list[tuple[float, Actor, str, object]] = []
    rng = random.Random(12)
    seen: dict[str, list[float]] = {c.id: [] for c in launch.criteria}  # values recorded lately: steady ones
    for ln in path.read_bytes().split(b"\n")[-1000:-1]:
        data = orjson.loads(ln)["data"]
        if isinstance(data, dict) and type(data.get("value")) is float and data.get("criterion") in seen:
            seen[data["criterion"]].append(data["value"])
    for k in range(600):
        tick += 1
        ts += 60.0
        for i, c in enumerate(launch.criteria):
            v = rng.choice(seen[c.id])
            body: dict[str, object] = {"criterion": c.id, "value": float(v), "t": ts + i * 0.001, "tick": tick}
            if k == 100 and i == 1:
                body["tick"] = tick + 10**6  # months of slots ahead: a doubt, not applied
            if k == 200 and i == 2:
                body["value"] = float(v) * 1.0001 + 1e-9  # past the level's hull: judged, the hull grows
            if k == 300 and i == 0:
                body["t"] = ts + 2 * 365 * DAY  # a source clock years ahead
            out.append((ts + i * 0.001, SYSTEM, "sample", body))
        if k == 400:  # time goes back two hours, mid-run, on a sample
            out.append((ts - 7200, SYSTEM, "sample", {"criterion": launch.criteria[0].id, "value": 1.0,
                                                      "t": ts - 7200, "tick": tick}))  # fmt: skip
    first = parse_iso(orjson.loads(path.read_bytes().split(b"\n", 1)[0])["ts"])
    ts = first + 366 * DAY - 1800  # half an hour before the log's year is up: steady runs across the limit
    for _k in range(60):
        tick += 1
        ts += 60.0
        for i, c in enumerate(launch.criteria):
            v = rng.choice(seen[c.id])
            out.append((ts + i * 0.001, SYSTEM, "sample", {"criterion": c.id, "value": float(v), "t": ts + i * 0.001,
                                                           "tick": tick}))  # fmt: skip
    append(path, out)
    return path


def _gathered(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of every run the fast pass folded from a lane."""
    from warroom.report import build

    runs: list[int] = []
    run = build._Lanes.run

    def counted(self: build._Lanes, ln: Lane) -> None:
        runs.append(len(ln.vs))
        run(self, ln)

    monkeypatch.setattr(build._Lanes, "run", counted)
    return runs


def test_lanes_fold_long_runs_as_the_reference_does(long_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = _gathered(monkeypatch)
    fast = build_report(long_run)
    ref = build_report(long_run, reference=True)
    for why in ("poll slot", "source time", "goes back", "more than a year after"):
        assert any(why in d for d in ref.doubts), why
    assert _render(fast) == _render(ref)
    samples = ref.kinds["sample"]
    assert sum(runs) > samples // 2 and max(runs) > 10  # most samples went by in runs, a chart bucket long
    assert ref.charts[0].series.width > DAY and len(ref.compare[0].days) > 1  # many edges were crossed in runs


@pytest.mark.parametrize("where", [0.3, 0.7, 0.99])
def test_lanes_stop_at_a_broken_chain_or_a_torn_line(long_run: Path, tmp_path: Path, where: float) -> None:
    lines = long_run.read_bytes().split(b"\n")
    i = int(len(lines) * where)
    bad = tmp_path / "bad.jsonl"
    lines[i] = lines[i].replace(b'"value":', b'"value": ', 1)  # inside a steady run: its hash no longer matches
    bad.write_bytes(b"\n".join(lines))
    torn = tmp_path / "torn.jsonl"
    torn.write_bytes(b"\n".join(lines[:i]) + b"\n" + lines[i][:50])
    for p in (bad, torn):
        fast, ref = build_report(p), build_report(p, reference=True)
        assert fast.integrity_ok is ref.integrity_ok and fast.problem == ref.problem and fast.torn == ref.torn
        assert _render(fast) == _render(ref)


def test_edge_is_where_the_slot_changes() -> None:
    """_edge, from a slot function and its guess, is the least float whose slot differs (every time from t below
    it shares t's slot): for chart buckets of any width and origin, metric periods, comparison days."""
    import math

    from warroom.report.build import BUCKETS, Series, _day, _edge

    rng = random.Random(8)
    for _ in range(3000):
        s = Series(rng.uniform(1.6e9, 1.8e9), 2.0 ** rng.randint(0, 22) * rng.choice([1.0, 0.1, 3.7]))
        t = s.origin + rng.uniform(0, BUCKETS) * s.width
        i = s.index(t)
        e = _edge(s.index, t, s.origin + (i + 1) * s.width)
        assert e > t and s.index(math.nextafter(e, -math.inf)) == i and s.index(e) != i
        bad = s.origin + (i + 1) * s.width + rng.choice([-1, 1]) * rng.uniform(0, 3) * s.width  # a poor guess
        e2 = _edge(s.index, t, bad)
        assert t < e2 <= e and s.index(math.nextafter(e2, -math.inf)) == i
        t0 = rng.uniform(1.6e9, 1.8e9)
        t = t0 + rng.uniform(-2, 40) * DAY
        day = _day(t0, t)
        guess = t0 if day < 0 else t0 + (day + 1) * DAY if day < 31 else math.inf
        e = _edge(lambda x, t0=t0: _day(t0, x), t, guess)
        if e != math.inf:
            assert _day(t0, math.nextafter(e, -math.inf)) == day != _day(t0, e)
