"""The decision log with real processes: concurrent writers, SIGKILLed writers, tampering, the CLI.

Writers are separate Python processes (the way consoles on one bastion share
a log); `warroom verify` and `warroom log` run as the installed command.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from waiting import wait_for

from warroom.core.events import GENESIS, SCHEMA_VERSION, Actor, encode, iso
from warroom.store.log import DecisionLog, Follower, LogCorrupt, iter_events, read_log, verify

WRITER = r"""
import os, sys
from warroom.core.events import Actor
from warroom.store.log import DecisionLog
path, name, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with DecisionLog(path, Actor("user", "host", name=name)) as log:
    open(f"{go}.{name}", "w").close()  # open, and spinning on the start flag
    while not os.path.exists(go):
        pass
    for i in range(count):
        log.append("note", {"writer": name, "i": i, "text": name * 20})
"""

KILLED = r"""
import os, random, sys
from warroom.core.events import Actor
from warroom.store.log import DecisionLog
path, seed, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rnd = random.Random(seed)
with DecisionLog(path, Actor("user", "host", name=f"writer-{seed}")) as log:
    os.write(1, b"recovered %d\n" % log.append("session", {"state": "opened"}).seq)
    os.write(1, b"torn-recovered %d\n" % log.recovered_torn)
    while True:
        if mode == "mid-write":
            os.write(1, b"big\n")
            size = 16 << 20
        else:
            size = rnd.choice([20, 200, 2000, 200_000])
        ev = log.append("note", {"text": "x" * size})
        os.write(1, b"acked %d\n" % ev.seq)  # printed only after append returned: the event is durable
"""


def _warroom() -> str:
    exe = shutil.which("warroom")
    assert exe, "the warroom command is not installed (pip install -e '.[test]')"
    return exe


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH: the installed command runs this checkout's package even if an editable install points elsewhere
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    return subprocess.run([_warroom(), *args], capture_output=True, text=True, timeout=120, env=env)


def _write(path: Path, n: int, actor: Actor | None = None) -> list[bytes]:
    with DecisionLog(path, actor or Actor("dana", "bastion", "10.0.0.7", "Dana")) as log:
        for i in range(n):
            log.append("note", {"text": f"note {i}"})
    return path.read_bytes().split(b"\n")


# ------------------------------------------------------------------ concurrency


@pytest.mark.slow
def test_eight_processes_append_a_thousand_each(tmp_path):
    path, go = tmp_path / "launch.jsonl", tmp_path / "go"
    names = [f"w{k}" for k in range(8)]
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), n, "1000", str(go)]) for n in names]
    wait_for(
        "every writer to open the log and spin on the start flag",
        lambda: all(Path(f"{go}.{n}").exists() for n in names),
        detail=lambda: [p.poll() for p in procs],
    )
    go.touch()
    assert all(p.wait(timeout=240) == 0 for p in procs)

    raw = path.read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == 8000
    res = read_log(path)
    assert res.problem is None and res.torn == b""
    assert [e.seq for e in res.events] == list(range(1, 8001))
    assert verify(path).ok and verify(path).count == 8000
    per_writer: dict[str, list[int]] = {n: [] for n in names}
    for e in res.events:
        assert e.data["text"] == e.data["writer"] * 20  # no line holds another writer's bytes
        per_writer[e.data["writer"]].append(e.data["i"])
    assert all(v == list(range(1000)) for v in per_writer.values())
    # the writers really did take turns, not run one after another
    switches = sum(1 for a, b in zip(res.events, res.events[1:], strict=False) if a.actor.name != b.actor.name)
    assert switches > 100


# ------------------------------------------------------------------ crashes


def _reader(proc: subprocess.Popen[bytes], lines: list[str], big: threading.Event) -> None:
    assert proc.stdout is not None
    for raw in proc.stdout:
        text = raw.decode().strip()
        lines.append(text)
        if text == "big":
            big.set()


@pytest.mark.slow
def test_sigkilled_writers_never_lose_a_complete_event(tmp_path):
    """30 writers killed with SIGKILL: at random moments, and (every third) in the middle of a 16 MB write."""
    path = tmp_path / "launch.jsonl"
    torn_file = Path(str(path) + ".torn")
    rnd = random.Random(4242)
    kept: list[str] = []  # hashes of every event seen so far; later reads must still have them, in order
    torn_seen = recovered = 0
    for k in range(30):
        mode = "mid-write" if k % 3 == 2 else "random"
        proc = subprocess.Popen([sys.executable, "-c", KILLED, str(path), str(k), mode], stdout=subprocess.PIPE)
        lines: list[str] = []
        big = threading.Event()
        reader = threading.Thread(target=_reader, args=(proc, lines, big), daemon=True)
        reader.start()
        if mode == "mid-write":
            assert big.wait(30)
            size0 = path.stat().st_size
            deadline = time.monotonic() + 10
            while path.stat().st_size == size0 and time.monotonic() < deadline:
                pass  # the 16 MB line is being written: kill now
        else:
            deadline = time.monotonic() + 30
            while not any(x.startswith("acked") for x in lines) and time.monotonic() < deadline:
                time.sleep(0.001)
            time.sleep(rnd.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        reader.join(timeout=30)

        acked = max((int(x.split()[1]) for x in lines if x.startswith("acked")), default=0)
        res = read_log(path)
        assert res.problem is None, res.problem  # always readable
        assert [e.seq for e in res.events] == list(range(1, len(res.events) + 1))
        assert len(res.events) >= acked  # every event whose append returned is there
        assert [e.hash for e in res.events[: len(kept)]] == kept  # nothing earlier changed
        kept = [e.hash for e in res.events]
        if any(x == "torn-recovered 1" for x in lines):
            recovered += 1
        if res.torn:
            torn_seen += 1
            assert b"\n" not in res.torn and not verify(path).problem
            assert f"torn last line ({len(res.torn)} bytes)" in _run("verify", str(path)).stdout

    # the next writer sets a torn tail aside and carries on
    with DecisionLog(path, Actor("user", "host")) as log:
        ev = log.append("note", {"text": "after the crashes"})
        recovered += log.recovered_torn
    assert torn_seen >= 1, "no kill landed inside a write: the mid-write kills should have"
    assert recovered == torn_seen
    assert torn_file.exists() and torn_file.read_bytes().count(b"\n") == torn_seen
    res = read_log(path)
    assert res.torn == b"" and res.problem is None and res.events[-1].seq == ev.seq == len(res.events)
    out = _run("verify", str(path))
    assert out.returncode == 0 and out.stdout.startswith(f"OK: {ev.seq} events")


def test_torn_tail_is_reported_then_set_aside(tmp_path):
    path = tmp_path / "launch.jsonl"
    lines = _write(path, 3)
    partial = lines[1][: len(lines[1]) // 2]
    with open(path, "ab") as f:  # what a writer killed inside write() leaves behind
        f.write(partial)
    res = read_log(path)
    assert len(res.events) == 3 and res.torn == partial and res.problem is None
    out = _run("verify", str(path))
    assert out.returncode == 0
    assert f"OK: 3 events, chain intact; a torn last line ({len(partial)} bytes)" in out.stdout
    assert "still at the end of the log" in out.stdout and "set aside" not in out.stdout  # nothing was moved yet
    assert path.read_bytes().endswith(partial)
    with DecisionLog(path, Actor("u", "h")) as log:
        ev = log.append("note", {"text": "next"})
        assert log.recovered_torn == 1
    recovery = read_log(path).events[3]
    assert recovery.kind == "torn_recovered" and recovery.prev == res.events[-1].hash
    assert recovery.data["bytes"] == len(partial)
    assert recovery.data["sha256"] == hashlib.sha256(partial).hexdigest()
    assert ev.seq == 5 and ev.prev == recovery.hash
    assert Path(str(path) + ".torn").read_bytes() == partial + b"\n"
    assert verify(path).ok and verify(path).count == 5 and verify(path).torn == 0
    shown = _run("log", str(path)).stdout
    assert f"recovered a torn last line: {len(partial)} bytes" in shown and recovery.data["sha256"] in shown


def test_append_refuses_to_chain_onto_a_damaged_last_event(tmp_path):
    path = tmp_path / "launch.jsonl"
    lines = _write(path, 2)
    path.write_bytes(b"\n".join([lines[0], lines[1].replace(b"note 1", b"note X")]) + b"\n")
    with DecisionLog(path, Actor("u", "h")) as log, pytest.raises(LogCorrupt, match="last event is damaged"):
        log.append("note", {"text": "x"})
    assert path.read_bytes().count(b"\n") == 2


def test_timestamps_never_go_backwards(tmp_path):
    times = iter([1000.0, 2000.0, 1500.0, 2500.0])
    with DecisionLog(tmp_path / "l.jsonl", Actor("u", "h"), clock=lambda: next(times)) as log:
        stamps = [log.append("note", {}).ts for _ in range(4)]
    assert stamps == [1000.0, 2000.0, 2000.0, 2500.0]


# ------------------------------------------------------------------ tampering


def _tamper(path: Path, how: str) -> None:
    lines = path.read_bytes().rstrip(b"\n").split(b"\n")
    if how == "edited":
        lines[4] = lines[4].replace(b"note 4", b"note 9")
    elif how == "deleted":
        del lines[4]
    elif how == "swapped":
        lines[4], lines[5] = lines[5], lines[4]
    elif how == "inserted":
        lines.insert(4, lines[1])
    elif how == "forged":  # a new event 5 with a correct hash of its own, spliced into the chain
        prev = orjson.loads(lines[3])["hash"]
        lines.insert(4, encode(5, 1.0, Actor("mallory", "x"), "note", {"text": "forged"}, prev)[0].rstrip(b"\n"))
    elif how == "rehashed":  # event 5 edited and its hash recomputed: event 6 still links to the original
        d = orjson.loads(lines[4])
        lines[4] = encode(d["seq"], 1.0, Actor("mallory", "x"), "note", {"text": "rewritten"}, d["prev"])[0][:-1]
    path.write_bytes(b"\n".join(lines) + b"\n")


@pytest.mark.parametrize(
    ("how", "seq", "words"),
    [
        ("edited", 5, "content does not match its hash: the event was edited"),
        ("deleted", 5, "found seq 6 where 5 belongs: event 5 was deleted or moved"),
        ("swapped", 5, "found seq 6 where 5 belongs: event 5 was deleted or moved"),
        ("inserted", 5, "found seq 2 where 5 belongs: an event was inserted or events were reordered"),
        ("forged", 5, "a second event claims seq 5: an event was inserted"),
        ("rehashed", 5, "event 5 no longer matches the hash event 6 recorded for it: it was edited and re-hashed"),
    ],
)
def test_verify_names_the_first_bad_event(tmp_path, how, seq, words):
    path = tmp_path / "launch.jsonl"
    _write(path, 10)
    assert _run("verify", str(path)).stdout.startswith("OK: 10 events, chain intact")
    _tamper(path, how)
    res = verify(path)
    assert not res.ok and res.problem.seq == seq and words in res.problem.reason
    assert res.count == seq - 1  # events before the first bad one are intact
    out = _run("verify", str(path))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"TAMPERED: {path}: event seq {seq} " in out.stdout and words in out.stdout
    # readers stop at the same place and say where
    rl = read_log(path)
    assert rl.problem is not None and rl.problem.seq in (seq, seq + 1)
    assert [e.seq for e in rl.events] == list(range(1, len(rl.events) + 1))


@pytest.mark.parametrize(
    "line", [b"", b"not json", b"[1, 2]", b'{"hash": 5}', b'{"v":1,"actor":"x","hash":"' + b"0" * 64 + b'"}']
)
def test_verify_and_readers_survive_garbage_lines(tmp_path, line):
    path = tmp_path / "launch.jsonl"
    lines = _write(path, 3)
    path.write_bytes(b"\n".join([lines[0], line, lines[1], lines[2]]) + b"\n")
    res = verify(path)
    assert not res.ok and res.problem.seq == 2 and res.problem.line == 2 and res.count == 1
    assert read_log(path).problem is not None and len(read_log(path).events) == 1
    with pytest.raises(LogCorrupt):
        Follower(path).poll()
    out = _run("log", str(path))
    assert out.returncode == 1 and "Traceback" not in out.stderr and "chain broken" in out.stderr


# ------------------------------------------------------------------ reading, following, the CLI


def test_warroom_log_prints_a_timeline_and_json(tmp_path):
    path = tmp_path / "launch.jsonl"
    actor = Actor("dana", "bastion", "10.0.0.7", "Dana (CTO)")
    with DecisionLog(path, actor) as log:
        log.append("signoff", {"role": "cto", "verdict": "GO", "reason": "all green"})
        log.append("note", {"text": "deploy started \x1b[31m"})
        log.append("decision", {"verdict": "NO-GO", "reason": "CFUR low"})
    out = _run("log", str(path))
    assert out.returncode == 0, out.stderr
    rows = out.stdout.splitlines()
    assert len(rows) == 3
    assert rows[0].split()[0] == "1" and "Dana (CTO) (dana@bastion)" in rows[0] and "sign-off cto: GO" in rows[0]
    assert "final decision: NO-GO" in rows[2] and "CFUR low" in rows[2]
    js = _run("log", "--json", str(path))
    events = [orjson.loads(x) for x in js.stdout.splitlines()]
    assert [e["seq"] for e in events] == [1, 2, 3] and events[1]["data"]["text"] == "deploy started \x1b[31m"
    assert events[0]["actor"] == {"user": "dana", "host": "bastion", "ssh": "10.0.0.7", "name": "Dana (CTO)"}
    assert [e["hash"] for e in events] == [e.hash for e in iter_events(path)]
    only = _run("log", "--kind", "decision", str(path))
    assert len(only.stdout.splitlines()) == 1 and "NO-GO" in only.stdout
    missing = _run("verify", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "no such log file" in missing.stderr


FOLLOWED = r"""
import sys, time
from warroom.core.events import Actor
from warroom.store.log import DecisionLog
with DecisionLog(sys.argv[1], Actor("other", "host")) as log:
    for i in range(int(sys.argv[2])):
        log.append("check", {"item": f"item-{i}"})
        time.sleep(0.002)
"""


def test_follower_picks_up_appends_from_another_process(tmp_path):
    path = tmp_path / "launch.jsonl"
    follower = Follower(path)
    assert follower.poll() == []  # no log yet
    with DecisionLog(path, Actor("me", "host")) as log:
        log.append("note", {"text": "mine"})
        got = follower.poll()
        assert [e.seq for e in got] == [1]
        proc = subprocess.Popen([sys.executable, "-c", FOLLOWED, str(path), "60"])

        def caught_up() -> bool:
            got.extend(follower.poll())
            return len(got) >= 61

        wait_for("the other process's 60 appends", caught_up, every=0.005, detail=lambda: f"{len(got)} events read")
        assert proc.wait(timeout=60) == 0
        log.append("note", {"text": "mine again"})  # our own append after theirs re-reads the tail
    got += follower.poll()
    assert [e.seq for e in got] == list(range(1, 63))
    assert [e.data.get("item") for e in got[1:61]] == [f"item-{i}" for i in range(60)]
    assert got[-1].prev == got[-2].hash and follower.poll() == []
    with open(path, "ab") as f:
        f.write(b'{"v":1,"seq":63')  # a writer in the middle of its write: not an event yet
    assert follower.poll() == [] and follower.torn == b'{"v":1,"seq":63'


def test_follower_sees_tampering_after_its_position(tmp_path):
    path = tmp_path / "launch.jsonl"
    lines = _write(path, 3)
    follower = Follower(path)
    assert len(follower.poll()) == 3
    with open(path, "ab") as f:
        f.write(lines[0] + b"\n")  # event 1 again
    with pytest.raises(LogCorrupt) as exc:
        follower.poll()
    assert exc.value.problem.seq == 4 and exc.value.problem.line == 4


# ------------------------------------------------------------------ encoding


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_iso_matches_datetime_to_the_millisecond(ts):
    assert iso(ts) == datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.text(), json_values, max_size=4),
    st.text(),
    st.text(min_size=1),
    st.one_of(st.none(), st.text()),
    st.integers(1, 2**40),
)
def test_encoded_line_is_canonical_orjson_with_its_hash_last(data, kind, user, name, seq):
    actor = Actor(user, "host", None, name)
    line, digest = encode(seq, 1767268800.5, actor, kind, data, GENESIS)
    body = orjson.dumps(
        {
            "v": SCHEMA_VERSION,
            "seq": seq,
            "ts": iso(1767268800.5),
            "actor": actor.to_json(),
            "kind": kind,
            "data": data,
            "prev": GENESIS,
        }
    )
    assert line == body[:-1] + b',"hash":"' + digest.encode() + b'"}\n'
    assert orjson.loads(line)["hash"] == digest


def test_log_files_are_not_world_readable(tmp_path):
    path = tmp_path / "launch.jsonl"
    _write(path, 1)
    assert path.stat().st_mode & 0o007 == 0
    assert os.access(path, os.R_OK)


# ------------------------------------------------------------------ the launch bound to a log


def test_a_log_carries_its_launch_and_t0(tmp_path):
    from warroom.config import ConfigError, load_launch
    from warroom.store.launchlog import bind, launch_from_log, with_t0

    cfg = Path(__file__).resolve().parent / "fixtures" / "minimal.yaml"
    launch = load_launch(cfg)
    moved = with_t0(launch, launch.t0 + 3600)
    path = tmp_path / "launch.jsonl"
    with DecisionLog(path, Actor("u", "h")) as log:
        bound, ev = bind(log, moved, cfg.read_text(), str(cfg))
        assert bound is moved and ev is not None and ev.seq == 1 and ev.data["t0"] == launch.t0 + 3600
        again, ev2 = bind(log, launch, cfg.read_text(), str(cfg))  # the log's T-0 wins over the config's
        assert ev2 is None and again.t0 == launch.t0 + 3600
        other = launch.model_copy(update={"launch": launch.launch.model_copy(update={"id": "other"})})
        with pytest.raises(ConfigError, match="this log belongs to launch 'fixture', not 'other'"):
            bind(log, other, cfg.read_text(), str(cfg))
    replayed = launch_from_log(path)
    assert replayed.t0 == launch.t0 + 3600 and [c.id for c in replayed.criteria] == ["error-rate"]
    _write(tmp_path / "plain.jsonl", 1)
    with pytest.raises(ConfigError, match="no launch event in this log"):
        launch_from_log(tmp_path / "plain.jsonl")
    bad = tmp_path / "bad.jsonl"
    with DecisionLog(bad, Actor("u", "h")) as log:
        log.append("launch", {"id": "fixture", "config": cfg.read_text(), "t0": "soon"})
    with pytest.raises(ConfigError, match="has no usable T-0: 'soon'"):
        launch_from_log(bad)
