"""A hostile decision log: a corpus of attacks written with valid hashes into every untrusted field.

Used by tests/test_hostile_text.py (every output path) and tests/test_hostile_tmux.py
(the terminal's title and clipboard). Each corpus entry begins with its own tag
(`hx-<id>:`) so a test can tell that the path showed that text at all.
"""

from __future__ import annotations

import getpass
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import runcli  # noqa: E402

from warroom.config import load_launch  # noqa: E402
from warroom.core.events import SYSTEM, Actor  # noqa: E402
from warroom.store.launchlog import bind  # noqa: E402
from warroom.store.log import DecisionLog  # noqa: E402

DEMO = ROOT / "configs" / "demo.yaml"
T0 = 1767268800.0  # demo.yaml's T-0, 2026-01-01T12:00:00Z


@dataclass(frozen=True)
class Entry:
    id: str
    raw: str  # as written into the log
    shown: str  # what a reader must see on a terminal (after the tag)

    @property
    def tag(self) -> str:
        return f"hx-{self.id}:"

    @property
    def text(self) -> str:
        return f"{self.tag} {self.raw}"


CORPUS: tuple[Entry, ...] = (
    Entry("markup", "[bold]x[/]", "[bold]x[/]"),
    Entry("link", "[link=file:///etc/passwd]x[/link]", "[link=file:///etc/passwd]x[/link]"),
    Entry("script", "<script>alert(1)</script>", "<script>alert(1)</script>"),
    Entry("onerror", '"onerror=alert(1)', '"onerror=alert(1)'),
    Entry("osc0", "ti\x1b]0;owned\x07tle", "title"),
    Entry("osc52", "cl\x1b]52;c;ZWNobyBwd25lZA==\x07ip", "clip"),
    Entry("osc52st", "st\x1b]52;c;ZWNobyBwd25lZA==\x1b\\op", "stop"),
    Entry("csi2j", "wi\x1b[2J\x1b[Hpe", "wipe"),
    Entry("csi8", "ei\x9b2Jght", "eight"),
    Entry("osc8", "ti\x9d0;owned\x07tle8", "title8"),
    Entry("dcs8", "dc\x90q#0;2\x9cs8", "dcs8"),
    Entry("apc", "ap\x1b_payload\x1b\\c", "apc"),
    Entry("bidi", "abc\u202edef\u202c", "abc\ufffddef\ufffd"),
    Entry("isolate", "iso\u2066late\u2069", "iso\ufffdlate\ufffd"),
    Entry("alm", "arabic\u061cmark", "arabic\ufffdmark"),
    Entry("lsep", "line\u2028sep\u2029para", "line sep para"),
    Entry("zwsp", "zero\u200bwidth\u2060joiner\ufeff", "zero\ufffdwidth\ufffdjoiner\ufffd"),
    Entry("bell", "be\x07ll\x08\x7f", "be\ufffdll\ufffd\ufffd"),
    Entry("newline", "fake\n     99 2026-01-01 forged line", "fake      99 2026-01-01 forged line"),
)
BIG_LINE = "hx-mb: " + "A" * 1_000_000
MANY_LINES = "hx-lines: " + "line\n" * 100_000
SMALL = "\n".join(e.text for e in CORPUS)
TAGS = tuple(e.tag for e in CORPUS)

# What must never reach a terminal raw; written out here, not imported, so the test checks the sanitiser.
FORBIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff\ud800-\udfff]"
)
PAYLOADS = ("owned", "ZWNobyBwd25lZA==", "payload")  # inside escape sequences: never shown


def hostile_config(tmp: Path, script: Path) -> Path:
    """The demo launch, with this user a commander and a rollback step that prints the corpus."""
    me = getpass.getuser()
    text = DEMO.read_text()
    text = text.replace("members: [root, demo, commander]", f"members: [root, demo, commander, {me}]")
    text = text.replace("  dry_run: true\n", "  dry_run: false\n")
    text = text.replace(
        'run: [echo, "kubectl rollout undo deployment/demo-backend"]', f"run: [{sys.executable}, {script}]"
    )
    cfg = tmp / "hostile.yaml"
    cfg.write_text(text)
    return cfg


def write_hostile_log(tmp: Path) -> tuple[Path, Path, str]:
    """The hostile log, its config and the stdout of the real `warroom rollback` that ran the hostile step."""
    script = tmp / "step.py"
    script.write_text(f"import sys\nsys.stdout.write({SMALL!r} + '\\n')\nsys.stdout.write('hx-out: done\\n')\n")
    cfg = hostile_config(tmp, script)
    launch = load_launch(cfg)
    path = tmp / "hostile.jsonl"
    clock = [T0 - 600.0]
    root = Actor("root", "bastion")
    with DecisionLog(path, root, lambda: clock[0]) as log:
        bind(log, launch, cfg.read_text(), str(cfg))

        def at(kind: str, data: dict, actor: Actor = root) -> None:
            clock[0] += 1.0
            log.append(kind, data, actor=actor)

        for i, e in enumerate(CORPUS):
            s = e.text
            who = Actor(user=s, host=s, ssh=s, name=s)
            at("note", {"text": s}, who)
            at("check", {"item": s}, who)
            at("signoff", {"role": "cto", "verdict": "GO", "reason": s})
            at("ack", {"alert": s}, who)
            at("trigger_mode", {"criterion": "api-p95", "mode": s}, who)
            at(s, {"what": s}, who)  # a hostile kind
            at(
                "alert",
                {
                    "fingerprint": f"hx{i}",
                    "status": "firing",
                    "labels": {"alertname": s, "severity": s, "service": s},
                    "annotations": {"summary": s, "description": s},
                    "starts_at": clock[0],
                    "t": clock[0],
                    "source": "alertmanager",
                },
                SYSTEM,
            )
            at("sample", {"criterion": "db-cpu", "error": s, "reason": s, "t": clock[0]}, SYSTEM)
        at("note", {"text": BIG_LINE})
        at("note", {"text": MANY_LINES})
        at(
            "alert",
            {
                "fingerprint": "hxbig",
                "status": "firing",
                "labels": {"alertname": "Big", "severity": "warning"},
                "annotations": {"summary": BIG_LINE},
                "starts_at": clock[0],
                "t": clock[0],
                "source": "alertmanager",
            },
            SYSTEM,
        )
        # the last word on every criterion: an error whose text is the whole corpus, so `check` shows it
        for cid in ("cfur", "api-p95", "error-rate", "db-cpu", "backup-age"):
            at("sample", {"criterion": cid, "error": "query", "reason": SMALL, "t": clock[0]}, SYSTEM)
        at("decision", {"verdict": "NO-GO", "reason": SMALL})
    rollback = runcli.warroom("rollback", cfg, "--log", path, "--yes-i-mean-it", launch.id, cwd=ROOT)
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
    return path, cfg, rollback.stdout


if __name__ == "__main__":  # write one by hand: python3 tests/hostile.py DIR
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    print(write_hostile_log(out)[0])
