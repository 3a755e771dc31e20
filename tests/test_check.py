"""`warroom check` as a CI/CD gate, run as a real subprocess against a real Prometheus:
exit codes 0/1/3 (and 2 for a bad config), the table, --json, --log and --watch."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import runcli
from promstack import Canned, Stack, prom_stack

from warroom.store.log import read_log, verify

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with prom_stack(tmp_path_factory.mktemp("checkstack"), alertmanager=False) as st:
        yield st


def write_config(tmp: Path, url: str, criteria: str, extra: str = "") -> Path:
    path = tmp / "gate.yaml"
    path.write_text(
        "version: 1\n"
        "launch: {id: gate, name: Gate test, t0: 2027-01-15T08:00:00Z}\n"
        "roles: [{id: commander, title: Commander, members: [dana], commander: true}]\n"
        "phases: [{id: go, name: Go, at: -1d, sections: [{name: Deploy, items: [{id: deploy, text: Deploy}]}]}]\n"
        f"sources:\n  prom: {{type: prometheus, url: '{url}', interval: 1s, timeout: 2s}}\n{extra}"
        f"criteria:\n{criteria}"
    )
    return path


ERRORS = (
    "  - {id: err, name: Error rate, source: prom, query: wr_errors, unit: '%', go: '< 1%',"
    " trigger: {when: '> 5%'}}\n"
    "  - {id: cfur, name: Crash-free user rate, source: prom, query: wr_cfur, unit: '%', go: '>= 99.8%'}\n"
)


def check(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return runcli.warroom("check", *args, timeout=timeout, cwd=ROOT)


def set_errors(stack: Stack, value: float) -> None:
    stack.exporter.set("wr_errors", value)
    stack.wait_value("wr_errors", lambda v: v == value)


def test_exit_codes_follow_the_verdict(stack: Stack, tmp_path: Path):
    cfg = write_config(tmp_path, stack.prom_url, ERRORS)
    set_errors(stack, 0.02)
    go = check(str(cfg))
    assert go.returncode == 0, go.stdout + go.stderr
    assert "| Error rate           | < 1%      | 0.020% | GO     |" in go.stdout
    assert "Verdict: GO" in go.stdout

    set_errors(stack, 2.5)
    nogo = check(str(cfg))
    assert nogo.returncode == 1, nogo.stdout + nogo.stderr
    assert "| Error rate           | < 1%      | 2.50%  | NO-GO  |" in nogo.stdout
    assert "  - NO-GO: Error rate: 2.50% misses < 1%" in nogo.stdout

    set_errors(stack, 9)
    rb = check(str(cfg))
    assert rb.returncode == 3, rb.stdout + rb.stderr
    assert "Verdict: ROLLBACK" in rb.stdout
    assert "  - ROLLBACK trigger: Error rate: 9.00% meets rollback trigger > 5%" in rb.stdout
    set_errors(stack, 0.02)


def test_unconfirmed_breach_and_unknown_are_not_go(stack: Stack, tmp_path: Path):
    cfg = write_config(
        tmp_path,
        stack.prom_url,
        "  - {id: err, name: Error rate, source: prom, query: wr_errors, unit: '%', go: '< 1%',"
        " breach_samples: 2}\n"
        "  - {id: gone, name: Gone, source: prom, query: wr_not_there, go: '< 1'}\n",
    )
    set_errors(stack, 2.5)
    res = check(str(cfg))
    assert res.returncode == 1
    assert "| Error rate | < 1%      | 2.50%  | WARN (breach pending) |" in res.stdout
    assert "Verdict: PENDING" in res.stdout
    assert "  - UNKNOWN: Gone: NO-DATA: no data (query returned an empty vector (no matching series))" in res.stdout
    set_errors(stack, 0.02)


def test_json_for_machines(stack: Stack, tmp_path: Path):
    cfg = write_config(tmp_path, stack.prom_url, ERRORS)
    res = check(str(cfg), "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["status"] == "GO" and doc["exit_code"] == 0
    err = next(c for c in doc["criteria"] if c["id"] == "err")
    assert err["status"] == "GO" and err["value"] == 0.02 and err["actual"] == "0.020%" and err["threshold"] == "< 1%"


def test_log_is_the_truth_and_runs_append_to_it(stack: Stack, tmp_path: Path):
    cfg = write_config(tmp_path, stack.prom_url, ERRORS)
    log = tmp_path / "gate.jsonl"
    assert check(str(cfg), "--log", str(log)).returncode == 0
    assert check(str(cfg), "--log", str(log)).returncode == 0
    events = read_log(log).events
    assert [e.kind for e in events].count("launch") == 1
    samples = [e for e in events if e.kind == "sample" and e.data["criterion"] == "err"]
    assert len(samples) == 2 and samples[0].data["tick"] < samples[1].data["tick"]
    assert verify(log).ok


def test_a_live_recorder_on_the_log_is_followed_not_duplicated(stack: Stack, tmp_path: Path):
    """With --log on a log another console records, check judges that console's samples."""
    # the (fake) leader records nothing new: the first run's samples must stay fresh however slowly the
    # second check starts on a busy machine (stale after 5 intervals = 5 s made this fail under load)
    cfg = write_config(tmp_path, stack.prom_url, ERRORS.replace("go: ", "stale_after: 10m, go: "))
    log = tmp_path / "live.jsonl"
    assert check(str(cfg), "--log", str(log)).returncode == 0
    leader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import time\nfrom warroom.store.log import FileLock\n"
                f"assert FileLock({str(log) + '.recorder.lock'!r}).try_acquire()\n"
                "print('held', flush=True)\ntime.sleep(60)\n"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert leader.stdout is not None and leader.stdout.readline().strip() == "held"
        before = len(read_log(log).events)
        res = check(str(cfg), "--log", str(log))
    finally:
        leader.kill()
        leader.wait()
    assert res.returncode == 0
    assert f"note: another console (pid {leader.pid}) records this log" in res.stdout
    assert len(read_log(log).events) == before  # it wrote nothing


def test_watch_prints_each_change_and_exits_with_the_last_verdict(stack: Stack, tmp_path: Path):
    cfg = write_config(tmp_path, stack.prom_url, ERRORS)
    set_errors(stack, 0.02)
    proc = runcli.spawn("check", cfg, "--watch", "--json", cwd=ROOT)
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["status"] == "GO"
        stack.exporter.set("wr_errors", 2.5)
        deadline = time.monotonic() + 20
        while True:
            assert time.monotonic() < deadline
            doc = json.loads(proc.stdout.readline())
            if doc["status"] == "NO-GO":
                break
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
        set_errors(stack, 0.02)


def test_bad_config_is_exit_2_with_file_and_line(tmp_path: Path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(
        "version: 1\nlaunch: {id: x, name: X, t0: 2027-01-15T08:00:00Z}\nroles: []\nphases: []\n"
        "criteria:\n  - {id: a, name: A, source: nowhere, query: up, go: '< 1'}\n"
    )
    res = check(str(cfg))
    assert res.returncode == 2
    assert "bad.yaml:6" in res.stderr and "source 'nowhere' is not defined" in res.stderr
    assert "Traceback" not in res.stderr
    assert check(str(tmp_path / "missing.yaml")).returncode == 2


def test_server_text_reaches_the_terminal_as_plain_text(tmp_path: Path):
    evil = Canned(500, json.dumps({"status": "error", "error": "\x1b]0;pwned\x07\x1b[31mred\x1b[0m\nforged"}).encode())
    try:
        cfg = write_config(tmp_path, evil.url, "  - {id: up, name: Up, source: prom, query: up, go: '== 1'}\n")
        res = check(str(cfg))
    finally:
        evil.close()
    assert res.returncode == 1
    assert "\x1b" not in res.stdout and "\x07" not in res.stdout
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("  - UNKNOWN: Up"))
    assert "red" in line and "forged" in line


def test_demo_runs_without_a_server():
    res = check(str(ROOT / "configs" / "demo.yaml"), "--criteria-only")
    assert res.returncode in (0, 1), res.stderr
    assert "| Crash-free user rate |" in res.stdout
