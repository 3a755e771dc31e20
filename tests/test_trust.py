"""Who did what, proven (docs/trust.md): forged events are refused by the fold, identity comes from the system,
sign-offs are signed with real ssh-keygen/ssh-agent, and a truncated log is noticed.

Every test runs the real thing: the `warroom` command in a subprocess, a second Unix account made with
useradd, an ssh-agent started here, the console under Pilot. Heads are kept in a per-test state directory.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import runcli
from ui_scenario import NOW, ROOT_ACTOR, Clock, caught_up, demo_launch, screen_text, until, write_scenario

from warroom.config import Launch, load_launch, parse_launch
from warroom.core.authority import ANCHOR_KEY, SIG_KEY
from warroom.core.events import Actor, current_actor, encode
from warroom.core.state import LaunchState, fold, view
from warroom.report.build import build_report
from warroom.report.render_md import render_markdown
from warroom.store.launchlog import bind
from warroom.store.log import DecisionLog, iter_events, read_log
from warroom.trust.console import sign_event
from warroom.trust.guard import guard_for
from warroom.ui.app import WarroomApp
from warroom.ui.modals import VerdictScreen

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "configs" / "demo.yaml"
WIDE = (160, 48)
ME = pwd.getpwuid(os.getuid()).pw_name  # the account the tests run as (root here)
MALLORY = Actor("mallory", "evilhost")


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Consoles keep the heads they saw here, not in the real home."""
    d = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(d))
    return d


def warroom(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """`warroom ARGS` with `extra` in its environment."""
    return runcli.warroom(*args, env=runcli.checkout_env(**extra))


def notes(app: WarroomApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


def folded(launch: Launch, path: Path) -> LaunchState:
    st = LaunchState(launch)
    return fold(launch, guard_for(st)(iter_events(path)), st)


# ---------------------------------------------------------------- forging is useless


def forge(path: Path, launch: Launch) -> None:
    """The attack from issue 12: an ordinary account appends a tick for every item, GO for every role, GO."""
    with DecisionLog(path, MALLORY) as log:
        for _p, _s, item in launch.items:
            log.append("check", {"item": item.id})
        for role in launch.roles:
            log.append("signoff", {"role": role.id, "verdict": "GO", "reason": "lgtm", "snapshot": {}})
        log.append("decision", {"verdict": "GO", "reason": "ship"})
        log.append("rollback", {"phase": "requested", "reason": "chaos"})
        log.append("rollback", {"phase": "started", "steps": ["flip"], "reason": "chaos"})
        log.append("rollback", {"phase": "finished", "ok": False, "reason": "made up"})


def test_forged_signoffs_decision_ticks_and_rollback_are_refused_and_reported(tmp_path: Path):
    log = tmp_path / "S.jsonl"
    first = warroom("check", str(DEMO), "--log", str(log), "--json")
    assert first.returncode != 0, first.stderr
    launch = load_launch(DEMO)
    forge(log, launch)

    r = warroom("check", str(DEMO), "--log", str(log), "--json")
    assert r.returncode != 0  # not GO
    verdict = json.loads(r.stdout.strip().splitlines()[-1])
    assert verdict["status"] != "GO"
    assert any("refused (no authority)" in why and "mallory@evilhost" in why for why in verdict["reasons"])

    st = folded(launch, log)
    assert st.signoffs == {} and st.decision is None  # nothing mallory wrote counts
    assert not any(i.done for i in st.items.values())
    assert st.rollback.status == "idle" and "rollback" not in st.alerts
    kinds = {e.kind for e in st.refused}
    assert kinds == {"check", "signoff", "decision", "rollback"}
    assert all(e.actor == "mallory@evilhost" for e in st.refused)
    assert any("may not sign off as CTO" in e.text for e in st.refused)
    assert any("may not record the final decision" in e.text for e in st.refused)
    assert any("may not roll back" in e.text for e in st.refused)

    md = render_markdown(build_report(log))
    assert "no final decision was recorded" in md and "Final decision **GO**" not in md
    assert "REFUSED final decision GO" in md and "mallory@evilhost" in md
    assert "REFUSED sign-off cto GO" in md and "REFUSED tick secrets" in md and "REFUSED rollback requested" in md

    shown = warroom("log", str(log))
    assert "[REFUSED by the fold: account mallory may not record the final decision" in shown.stdout


def test_a_member_is_applied_where_a_stranger_is_refused(tmp_path: Path):
    """The same events by root (commander, CTO, DevOps lead in demo.yaml) count; the owner rule holds for ticks."""
    launch = load_launch(DEMO)
    log = tmp_path / "m.jsonl"
    cpo = Actor("cpo", "bastion", name="Priya")
    with DecisionLog(log, ROOT_ACTOR) as dl:
        bind(dl, launch, DEMO.read_text(), str(DEMO))
        dl.append("signoff", {"role": "cto", "verdict": "GO", "reason": "", "snapshot": {}})
        dl.append("check", {"item": "secrets"})  # the commander may tick anything
        dl.append("check", {"item": "code-review"}, actor=cpo)  # owned by cto: the CPO may not
        dl.append("signoff", {"role": "cto", "verdict": "NO-GO", "reason": "", "snapshot": {}}, actor=cpo)
    st = folded(launch, log)
    assert st.signoffs["cto"].by == "root@bastion" and st.signoffs["cto"].verdict == "GO"
    assert st.items["secrets"].done and not st.items["code-review"].done
    assert [e.text for e in st.refused] == [
        "REFUSED tick code-review: Priya (account cpo) may not tick 'Final code review complete': "
        "it needs CTO, Launch Commander, and holds CPO",
        "REFUSED sign-off cto NO-GO: Priya (account cpo) may not sign off as CTO: it needs CTO, and holds CPO",
    ]


def test_claimed_identity_is_marked_in_every_view(tmp_path: Path):
    text = DEMO.read_text().replace("version: 1\n", "version: 1\nidentity: claimed\n", 1)
    cfg = tmp_path / "shared.yaml"
    cfg.write_text(text)
    launch = parse_launch(text)
    log = tmp_path / "c.jsonl"
    with DecisionLog(log, Actor("ops", "bastion", name="cpo")) as dl:
        bind(dl, launch, text, str(cfg))
        dl.append("signoff", {"role": "cpo", "verdict": "GO", "reason": "", "snapshot": {}})
    st = folded(launch, log)
    assert st.signoffs["cpo"].by == "cpo [claimed] (ops@bastion)"
    assert r"cpo \[claimed\] (ops@bastion)" in render_markdown(build_report(log))  # markdown-escaped
    assert "cpo [claimed] (ops@bastion)" in warroom("log", str(log)).stdout


# ---------------------------------------------------------------- identity from the system


def test_lying_environment_records_the_real_account(tmp_path: Path):
    log = tmp_path / "lies.jsonl"
    lies = {"LOGNAME": "vp", "USER": "vp", "SSH_CONNECTION": "203.0.113.66 4242 10.0.0.1 22"}
    with DecisionLog(log, ROOT_ACTOR) as dl:
        bind(dl, load_launch(DEMO), DEMO.read_text(), str(DEMO))
    r = warroom("measure", str(log), "cfur-week", "99.9", "--as", "cto", **lies)
    assert r.returncode == 0, r.stderr
    ev = read_log(log).events[-1]
    assert ev.kind == "measurement"
    assert (ev.actor.user, ev.actor.uid) == (ME, os.getuid())  # not "vp"
    assert ev.actor.name == "cto" and ev.actor.ssh == "203.0.113.66"
    assert "client-supplied" in ev.actor.label
    shown = warroom("log", str(log))
    assert f"cto ({ME}@" in shown.stdout and "vp" not in shown.stdout


SECOND = "wrtrust2"


@pytest.fixture
def second_user() -> Iterator[str]:
    """A second Unix account, made for the test and removed after it."""
    if os.getuid() != 0 or shutil.which("useradd") is None:
        pytest.fail("this test creates a Unix account: it runs as root with useradd (the CI does)")
    subprocess.run(["userdel", SECOND], capture_output=True)
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", SECOND], check=True)
    try:
        yield SECOND
    finally:
        subprocess.run(["userdel", SECOND], check=True)


def test_two_accounts_their_roles_and_a_refusal(second_user: str):
    shared = Path(tempfile.mkdtemp(prefix="warroom-two-"))
    try:
        os.chmod(shared, 0o777)
        text = DEMO.read_text().replace("members: [cto, root, demo]", f"members: [{second_user}]")
        cfg = shared / "two.yaml"
        cfg.write_text(text)
        launch = parse_launch(text)
        log = shared / "two.jsonl"
        with DecisionLog(log, current_actor()) as dl:
            bind(dl, launch, text, str(cfg))
        os.chmod(log, 0o666)
        for suffix in (".lock",):
            p = Path(str(log) + suffix)
            if p.exists():
                os.chmod(p, 0o666)
        # a process of its own running as the second account (fork + setuid: the interpreter here lives in
        # root's home, which that account cannot exec); it records as whoever the system says it is
        uid2 = pwd.getpwnam(second_user).pw_uid
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                os.setgroups([])
                os.setgid(pwd.getpwnam(second_user).pw_gid)
                os.setuid(uid2)
                os.environ["LOGNAME"] = os.environ["USER"] = "root"  # a lie it might tell
                with DecisionLog(log, current_actor("Dana")) as dl2:
                    dl2.append("signoff", {"role": "cto", "verdict": "GO", "reason": "mine", "snapshot": {}})
                    dl2.append("decision", {"verdict": "GO", "reason": "not mine to make"})
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        with DecisionLog(log, current_actor()) as dl:
            dl.append("decision", {"verdict": "GO", "reason": "commander's call"})
        evs = read_log(log).events
        by = {ev.actor.user for ev in evs}
        assert by == {ME, second_user}
        assert {ev.actor.uid for ev in evs if ev.actor.user == second_user} == {uid2}
        st = folded(launch, log)
        assert st.signoffs["cto"].by.startswith(f"Dana ({second_user}@")  # the CTO role is that account's
        assert st.decision is not None and st.decision.reason == "commander's call"
        assert st.decision.by.startswith(f"{ME}@")
        (refused,) = st.refused
        assert refused.kind == "decision" and f"Dana (account {second_user}) may not record" in refused.text
    finally:
        shutil.rmtree(shared, ignore_errors=True)


# ---------------------------------------------------------------- signatures


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A real ssh-agent holding a fresh ed25519 key, and an allowed_signers file naming it for this account."""
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", str(key)], check=True)
    short = Path(tempfile.mkdtemp(prefix="wr-agent-", dir="/tmp"))  # a unix socket path holds 107 bytes at most
    sock = short / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        e = {"SSH_AUTH_SOCK": str(sock)}
        for _ in range(100):
            if sock.exists():
                break
            subprocess.run(["sleep", "0.05"])
        subprocess.run(["ssh-add", "-q", str(key)], check=True, env=dict(os.environ, **e), capture_output=True)
        pub = key.with_suffix(".pub").read_text().split()
        signers = tmp_path / "allowed_signers"
        signers.write_text(f"{ME} {pub[0]} {pub[1]}\n")
        e["signers"] = str(signers)
        yield e
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(short, ignore_errors=True)


def signed_launch(tmp_path: Path, signers: str, mode: str = "required") -> tuple[Path, Launch, str]:
    text = DEMO.read_text().replace("version: 1\n", f"version: 1\nsignatures: {mode}\nallowed_signers: {signers}\n", 1)
    cfg = tmp_path / "signed.yaml"
    cfg.write_text(text)
    return cfg, parse_launch(text), text


def append_signed(log: Path, launch: Launch, data: dict, monkeypatch: pytest.MonkeyPatch, agent: dict) -> None:
    monkeypatch.setenv("SSH_AUTH_SOCK", agent["SSH_AUTH_SOCK"])
    st = read_log(log).events[-1]
    signed = sign_event(launch, current_actor(), "signoff", data, (st.seq, st.hash), Path(agent["signers"]))
    with DecisionLog(log, current_actor()) as dl:
        dl.append("signoff", signed)


def test_signed_signoff_verifies_and_an_edit_or_a_copy_fails(tmp_path: Path, agent, monkeypatch):
    cfg, launch, text = signed_launch(tmp_path, agent["signers"])
    log = tmp_path / "signed.jsonl"
    with DecisionLog(log, current_actor()) as dl:
        bind(dl, launch, text, str(cfg))
    data = {"role": "cto", "verdict": "GO", "reason": "signed", "snapshot": {}}
    append_signed(log, launch, data, monkeypatch, agent)

    r = warroom("verify", str(log))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"signed: seq 2 sign-off cto GO: good signature by {ME}" in r.stdout
    st = folded(launch, log)
    assert st.signoffs["cto"].reason == "signed" and not st.refused

    # edited, and the whole chain rewritten so it is intact again: the signature still gives it away
    lines, prev = [], "0" * 64
    for ev in read_log(log).events:
        d = dict(ev.data, verdict="NO-GO") if ev.kind == "signoff" else ev.data
        line, prev = encode(ev.seq, ev.ts, ev.actor, ev.kind, d, prev)
        lines.append(line)
    edited = tmp_path / "edited.jsonl"
    edited.write_bytes(b"".join(lines))
    r = warroom("verify", str(edited))
    assert r.returncode == 1 and "chain intact" in r.stdout
    assert f"FAILED: seq 2 sign-off cto NO-GO by account {ME}: BAD SIGNATURE" in r.stdout
    assert folded(launch, edited).signoffs == {}

    # the signed data copied into another log of the same launch
    other = tmp_path / "other.jsonl"
    with DecisionLog(other, current_actor()) as dl:
        bind(dl, launch, text, str(cfg))
        dl.append("note", {"text": "something"})
        dl.append("signoff", read_log(log).events[-1].data)
    r = warroom("verify", str(other))
    assert r.returncode == 1 and "FAILED: seq 3 sign-off cto GO" in r.stdout and "another log" in r.stdout
    st = folded(launch, other)
    assert st.signoffs == {} and "signature does not verify" in st.refused[0].text

    # and replayed a second time in its own log
    with DecisionLog(log, current_actor()) as dl:
        dl.append("signoff", read_log(log).events[1].data)
    r = warroom("verify", str(log))
    assert r.returncode == 1 and "a replay" in r.stdout


def test_required_signatures_refuse_an_unsigned_signoff(tmp_path: Path, agent):
    cfg, launch, text = signed_launch(tmp_path, agent["signers"])
    log = tmp_path / "unsigned.jsonl"
    with DecisionLog(log, current_actor()) as dl:
        bind(dl, launch, text, str(cfg))
        dl.append("signoff", {"role": "cto", "verdict": "GO", "reason": "", "snapshot": {}})
    st = folded(launch, log)
    assert st.signoffs == {}
    assert "unsigned, and this launch requires signed sign-offs" in st.refused[0].text
    v = view(st, NOW)
    assert any("refused" in r and "unsigned" in r for r in v.reasons)
    assert "unsigned, and this launch requires" in render_markdown(build_report(log))


async def test_console_signs_with_the_agent_and_says_so_when_there_is_none(tmp_path: Path, agent, monkeypatch):
    path = tmp_path / "launch.jsonl"
    write_scenario(path, demo_launch())
    launch = demo_launch().model_copy(update={"signatures": "required", "allowed_signers": agent["signers"]})

    before = 0

    async def sign_off(reason: str) -> WarroomApp:
        app = WarroomApp(launch, log_path=path, actor=current_actor(), clock=Clock(NOW), record=False)
        async with app.run_test(size=WIDE) as pilot:
            await pilot.press("s")
            await until(pilot, lambda: isinstance(app.screen, VerdictScreen), "the sign-off dialog")
            await pilot.press(*reason, "ctrl+g")  # one dialog, one key (issue 17)
            await until(pilot, lambda: len(read_log(path).events) > before or "ssh-agent" in notes(app), "signing")
            await caught_up(app, pilot, path)
            app.texts = notes(app)  # type: ignore[attr-defined]
        return app

    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    before = len(read_log(path).events) + 1  # the console records that it opened
    app = await sign_off("no agent")
    assert "no ssh-agent: SSH_AUTH_SOCK is not set" in app.texts  # type: ignore[attr-defined]
    assert not [e for e in read_log(path).events if e.kind == "signoff" and e.data["reason"] == "no agent"]

    before = len(read_log(path).events) + 1

    monkeypatch.setenv("SSH_AUTH_SOCK", agent["SSH_AUTH_SOCK"])
    await sign_off("with agent")
    (ev,) = [e for e in read_log(path).events if e.kind == "signoff" and e.data["reason"] == "with agent"]
    assert "BEGIN SSH SIGNATURE" in ev.data[SIG_KEY] and int(ev.data[ANCHOR_KEY].split(":")[0]) < ev.seq
    st = LaunchState(launch)
    fold(launch, guard_for(st)(iter_events(path)), st)
    assert st.signoffs["cto"].reason == "with agent"


# ---------------------------------------------------------------- truncation


async def test_truncating_the_last_three_events_is_noticed(tmp_path: Path):
    path = tmp_path / "launch.jsonl"
    write_scenario(path, demo_launch())
    app = WarroomApp(demo_launch(), log_path=path, actor=ROOT_ACTOR, clock=Clock(NOW), record=False)
    async with app.run_test(size=WIDE) as pilot:
        await caught_up(app, pilot, path)
    evs = read_log(path).events
    head = f"{evs[-1].seq}:{evs[-1].hash}"
    raw = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(raw[:-3]))  # someone cuts the newest three events (the chain still verifies)

    nxt = WarroomApp(demo_launch(), log_path=path, actor=ROOT_ACTOR, clock=Clock(NOW), record=False, mode="observer")
    async with nxt.run_test(size=WIDE) as pilot:
        await pilot.pause()
        said = "\n".join(str(n.message) for n in nxt._notifications)
        # it saw up to its own last poll (its closing "session" event came after): that much is missing
        assert f"TRUNCATED: this user's consoles saw seq {app.state.seq} " in said, said
        assert f"but the log ends at seq {evs[-4].seq}" in said
        assert screen_text(nxt)

    r = warroom("verify", str(path), "--expect-head", head, XDG_STATE_HOME=str(tmp_path / "elsewhere"))
    assert r.returncode == 1 and "TRUNCATED: the expected head is seq" in r.stdout and "3 events missing" in r.stdout
    r = warroom("verify", str(path))  # this user's consoles saw more of it
    assert r.returncode == 1 and "TRUNCATED: this user's consoles saw" in r.stdout
    md = render_markdown(build_report(path))
    assert "TRUNCATED" in md and f"Head of the log: {evs[-4].seq}:{evs[-4].hash}" in md


def test_trust_settings_are_checked_with_the_field_named(tmp_path: Path):
    from warroom.config import ConfigError

    base = DEMO.read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(base.replace("version: 1\n", "version: 1\nauthority: {acks: [nobody]}\n", 1))
    with pytest.raises(ConfigError, match=r"authority\.acks: no role 'nobody' in roles"):
        load_launch(bad)
    bad.write_text(base.replace("version: 1\n", "version: 1\nsignatures: required\n", 1))
    with pytest.raises(ConfigError, match="signatures: required needs allowed_signers"):
        load_launch(bad)


async def test_a_tick_is_kept_as_the_head_while_the_console_runs(tmp_path: Path):
    """The head is kept in the frame after the one that shows it, not only on close: a console that is killed
    later still leaves the head of what it showed behind, for the next one to check the log against."""
    from warroom.trust import heads

    path = tmp_path / "launch.jsonl"
    write_scenario(path, demo_launch())
    app = WarroomApp(demo_launch(), log_path=path, actor=ROOT_ACTOR, clock=Clock(NOW), record=False)
    async with app.run_test(size=WIDE) as pilot:
        await caught_up(app, pilot, path)
        await pilot.press("2")
        table = app.panel("checklist").table
        item = next(
            k for k in table.visible_keys if k.startswith("item:") and not app.launch.items_by_id[k[5:]][2].criterion
        )
        assert table.move_cursor_to_key(item)
        before = app.state.seq
        await pilot.press("space")
        await until(pilot, lambda: app.state.seq > before, "the tick read back")
        last = read_log(path).events[-1]
        assert last.kind in ("check", "uncheck") and app.state.seq == last.seq
        await until(pilot, lambda: heads.seen(path) == (last.seq, last.hash), "the tick's head kept")
        assert app.is_running  # kept by the running console, not by its close
