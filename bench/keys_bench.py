"""Key latency, measured the way a user meets it: in tmux, from send-keys to the changed screen.

For each size (80x24 and 160x48) the console (`warroom demo`, run from this checkout) and a bare Textual app
with the same panels (six bordered panels switched by the keys 1-6, a checklist whose first item space ticks,
a note dialog on n) are started side by side in one private tmux server, and driven alternately:

- panel switches: press 1..6 in turn, each timed until the target panel's title is on screen;
- a tick: space on the first checklist item, timed until its box changes ([ ] <-> [x]; for the console that is a
  round trip through the decision log);
- a dialog: n, timed until the note dialog's title shows; escape closes it (not timed).

The screen is read with `tmux capture-pane` in a tight loop: the same probe for both apps, so its cost is in
both sides of the ratio. Prints p50 and p95 per action and the ratio console / bare, with the machine's load.
Targets (issue 16): p95 at most 1.5x the bare app, and under 100 ms on an idle machine.

    python3 bench/keys_bench.py [--presses N] [--sizes 80x24,160x48]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PANELS = ["Go / No-go", "Checklist", "Alerts", "Sign-offs", "Rollback", "Decision log"]

BARE_APP = textwrap.dedent("""
    from rich.text import Text
    from textual.app import App
    from textual.binding import Binding
    from textual.containers import Vertical
    from textual.screen import ModalScreen
    from textual.widgets import ContentSwitcher, DataTable, Footer, Input, Label, Static, Tree

    PANELS = %r


    class Note(ModalScreen):
        BINDINGS = [("escape", "dismiss", "Cancel")]

        def compose(self):
            with Vertical():
                yield Label("Add a note to the decision log")
                yield Input(placeholder="what happened, what we decided")


    class Bare(App):
        CSS = "ContentSwitcher > * { border: round $primary; height: 1fr; }"
        BINDINGS = [(str(i + 1), f"show({i})", p) for i, p in enumerate(PANELS)] + [
            Binding("space", "tick", "Tick", priority=True), ("n", "note", "Note"), ("q", "quit", "Quit")]

        def compose(self):
            yield Static("Demo Launch (simulated) . phase T-1 hour")
            yield Static("PENDING   LIVE  recording")
            with ContentSwitcher(initial="p0"):
                for i, title in enumerate(PANELS):
                    w = Tree("Checklist", id=f"p{i}") if i == 1 else DataTable(id=f"p{i}")
                    w.border_title = f"{i + 1} {title}"
                    yield w
            yield Footer()

        def on_mount(self):
            tree = self.query_one("#p1", Tree)
            self.items = []
            for p in range(3):
                node = tree.root.add(f"Phase {p}", expand=True)
                for i in range(4):
                    self.items.append(node.add_leaf(f"[ ] item {p}.{i}  owner  open"))
            tree.root.expand()
            for i in (0, 2, 3, 4, 5):
                t = self.query_one(f"#p{i}", DataTable)
                t.add_columns("Name", "Value", "State", "Age")
                for r in range(6):
                    t.add_row(f"row {r}", "99.9%%", "GO", "<5s")

        def action_show(self, i):
            self.query_one(ContentSwitcher).current = f"p{i}"

        def action_tick(self):
            leaf = self.items[0]
            label = str(leaf.label)
            leaf.set_label(Text(("[x]" + label[3:]) if label.startswith("[ ]") else ("[ ]" + label[3:])))

        def action_note(self):
            self.push_screen(Note())


    Bare().run()
""") % (PANELS,)


class Tmux:
    """A private tmux server for the bench; killed at the end."""

    def __init__(self) -> None:
        exe = shutil.which("tmux")
        if exe is None:
            sys.exit("tmux is required (tests/install-deps.sh installs it)")
        self.exe = exe
        self.socket = f"warroom-keys-{os.getpid()}"

    def run(self, *args: str) -> str:
        return subprocess.run(
            [self.exe, "-L", self.socket, "-f", "/dev/null", *args], check=True, capture_output=True, text=True
        ).stdout

    def screen(self, target: str) -> str:
        return self.run("capture-pane", "-p", "-t", target)

    def kill(self) -> None:
        subprocess.run([self.exe, "-L", self.socket, "kill-server"], capture_output=True)


def wait(check: Callable[[], bool], timeout: float = 10.0) -> float:
    """Seconds until `check()` holds (polling as fast as tmux answers); raises after `timeout`."""
    start = time.perf_counter()
    while not check():
        if time.perf_counter() - start > timeout:
            raise TimeoutError
    return time.perf_counter() - start


def title_shown(tm: Tmux, target: str, n: int) -> Callable[[], bool]:
    """The panel numbered `n` is the one on screen: its border title ("╭─ 2 Checklist ───") is drawn."""
    return lambda: any(line.startswith(f"╭─ {n} ") for line in tm.screen(target).splitlines())


def boxes(screen: str) -> str:
    """The checklist's boxes on screen: a tick changes one of them, whichever item the cursor is on."""
    return "".join(ln[ln.index("[") : ln.index("[") + 3] for ln in screen.splitlines() if "[ ]" in ln or "[x]" in ln)


def measure(tm: Tmux, target: str, presses: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"panel switch": [], "tick": [], "dialog": []}
    for k in range(presses):
        n = (k // 2) % 5 + 2 if k % 2 == 0 else 1  # alternate the go/no-go table with each other panel
        tm.run("send-keys", "-t", target, str(n))
        out["panel switch"].append(wait(title_shown(tm, target, n)))
    tm.run("send-keys", "-t", target, "2")
    wait(title_shown(tm, target, 2))
    for _ in range(2):  # the cursor from the phase row down to the first item (the bare tree ticks its first leaf)
        tm.run("send-keys", "-t", target, "Down")
    time.sleep(0.5)
    for _ in range(presses):
        before = boxes(tm.screen(target))
        tm.run("send-keys", "-t", target, "Space")
        out["tick"].append(wait(lambda b=before: boxes(tm.screen(target)) not in ("", b)))
    for _ in range(max(5, presses // 5)):
        tm.run("send-keys", "-t", target, "n")
        out["dialog"].append(wait(lambda: "Add a note to the decision log" in tm.screen(target)))
        tm.run("send-keys", "-t", target, "Escape")
        wait(lambda: "Add a note to the decision log" not in tm.screen(target))
    return out


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presses", type=int, default=50)
    ap.add_argument("--sizes", default="80x24,160x48")
    args = ap.parse_args()
    tm = Tmux()
    work = Path(tempfile.mkdtemp(prefix="wr-keys-"))
    bare = work / "bare.py"
    bare.write_text(BARE_APP)
    env = f"PYTHONPATH={ROOT} TERM=xterm-256color"
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {args.presses} presses per action")
    try:
        for size in args.sizes.split(","):
            cols, rows = size.split("x")
            log = work / f"demo-{size}.jsonl"
            tm.run("new-session", "-d", "-s", "console", "-x", cols, "-y", rows,
                   f"cd {work} && {env} {sys.executable} -m warroom demo --log {log}")  # fmt: skip
            tm.run("new-session", "-d", "-s", "bare", "-x", cols, "-y", rows, f"{env} {sys.executable} {bare}")
            wait(lambda: "─ 1 " in tm.screen("console") and "─ 1 " in tm.screen("bare"), timeout=60)
            time.sleep(2)  # let the console's first poll land
            got: dict[str, dict[str, list[float]]] = {}
            for name in ("bare", "console"):
                try:
                    got[name] = measure(tm, name, args.presses)
                except TimeoutError:
                    sys.exit(f"{name} at {size}: the screen did not change as expected:\n{tm.screen(name)}")
            print(f"\n{size}          bare p50/p95 ms   console p50/p95 ms   ratio p50/p95")
            for action in got["bare"]:
                b, c = got["bare"][action], got["console"][action]
                b50, b95, c50, c95 = (pct(x, q) * 1000 for x in (b, c) for q in (0.5, 0.95))
                print(
                    f"  {action:<13} {b50:7.1f} / {b95:6.1f}    {c50:7.1f} / {c95:6.1f}      "
                    f"{c50 / b50:4.2f}x / {c95 / b95:4.2f}x"
                )
            tm.run("kill-session", "-t", "console")
            tm.run("kill-session", "-t", "bare")
    finally:
        tm.kill()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
