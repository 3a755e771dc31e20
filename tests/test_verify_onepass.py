"""`warroom verify` reads the log once: its chain check feeds the signature and anchor audit (issue 16). On
damaged logs (cut, flipped bytes, lines removed, moved or doubled, lines edited and the chain re-hashed so it
holds, signatures broken, odd but well-hashed lines) it says exactly what the two reads said, with the same exit
code: the reference below is the command as it was, the chain check and then a second read for the audit.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import io
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from ui_scenario import T0, demo_launch, write_scenario

from warroom import cli
from warroom.commands import common
from warroom.commands import verify as verify_command
from warroom.commands.args import log_file
from warroom.config import ConfigError, Launch, load_launch, parse_launch
from warroom.core import authority
from warroom.core.authority import ANCHOR_KEY, SIG_KEY
from warroom.core.events import current_actor
from warroom.core.text import clean
from warroom.store.launchlog import bind, first_launch_event, recorded_t0, with_t0
from warroom.store.log import DecisionLog, LogCorrupt, iter_parsed, read_log, torn_path, verify
from warroom.trust import heads, signing
from warroom.trust.audit import EXPECTED, SEEN, Audit
from warroom.trust.guard import Guard, parse_head, signers_path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "configs" / "demo.yaml"
CASES = 160  # per log; a few seconds in all
HASH_FIELD = len(',"hash":"') + 64 + len('"}')

# ---------------------------------------------------------------- the command as it was: two reads


@functools.lru_cache
def _parsed(text: str, name: str) -> Launch:
    return parse_launch(text, name)  # validated once per text here too, so the cases run in seconds


def old_launch_from_log(path: Path) -> Launch:
    ev = first_launch_event(path)
    where = str(path)
    if ev is None:
        raise ConfigError([])  # launch_of catches it whatever it says
    launch = _parsed(str(ev.data.get("config", "")), f"{where}#launch")
    t0 = recorded_t0(ev, launch, where)
    return with_t0(launch, t0) if t0 != launch.t0 else launch


def old_launch_of(path: Path, config: Launch | None) -> tuple[Launch | None, Path | None]:
    try:
        ev = first_launch_event(path)
    except (LogCorrupt, OSError):
        return config, None
    recorded = Path(str(ev.data.get("path", ""))).parent if ev is not None and ev.data.get("path") else None
    if config is not None:
        return config, recorded
    try:
        return old_launch_from_log(path), recorded
    except (ConfigError, LogCorrupt, OSError):
        return None, None


def old_audit(path: Path, launch: Launch | None, *, signers: Path | None, base: Path | None, expect: Any) -> Audit:
    anchors: dict[str, tuple[int, str]] = {}
    if (mine := heads.seen(path)) is not None:
        anchors[SEEN] = mine
    if expect is not None:
        anchors[EXPECTED] = expect
    note = ""
    if launch is None:
        note = "no launch config in the log: signatures not checked"
    elif launch.signatures == "off":
        note = "signatures: off in the config: signatures not checked"
    files = signers or (signers_path(launch, base) if launch is not None else None)
    if launch is not None and launch.signatures != "off" and files is None:
        note = "no allowed_signers file: signatures cannot be checked"
    g = Guard(launch, {}, files, anchors)
    try:
        for _end, seq, d, h, ts in iter_parsed(path):
            g.feed_line(seq, d, h, ts)
    except LogCorrupt:
        pass
    out = Audit(g.head, note=note)
    for ev, v in g.signed:
        what = f"seq {ev.seq} {authority.what(ev)}"
        if v.ok:
            out.signatures.append(f"{what}: good signature by {v.signer} ({v.detail})")
        else:
            out.bad.append(f"{what} by account {ev.actor.user}: BAD SIGNATURE: {v.detail}")
    out.anchors = g.problems()
    return out


def old_trust_check(path: Path, args: argparse.Namespace) -> tuple[bool, list[str]] | None:
    expect = None
    if args.expect_head:
        expect = parse_head(args.expect_head)
        if expect is None:
            sys.stderr.write(f"--expect-head {clean(args.expect_head)}: not SEQ:HASH (a number, ':', 64 hex digits)\n")
            return None
    config = None
    base = None
    if args.config:
        try:
            config = load_launch(args.config)
        except ConfigError as e:
            sys.stderr.write(str(e) + "\n")
            return None
        base = Path(args.config).resolve().parent
    launch, recorded = old_launch_of(path, config)
    signers = Path(args.allowed_signers) if args.allowed_signers else None
    a = old_audit(path, launch, signers=signers, base=base or recorded, expect=expect)
    lines = [f"signed: {clean(line)}" for line in a.signatures]
    lines += [f"FAILED: {clean(line)}" for line in a.bad]
    lines += [clean(line) for line in a.anchors]
    if a.note and (a.signatures or a.bad):
        lines.append(f"note: {clean(a.note)}")
    lines.append(f"head: {a.head_text} (keep it elsewhere; check later with --expect-head)")
    return a.ok, lines


def old_run(args: argparse.Namespace) -> int:
    path = log_file(args.log)
    if path is None:
        return 2
    res = verify(path)
    torn = (
        f"; a torn last line ({res.torn} bytes) from an interrupted write is still at the end of the log "
        f"(not an event; the next write moves it to {torn_path(path)} and records that)"
        if res.torn
        else ""
    )
    if not res.ok:
        common.out(f"TAMPERED: {path}: {clean(res.problem)}; {res.count} events before it are intact{torn}")
        return 1
    checked = old_trust_check(path, args)
    if checked is None:
        return 2
    trusted, lines = checked
    common.out(f"{'OK' if trusted else 'NOT TRUSTED'}: {res.count} events, chain intact{torn}")
    for line in lines:
        common.out(line)
    return 0 if trusted else 1


# ---------------------------------------------------------------- the logs and what is done to them


def hashed(body: bytes, before: bytes = b',"hash":"', after: bytes = b'"}') -> tuple[bytes, str]:
    """A line from an event body without its hash field (`{...,"prev":"…"`), hashed as verify hashes a line
    (the bytes before the last 75); `before`/`after` shape the hash field."""
    line = body + before + b"0" * 64 + after
    h = hashlib.sha256(line[:-HASH_FIELD] + b"}").hexdigest()
    return body + before + h.encode() + after + b"\n", h


def chained(items: list[tuple[bytes, bytes, bytes]]) -> list[bytes]:
    """The lines of (body, before, after), `prev` set to the line before's hash wherever it is a plain field."""
    out, prev = [], "0" * 64
    for body, before, after in items:
        try:
            d = orjson.loads(body + b"}")
        except orjson.JSONDecodeError:
            d = None
        if isinstance(d, dict) and isinstance(d.get("prev"), str) and body.endswith(b'"'):
            d["prev"] = prev
            body = orjson.dumps(d)[:-1]
        line, prev = hashed(body, before, after)
        out.append(line)
    return out


def bodies(lines: list[bytes]) -> list[bytes]:
    return [ln[: -HASH_FIELD - 1] for ln in lines]


ODD: list[Any] = [
    ("kind", ["signoff"]),
    ("kind", {"a": 1}),
    ("kind", None),
    ("ts", "2026-02-30T12:00:00.000Z"),
    ("ts", "2026-01-01T25:00:00.000Z"),
    ("ts", "yesterday"),
    ("ts", 1767268800),
    ("ts", "2026-01-01T12:00:00+00:00"),
    ("ts", "2026-01-01T12:00:00.5Z"),
    ("ts", "2026-01-01T11:20:60.000Z"),
    ("ts", "2026-01-01T24:00:00.000Z"),
    ("ts", "2026-01-01T11:20:0a.000Z"),
    ("ts", "2026-01-01T11:2a:00.000Z"),
    ("ts", "2026-01-01X11:20:05.000Z"),
    ("ts", "\u0000" * 17 + "05.000Z"),
    ("ts", "2026-01-01T11:20:05.000"),
    ("ts", {"t": 1}),
    ("ts", ["2026-01-01T11:20:05.000Z"]),
    ("actor", "root"),
    ("actor", {"user": ["x"]}),
    ("actor", {}),
    ("v", "1"),
    ("v", True),
    ("v", 1.0),
    ("data", []),
    ("data", None),
]


def rehashed_edit(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    """One line made odd (a field removed, retyped or doubled, the hash field reshaped), the chain re-hashed after
    it so it holds: lines a reader of the log may refuse that the chain check passes."""
    items = [(b, b',"hash":"', b'"}') for b in bodies(lines)]
    i = rng.randrange(len(items))
    body = items[i][0]
    d = orjson.loads(body + b"}")
    how = rng.randrange(6)
    if how == 0:
        key, value = rng.choice(ODD)
        d[key] = value
        body = orjson.dumps(d)[:-1]
    elif how == 1:
        d.pop(rng.choice(["kind", "data", "actor", "ts", "v"]))
        body = orjson.dumps(d)[:-1]
    elif how == 2:  # a second copy of a key, after prev (orjson keeps the last)
        key, value = rng.choice(ODD)
        body = body + b"," + orjson.dumps(key) + b":" + orjson.dumps(value)
    elif how == 3:  # a kind that is signed, signed or not
        d["kind"] = rng.choice(["signoff", "decision"])
        d["data"] = dict(d.get("data") or {}, role="cto", verdict="GO")
        if rng.random() < 0.5:
            d["data"][ANCHOR_KEY] = rng.choice(["1:" + "0" * 64, "nonsense", f"{i}:{'a' * 64}"])
            d["data"][SIG_KEY] = "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----"
        body = orjson.dumps(d)[:-1]
    items[i] = (body, b',"hash":"', b'"}')
    if how == 4:  # a space before the closing brace
        items[i] = (body + b",", b'"hash":"', b'" }')
    elif how == 5:  # a space after the colon
        items[i] = (body + b",", b'"hash": "', b'"}')
    return chained(items)


def damaged(rng: random.Random, lines: list[bytes]) -> bytes:
    ls = list(lines)
    for _ in range(rng.choice([1, 1, 1, 2])):
        how = rng.randrange(9)
        if how == 0 and ls:  # cut anywhere
            blob = b"".join(ls)
            return blob[: rng.randrange(len(blob) + 1)]
        if how == 1 and ls:  # a byte flipped
            blob = bytearray(b"".join(ls))
            blob[rng.randrange(len(blob))] = rng.randrange(256)
            ls = bytes(blob).splitlines(keepends=True)
        elif how == 2 and len(ls) > 1:
            del ls[rng.randrange(len(ls))]
        elif how == 3 and len(ls) > 2:
            i, j = rng.sample(range(len(ls)), 2)
            ls[i], ls[j] = ls[j], ls[i]
        elif how == 4 and ls:
            i = rng.randrange(len(ls))
            ls.insert(rng.randrange(len(ls) + 1), ls[i])
        elif how == 5:
            ls.insert(rng.randrange(len(ls) + 1), rng.choice([b"\n", b"{}\n", b"[1]\n", b'"x"\n']))
        elif how == 6 and ls:  # cut at a line's end: a valid, shorter chain
            ls = ls[: rng.randrange(len(ls) + 1)]
        elif how == 7 and ls:  # a torn last line
            ls.append(ls[-1][: rng.randrange(1, len(ls[-1]))])
        elif ls:
            ls = rehashed_edit(rng, ls)
    return b"".join(ls)


def outcome(argv: list[str], old: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with monkeypatch.context() as m:
        if old:
            m.setattr(verify_command, "run", old_run)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc: Any = cli.main(argv)
            except Exception as e:  # a crash must be the same crash
                rc = f"{type(e).__name__}: {e}"
    return rc, out.getvalue(), err.getvalue()


# ---------------------------------------------------------------- the base logs


def signature(key: Path, launch: Launch, kind: str, account: str, data: dict[str, Any]) -> str:
    r = subprocess.run(
        ["ssh-keygen", "-q", "-Y", "sign", "-f", str(key), "-n", signing.NAMESPACE],
        input=signing.message(launch.id, kind, account, data),
        capture_output=True,
        check=True,
    )
    return r.stdout.decode().strip()


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("onepass")
    plain = tmp / "plain.jsonl"
    write_scenario(plain, demo_launch(), until=T0 - 150)
    key = tmp / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "t", "-f", str(key)], check=True)
    me = current_actor()
    pub = key.with_suffix(".pub").read_text().split()
    signers = tmp / "allowed_signers"
    signers.write_text(f"{me.user} {pub[0]} {pub[1]}\n")
    text = DEMO.read_text().replace("version: 1\n", f"version: 1\nsignatures: required\nallowed_signers: {signers}\n")
    cfg = tmp / "signed.yaml"
    cfg.write_text(text)
    launch = parse_launch(text)
    signed = tmp / "signed.jsonl"
    with DecisionLog(signed, me) as dl:
        bind(dl, launch, text, str(cfg))
        for n in range(6):
            dl.append("note", {"text": f"note {n}"})
            if n in (2, 4):
                ev = read_log(signed).events[-1]
                data = {"role": "cto", "verdict": "GO", "reason": f"r{n}", "snapshot": {}}
                data[ANCHOR_KEY] = f"{ev.seq}:{ev.hash}"
                data[SIG_KEY] = signature(key, launch, "signoff", me.user, data)
                dl.append("signoff", data)
    bad = tmp / "bad.yaml"
    bad.write_text("version: [\n")
    yield {"plain": plain, "signed": signed, "signed_cfg": cfg, "signers": signers, "bad_cfg": bad}


@pytest.mark.parametrize("which", ["plain", "signed"])
def test_one_read_says_what_two_reads_said_on_damaged_logs(
    which: str, logs: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    rng = random.Random(f"onepass-{which}")
    lines = logs[which].read_bytes().splitlines(keepends=True)
    path = tmp_path / "case.jsonl"
    seen = {"TAMPERED": 0, "OK": 0, "NOT TRUSTED": 0, "usage": 0, "crash": 0}
    for case in range(CASES):
        blob = b"".join(lines) if case == 0 else damaged(rng, lines)
        path.write_bytes(blob)
        argv = ["verify", str(path)]
        pick = rng.random()
        events = blob.count(b"\n")
        if pick < 0.15:
            argv += ["--expect-head", rng.choice(["12", "x:y", f"{events}:{'0' * 64}", f"{events + 3}:{'a' * 64}"])]
        elif pick < 0.25:
            found = read_log(path).events
            if found:
                ev = rng.choice(found)
                argv += ["--expect-head", f"{ev.seq}:{ev.hash}"]
        elif pick < 0.32:
            argv += ["--config", str(logs["bad_cfg"] if rng.random() < 0.5 else logs["signed_cfg"])]
        elif pick < 0.38:
            argv += ["--allowed-signers", str(logs["signers"])]
        for f in heads.heads_dir().glob("*.json"):
            f.unlink()
        if rng.random() < 0.3:  # this user's consoles saw some head of it
            ev = rng.choice(read_log(logs[which]).events)
            heads.remember(path, ev.seq, ev.hash if rng.random() < 0.7 else "b" * 64)
        new = outcome(argv, False, monkeypatch)
        old = outcome(argv, True, monkeypatch)
        assert new == old, (case, argv, blob[-400:])
        rc, out, _err = new
        if isinstance(rc, str):
            seen["crash"] += 1
        elif rc == 2:
            seen["usage"] += 1
        else:
            seen[out.split(":")[0]] = seen.get(out.split(":")[0], 0) + 1
    # the damage reached every way out
    assert seen["TAMPERED"] > CASES // 4 and seen["OK"] + seen["NOT TRUSTED"] > CASES // 8 and seen["usage"], seen


@pytest.mark.parametrize("later", ["intact", "tampered"])
def test_a_line_the_audit_cannot_read_before_a_tampered_one(
    later: str, logs: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A well-hashed signed-launch line whose kind is a list is no signed event: it is noted, not a crash (it
    was a TypeError's traceback); a log tampered after it is reported as tampered, as before."""
    items = [(b, b',"hash":"', b'"}') for b in bodies(logs["signed"].read_bytes().splitlines(keepends=True))]
    d = orjson.loads(items[3][0] + b"}")
    d["kind"] = ["signoff"]
    items[3] = (orjson.dumps(d)[:-1], b',"hash":"', b'"}')
    lines = chained(items)
    if later == "tampered":
        lines[6] = lines[6].replace(b'"note', b'"NOTE', 1)
    path = tmp_path / "odd.jsonl"
    path.write_bytes(b"".join(lines))
    new = outcome(["verify", str(path)], False, monkeypatch)
    assert new == outcome(["verify", str(path)], True, monkeypatch)
    if later == "tampered":
        assert new[0] == 1 and new[1].startswith("TAMPERED: "), new
    else:
        assert new[0] in (0, 1) and new[1].startswith(("OK: ", "NOT TRUSTED: ")), new


@pytest.mark.parametrize("which", ["plain", "signed"])
def test_every_odd_field_alone_says_the_same(which: str, logs: dict[str, Any], tmp_path: Path, monkeypatch):
    """Each odd value, as the only change (the chain re-hashed so it holds), on the first line, a line in the
    middle and the last: what the audit's reader makes of it (reads it, stops there, raises) is the same."""
    items = [(b, b',"hash":"', b'"}') for b in bodies(logs[which].read_bytes().splitlines(keepends=True))]
    path = tmp_path / "odd.jsonl"
    for i in (0, len(items) // 2, len(items) - 1):
        t = orjson.loads(items[i][0] + b"}")["ts"]
        near = [t[:17] + "60" + t[19:], t[:17] + "0a" + t[19:], t[:14] + "6" + t[15:], t[:11] + "24" + t[13:]]
        for key, value in [*ODD, ("v", None), ("data", {"x": 1}), *(("ts", n) for n in near)]:
            for doubled in (False, True):
                body = items[i][0]
                if doubled:
                    body = body + b"," + orjson.dumps(key) + b":" + orjson.dumps(value)
                else:
                    d = orjson.loads(body + b"}")
                    d[key] = value
                    body = orjson.dumps(d)[:-1]
                path.write_bytes(b"".join(chained([*items[:i], (body, b',"hash":"', b'"}'), *items[i + 1 :]])))
                new = outcome(["verify", str(path)], False, monkeypatch)
                assert new == outcome(["verify", str(path)], True, monkeypatch), (i, key, value, doubled, new)
