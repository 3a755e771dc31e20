"""The decision log on a real PostgreSQL (tests/pgserver.py): many processes, leases, faults, copies.

Every process here is a separate interpreter talking to the server over TCP, as consoles on other
hosts would; "hosts" differ by the identity each process records.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pgserver
import pytest
import runcli
from cutproxy import cut_proxy
from recorded import record_launch
from waiting import wait_for

from warroom.core.events import Actor, decode, encode
from warroom.store.base import OutcomeUnknown, StoreUnavailable, write_failure
from warroom.store.open import open_reader, open_store
from warroom.store.pg import LEASE_TTL, PgLog

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "tests" / "pgworker.py"


class Proc:
    """A worker process whose output lines are read as they come."""

    def __init__(self, *args: str) -> None:
        self.p = subprocess.Popen(
            [sys.executable, str(WORKER), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=runcli.checkout_env(),
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, pred: Callable[[str], bool], timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                err = self.p.stderr.read() if self.p.poll() is not None and self.p.stderr else ""
                raise AssertionError(f"no matching line within {timeout}s; saw {self.seen[-5:]} {err}")
            try:
                line = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            self.seen.append(line)
            if pred(line):
                return line

    def drain(self) -> list[str]:
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return self.seen

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.p.pid, sig)

    def stop(self) -> None:
        if self.p.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGKILL)
        self.p.wait(10)


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        p.stop()


def start(procs: list[Proc], *args: str) -> Proc:
    p = Proc(*args)
    procs.append(p)
    return p


def data_of(uri: str) -> list[dict[str, object]]:
    r = open_reader(uri)
    try:
        return [dict(ev.data, seq=ev.seq, host=ev.actor.host) for ev in r.events()]
    finally:
        r.close()


# ---------------------------------------------------------------- appends


@pytest.mark.slow
def test_eight_processes_appending_a_thousand_each_leave_one_valid_chain(pg_db: str, procs: list[Proc]) -> None:
    uri = pg_db + "#many"
    workers = [start(procs, "append", uri, "1000", f"w{k}") for k in range(8)]
    for w in workers:
        w.expect(lambda s: s.startswith("done"), timeout=280)
    r = open_reader(uri)
    res = r.verify()
    assert res.ok, res.problem
    assert res.count == 8000
    seen = [(ev.data["tag"], ev.data["i"]) for ev in r.events()]
    r.close()
    assert sorted(seen) == sorted((f"w{k}", i) for k in range(8) for i in range(1000))  # none lost, none twice
    for k in range(8):  # each writer's own events are in the order it appended them
        assert [i for tag, i in seen if tag == f"w{k}"] == list(range(1000))


def test_a_follower_in_another_process_sees_an_append_within_a_second(pg_db: str, procs: list[Proc]) -> None:
    uri = pg_db + "#follow"
    log = open_store(uri, Actor(user="a", host="bastion", ssh=None))
    f = start(procs, "follow", uri)
    f.expect(lambda s: s == "ready")
    for _ in range(20):
        ev = log.append("note", {"text": "tick"})
        done = time.time()
        line = f.expect(lambda s, n=ev.seq: s.startswith(f"seen {n} "), timeout=5)
        assert float(line.split()[2]) - done < 1.0
        time.sleep(0.05)
    log.close()


def test_the_database_records_the_role_it_authenticated_not_a_name_the_client_gives(
    pg_server: pgserver.PgServer, pg_db: str
) -> None:
    pg_server.sql(pg_db.rsplit("/", 1)[1], "CREATE ROLE dana LOGIN")
    uri = pg_server.dsn(pg_db.rsplit("/", 1)[1], user="dana") + "#roles"
    pg_server.sql(pg_db.rsplit("/", 1)[1], "GRANT ALL ON SCHEMA public TO dana")
    log = open_store(uri, Actor(user="mallory", host="laptop", ssh=None, name="Not Dana"))
    assert isinstance(log, PgLog)
    ev = log.append("note", {"text": "hello"})
    assert log.role == "dana"
    assert log.roles() == {ev.seq: "dana"}
    # a client that names another role in its insert still gets its own recorded
    log._db().execute("UPDATE warroom_event SET role = 'someone_else' WHERE launch = 'roles'")
    assert log.roles() == {ev.seq: "dana"}
    log.close()


# ---------------------------------------------------------------- leases


def test_after_the_recorder_is_killed_another_takes_over_within_five_seconds(pg_db: str, procs: list[Proc]) -> None:
    uri = pg_db + "#lease"
    a = start(procs, "lead", uri, "host-a")
    first = a.expect(lambda s: s.startswith("acquired"))
    b = start(procs, "lead", uri, "host-b")
    time.sleep(1.0)
    assert not any(s.startswith("acquired") for s in b.drain())  # one recorder at a time
    a.signal(signal.SIGKILL)
    killed = time.time()
    line = b.expect(lambda s: s.startswith("acquired"), timeout=10)
    took = float(line.split("at=")[1]) - killed
    assert took < 5.0
    assert int(line.split("term=")[1].split()[0]) > int(first.split("term=")[1].split()[0])


def test_a_recorder_paused_past_its_lease_is_fenced_and_appends_nothing_after_resuming(
    pg_db: str, procs: list[Proc]
) -> None:
    uri = pg_db + "#fence"
    a = start(procs, "lead", uri, "host-a")
    a.expect(lambda s: s.startswith("appended"))
    a.signal(signal.SIGSTOP)
    b = start(procs, "lead", uri, "host-b")
    took = b.expect(lambda s: s.startswith("acquired"), timeout=15)
    b_first = int(took.split("seq=")[1].split()[0])
    b.expect(lambda s: s.startswith("appended"))
    a.signal(signal.SIGCONT)
    a.expect(lambda s: s.startswith("fenced"), timeout=10)
    assert a.p.wait(10) == 3
    b.expect(lambda s: s.startswith("appended"))
    events = data_of(uri)
    after = [e for e in events if e["host"] == "host-a" and int(str(e["seq"])) > b_first]
    assert after == []  # not one sample from the paused recorder once the other took over
    assert open_reader(uri).verify().ok


def test_a_second_rollback_on_another_host_is_refused_naming_the_holder_and_host(pg_db: str, procs: list[Proc]) -> None:
    uri = pg_db + "#rollback"
    first = start(procs, "rollback", uri, "bastion", "Ana (commander)")
    first.expect(lambda s: s.startswith("held"))
    second = start(procs, "rollback", uri, "laptop-cto", "Dana (CTO)")
    line = second.expect(lambda s: s.startswith("refused"))
    assert "Ana (commander) on bastion" in line
    assert second.p.wait(10) == 1
    first.signal(signal.SIGKILL)
    first.p.wait(10)
    time.sleep(LEASE_TTL + 0.5)  # a dead holder's lease runs out: the next rollback may start
    third = start(procs, "rollback", uri, "laptop-cto", "Dana (CTO)")
    third.expect(lambda s: s.startswith("held term=2"))


# ---------------------------------------------------------------- faults


def _recorded(lines: list[str]) -> list[tuple[int, str, int]]:
    out = []
    for s in lines:
        if s.startswith("recorded "):
            _, seq, digest, i = s.split()
            out.append((int(seq), digest, int(i)))
    return out


def _nothing_reported_lost(uri: str, reported: list[tuple[int, str, int]]) -> None:
    r = open_reader(uri)
    res = r.verify()
    assert res.ok, res.problem
    stored = {ev.seq: (ev.hash, ev.data["i"]) for ev in r.events()}
    r.close()
    for seq, digest, i in reported:
        assert stored.get(seq) == (digest, i), f"reported as recorded but not stored: seq {seq}"
    values = [i for _h, i in stored.values()]
    assert len(values) == len(set(values))  # a retry never wrote an event twice


def test_killed_connections_are_reopened_and_nothing_reported_recorded_is_lost(
    pg_server: pgserver.PgServer, pg_db: str, procs: list[Proc]
) -> None:
    uri = pg_db + "#terminate"
    w = start(procs, "writer", uri)
    w.expect(lambda s: s.startswith("recorded"))
    for _ in range(3):
        before = len(_recorded(w.drain()))
        killed = pg_server.sql(
            "postgres",
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'warroom pid {w.p.pid}'",
        )
        assert killed  # its connection was there and is gone
        w.expect(lambda s: s.startswith("recorded"))
        # it carried on by itself
        wait_for(
            "ten more records after its connection was cut",
            lambda before=before: len(_recorded(w.drain())) >= before + 10,
            detail=lambda before=before: f"{len(_recorded(w.seen))} recorded, {before} before the cut",
        )
    w.stop()
    _nothing_reported_lost(uri, _recorded(w.drain()))


def test_a_commit_whose_answer_is_lost_is_recorded_once_and_said_recorded(
    pg_server: pgserver.PgServer, pg_db: str
) -> None:
    """The network cut between the database's commit and its answer: the append asks again on a new
    connection, finds its event there, and returns it; nothing is written twice."""
    with cut_proxy(pg_server.port) as proxy:
        log = open_store(proxy.uri(pg_db) + "#lost-answer", Actor(user="a", host="h", ssh=None))
        try:
            log.append("note", {"text": "before"})
            proxy.cut_next_reply()
            ev = log.append("note", {"text": "its answer lost"})
            assert proxy.replies_cut == 1  # the fault happened: the statement went, its answer did not come back
            after = log.append("note", {"text": "after"})
        finally:
            log.close()
    texts = [(d["seq"], d["text"]) for d in data_of(pg_db + "#lost-answer") if "text" in d]
    assert texts == [(ev.seq - 1, "before"), (ev.seq, "its answer lost"), (after.seq, "after")]


def test_a_commit_whose_answer_is_lost_while_the_database_stays_away_is_not_confirmed_never_not_recorded(
    pg_server: pgserver.PgServer, pg_db: str
) -> None:
    """The answer lost and the database unreachable until the append gives up: it cannot tell whether its
    statement committed, so it must not say "not recorded" (here it was recorded). It raises OutcomeUnknown
    with the event it sent, which is the one the database holds."""
    with cut_proxy(pg_server.port) as proxy:
        log = open_store(proxy.uri(pg_db) + "#unknown", Actor(user="a", host="h", ssh=None))
        try:
            log.append("note", {"text": "before"})
            proxy.cut_next_reply()
            proxy.down = True  # connections open already keep working; new ones are refused
            with pytest.raises(OutcomeUnknown) as got:
                log.append("note", {"text": "committed, unconfirmed"})
            said = write_failure(got.value)
            assert "not confirmed" in said and "not recorded" not in said and "it may be" in said, said
            assert isinstance(got.value, OSError) and not isinstance(got.value, StoreUnavailable)
            (sent,) = got.value.events
            held = {d["seq"]: d for d in data_of(pg_db + "#unknown")}
            assert held[sent.seq]["text"] == "committed, unconfirmed"  # it was recorded, as the message allowed
            proxy.down = False
            after = log.append("note", {"text": "after"})
        finally:
            log.close()
    assert after.seq == sent.seq + 1 and after.prev == sent.hash  # the chain goes on from the unconfirmed event


@pytest.mark.slow
def test_a_server_restart_mid_run_is_told_then_writing_resumes_with_nothing_lost(procs: list[Proc]) -> None:
    with pgserver.running() as own:
        uri = own.create_db("restart") + "#restart"
        w = start(procs, "writer", uri)
        w.expect(lambda s: s.startswith("recorded"))
        own.stop()
        w.expect(lambda s: s.startswith("down"), timeout=15)  # said, not hidden
        own.start()
        n = len(_recorded(w.drain()))
        w.expect(lambda s: s.startswith("recorded"), timeout=20)
        deadline = time.monotonic() + 10
        while len(_recorded(w.drain())) < n + 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        w.stop()
        _nothing_reported_lost(uri, _recorded(w.drain()))


# ---------------------------------------------------------------- copies and the commands


def warroom(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = runcli.warroom(*args)
    if check:
        assert res.returncode == 0, res.stderr
    return res


@pytest.mark.slow
def test_log_copy_both_ways_gives_the_same_bytes_and_the_same_report(tmp_path: Path, pg_db: str) -> None:
    src = tmp_path / "rehearsal.jsonl"
    record_launch(src, until="3m")
    uri = pg_db + "#rehearsal"
    warroom("log", "copy", str(src), uri)
    assert "OK:" in warroom("verify", uri).stdout
    back = tmp_path / "archive.jsonl"
    warroom("log", "copy", uri, str(back))
    assert back.read_bytes() == src.read_bytes()
    from_file, from_pg = warroom("report", str(src)).stdout, warroom("report", uri).stdout
    differ = [(a, b) for a, b in zip(from_file.splitlines(), from_pg.splitlines(), strict=True) if a != b]
    assert len(differ) == 1 and "postgresql://" in differ[0][1] and "rehearsal" in differ[0][1]  # where the log is
    jf = orjson.loads(warroom("report", "--format", "json", str(src)).stdout)
    jp = orjson.loads(warroom("report", "--format", "json", uri).stdout)
    assert jf["log"].pop("path") == str(src) and jp["log"].pop("path") == uri
    assert jf == jp
    assert warroom("log", str(src)).stdout == warroom("log", uri).stdout
    # a launch id left out of the URI is taken from the log's launch event
    launch = decode(src.read_bytes().split(b"\n", 1)[0]).data["id"]
    res = warroom("log", "copy", str(src), pg_db, check=False)  # same database, another launch beside "rehearsal"
    assert res.returncode == 0, res.stderr
    assert f"#{launch}" in res.stdout
    # copying into a launch that already holds events is refused, and changes nothing
    again = warroom("log", "copy", str(src), uri, check=False)
    assert again.returncode == 2 and "already holds events" in again.stderr
    assert open_reader(uri).verify().count == open_reader(str(src)).verify().count


def test_a_tampered_row_is_found_by_verify(pg_server: pgserver.PgServer, pg_db: str, tmp_path: Path) -> None:
    uri = pg_db + "#tamper"
    log = open_store(uri, Actor(user="a", host="h", ssh=None))
    for i in range(5):
        log.append("note", {"text": f"n{i}"})
    log.close()
    name = pg_db.rsplit("/", 1)[1]
    line = pg_server.sql(name, "SELECT line FROM warroom_event WHERE seq = 3")[0][0]
    edited = bytes(line).replace(b'"n2"', b'"n9"')
    pg_server.sql(name, f"UPDATE warroom_event SET line = '\\x{edited.hex()}'::bytea WHERE seq = 3")
    res = warroom("verify", uri, check=False)
    assert res.returncode == 1
    assert "TAMPERED" in res.stdout and "seq 3" in res.stdout


def test_an_old_schema_or_a_password_in_the_uri_gets_a_clear_message(pg_server: pgserver.PgServer, pg_db: str) -> None:
    uri = pg_db + "#schema"
    open_store(uri, Actor(user="a", host="h", ssh=None)).append("note", {"text": "x"})
    pg_server.sql(pg_db.rsplit("/", 1)[1], "UPDATE warroom_meta SET value = '0' WHERE key = 'schema'")
    res = warroom("verify", uri, check=False)
    assert res.returncode == 2
    assert "schema version 0" in res.stderr and "older warroom" in res.stderr
    assert "Traceback" not in res.stderr
    secret = uri.replace("warroom_admin@", "warroom_admin:hunter2@")
    res = warroom("verify", secret, check=False)
    assert res.returncode == 2 and "holds a password" in res.stderr
    assert "hunter2" not in res.stderr + res.stdout


def test_no_database_says_so_without_a_traceback() -> None:
    port = pgserver.free_port()
    res = warroom("verify", f"postgresql://nobody@127.0.0.1:{port}/none#x", check=False)
    assert res.returncode == 2
    assert "cannot be reached" in res.stderr and "Traceback" not in res.stderr


def test_payloads_are_the_exact_json_lines(pg_db: str) -> None:
    uri = pg_db + "#bytes"
    log = open_store(uri, Actor(user="a", host="h", ssh=None))
    ev = log.append("note", {"text": "héllo \u2028 \x1b[31m"})
    (line,) = list(open_reader(uri).lines())
    assert orjson.loads(line)["hash"] == ev.hash
    assert line + b"\n" == encode(ev.seq, ev.ts, ev.actor, ev.kind, ev.data, ev.prev)[0]  # the file log's bytes
    assert decode(line).data == ev.data
    log.close()


def test_check_records_its_samples_in_the_shared_log(tmp_path: Path, pg_db: str) -> None:
    """`warroom check --log URI`: the real recorder, under the recorder lease, appending to PostgreSQL."""
    uri = pg_db + "#demo-launch"
    res = warroom("check", str(ROOT / "configs" / "demo.yaml"), "--log", uri, "--json", check=False)
    assert res.returncode in (0, 1), res.stderr
    kinds = [e.kind for e in open_reader(uri).events()]
    assert kinds[0] == "launch" and "sample" in kinds and "recorder" in kinds
    assert open_reader(uri).verify().ok
    # a second run on the same launch continues the same log (bound to the same launch)
    again = warroom("check", str(ROOT / "configs" / "demo.yaml"), "--log", pg_db, "--json", check=False)
    assert again.returncode in (0, 1), again.stderr
    assert sum(1 for e in open_reader(uri).events() if e.kind == "launch") == 1


def test_the_store_key_gives_the_password_source_and_a_password_in_it_is_refused(tmp_path: Path, pg_db: str) -> None:
    demo = (ROOT / "configs" / "demo.yaml").read_text()
    cfg = tmp_path / "team.yaml"
    cfg.write_text(demo + f"\nstore:\n  url: {pg_db}\n  password_env: WARROOM_TEST_PGPASSWORD\n")
    res = warroom("check", str(cfg), "--log", pg_db, check=False)
    assert res.returncode == 2
    assert "WARROOM_TEST_PGPASSWORD is not set" in res.stderr and "Traceback" not in res.stderr
    env_ok = runcli.warroom("check", cfg, "--log", pg_db, env=runcli.checkout_env(WARROOM_TEST_PGPASSWORD="s3cret"))
    assert env_ok.returncode in (0, 1), env_ok.stderr  # the fixture's server trusts loopback: any password passes
    assert b"s3cret" not in b"".join(open_reader(pg_db + "#demo-launch").lines())
    bad = tmp_path / "bad.yaml"
    bad.write_text(demo + f"\nstore:\n  url: {pg_db.replace('@', ':pw@')}\n")
    res = warroom("validate", str(bad), check=False)
    assert res.returncode == 2 and "password" in res.stderr


def _events_by(uri: str, ssh: str) -> list[tuple[int, str, dict[str, object]]]:
    try:
        r = open_reader(uri)
    except StoreUnavailable:  # the recorder has not made the tables yet
        return []
    try:
        return [(ev.seq, ev.kind, ev.data) for ev in r.events() if ev.actor.ssh == ssh]
    finally:
        r.close()


@pytest.mark.slow
def test_the_real_recorder_paused_past_its_lease_is_fenced_and_another_takes_over(pg_db: str) -> None:
    """Two `warroom check --watch` on one PostgreSQL log from two "hosts" (their SSH origins differ)."""
    uri = pg_db + "#demo-launch"
    cfg = str(ROOT / "configs" / "demo.yaml")

    def recorder(origin: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            runcli.argv("check", cfg, "--watch", "--log", uri),
            env=runcli.checkout_env(SSH_CONNECTION=f"{origin} 50000 10.0.0.9 22"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    a = recorder("10.0.0.1")
    b: subprocess.Popen[bytes] | None = None
    try:
        wait_for("a sample from A", lambda: any(k == "sample" for _s, k, _d in _events_by(uri, "10.0.0.1")))
        os.kill(a.pid, signal.SIGSTOP)
        b = recorder("10.0.0.2")
        wait_for(
            "B to acquire the recorder's lease",
            lambda: any(k == "recorder" and d.get("state") == "acquired" for _s, k, d in _events_by(uri, "10.0.0.2")),
        )
        took = min(s for s, k, d in _events_by(uri, "10.0.0.2") if k == "recorder" and d.get("state") == "acquired")
        os.kill(a.pid, signal.SIGCONT)
        time.sleep(4.0)  # A runs again: its polls come due, its lease check sees the lease gone
        wait_for(
            "a sample from B after its takeover",
            lambda: any(k == "sample" and s > took for s, k, _d in _events_by(uri, "10.0.0.2")),
        )
        late = [(s, k) for s, k, _d in _events_by(uri, "10.0.0.1") if s > took]
        assert late == []  # not one event from the paused recorder after the takeover
        assert open_reader(uri).verify().ok
    finally:
        for p in (a, b):
            if p is not None and p.poll() is None:
                os.kill(p.pid, signal.SIGCONT)
                p.kill()
                p.wait(10)


def test_a_second_rollback_from_another_host_is_refused_by_the_real_runner(tmp_path: Path, pg_db: str) -> None:
    """`warroom rollback --log URI` from two "hosts" (SSH origins): the second is refused, naming the first."""
    from deploy_fixture import Deploy

    deploy = Deploy(tmp_path / "deploy")
    try:
        cfg = deploy.config(steps=[{"name": "slow step", "run": ["sleep", "6"], "timeout": "20s"}], verify=None)
        uri = pg_db + "#deploy-test"

        def rollback(origin: str, who: str) -> tuple[tuple[str, ...], dict[str, str]]:
            """`warroom rollback` as `who` from the SSH origin `origin`: its arguments and environment."""
            args = ("rollback", str(cfg), "--log", uri, "--as", who, "--yes-i-mean-it", "deploy-test")
            return args, runcli.checkout_env(SSH_CONNECTION=f"{origin} 50000 10.0.0.9 22")

        args, env = rollback("10.0.0.1", "dana")
        first = runcli.spawn(*args, env=env)
        try:
            wait_for(
                "the first host's rollback to start",
                lambda: any(
                    k == "rollback" and d.get("phase") == "started" for _s, k, d in _events_by(uri, "10.0.0.1")
                ),
            )
            args, env = rollback("10.0.0.2", "sam")
            second = runcli.warroom(*args, env=env)
            assert second.returncode == 1, second.stdout + second.stderr
            refusals = [
                str(d.get("reason"))
                for _s, k, d in _events_by(uri, "10.0.0.2")
                if k == "rollback" and d.get("phase") == "refused"
            ]
            assert len(refusals) == 1 and "another rollback is running (dana on " in refusals[0]
            assert "ssh from 10.0.0.1" in refusals[0]
            out, errs = first.communicate(timeout=60)
            assert first.returncode == 0, out + errs
        finally:
            if first.poll() is None:
                first.kill()
                first.wait(10)
    finally:
        deploy.close()
    phases = [d.get("phase") for _s, k, d in _events_by(uri, "10.0.0.1") if k == "rollback"]
    assert "finished" in phases
