"""Hostile text through every output path: a valid-hash log with attacks in every untrusted field
(note, actor user/host/ssh/name, sign-off and decision reasons, item ids, alert labels and
annotations, sample errors, trigger modes, event kinds, rollback step output), pushed through
`warroom log` (text and --json), `check` (text and --json), `rollback`, `describe()`, the report
(md, html, json) and the console screen. Nothing dangerous may come out raw; markup is shown
literally; JSON parses and keeps the text, escaped."""

from __future__ import annotations

import asyncio
import functools
import html
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import runcli
from hostile import BIG_LINE, CORPUS, FORBIDDEN, MANY_LINES, PAYLOADS, ROOT, SMALL, Entry, write_hostile_log

from warroom.config import load_launch
from warroom.core.describe import describe
from warroom.core.events import Actor
from warroom.recorder.loop import Recorder
from warroom.store.log import DecisionLog, read_log

pytestmark = pytest.mark.slow
LONGEST_LINE = 20_000  # no output line may come near the 1 MB one


@dataclass(frozen=True)
class Output:
    text: str
    form: str  # "terminal", "md", "html" or "json"


# invalid bytes shown as they came, so the test would see them
warroom = functools.partial(runcli.warroom, cwd=ROOT, errors="surrogateescape")


def _check(path: Path, cfg: Path, *extra: str) -> str:
    """`warroom check --log` while this process holds the recorder lock: check judges the log, polls nothing."""
    launch = load_launch(cfg)
    with DecisionLog(path, Actor("test", "here")) as dl:
        rec = Recorder(launch, dl)
        assert rec.lock.try_acquire()
        try:
            res = warroom("check", str(cfg), "--log", str(path), *extra)
        finally:
            rec.lock.release()
    assert res.returncode == 1, res.stderr  # NO-GO: every criterion's last sample is an error
    return res.stdout


async def _console(path: Path, cfg: Path, tmp: Path) -> str:
    """Every panel of two consoles on the hostile log, and their notifications."""
    from ui_scenario import Clock, screen_text

    from warroom.ui.app import WarroomApp

    launch = load_launch(cfg)
    end = read_log(path).events[-1].ts
    shown: list[str] = []
    # observer: the --as name is hostile, so the header shows it and the reason it is not a member
    hostile_name = CORPUS[4].text + " " + CORPUS[5].text
    app = WarroomApp(launch, log_path=path, actor=Actor("eve", "bastion", name=hostile_name), clock=Clock(end))
    async with app.run_test(size=(119, 200)) as pilot:
        for key in "123456":
            await pilot.press(key)
            await pilot.pause()
            shown.append(screen_text(app))
        await pilot.press("a")  # not allowed: the warning quotes the actor
        await pilot.pause()
        shown += [str(n.message) + " " + str(n.title) for n in app._notifications]
        assert all(n.markup is False for n in app._notifications)
    # live, as a member, on a copy: acknowledging the newest alert toasts its hostile title
    copy = tmp / "console-copy.jsonl"
    shutil.copyfile(path, copy)
    app = WarroomApp(launch, log_path=copy, actor=Actor("root", "bastion"), clock=Clock(end), record=False)
    async with app.run_test(size=(119, 200)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        shown.append(screen_text(app))
        shown += [str(n.message) + " " + str(n.title) for n in app._notifications]
        assert all(n.markup is False for n in app._notifications)
    return "\n".join(shown)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Output]]:
    tmp = tmp_path_factory.mktemp("hostile")
    path, cfg, rollback_out = write_hostile_log(tmp)
    out: dict[str, Output] = {}
    res = warroom("log", str(path))
    assert res.returncode == 0, res.stderr
    out["log text"] = Output(res.stdout, "terminal")
    res = warroom("log", str(path), "--json")
    assert res.returncode == 0, res.stderr
    out["log json"] = Output(res.stdout, "json")
    out["check text"] = Output(_check(path, cfg), "terminal")
    out["check json"] = Output(_check(path, cfg, "--json"), "json")
    out["rollback"] = Output(rollback_out, "terminal")
    for fmt in ("md", "html", "json"):
        res = warroom("report", str(path), "--format", fmt)
        assert res.returncode == 0, res.stderr
        out[f"report {fmt}"] = Output(res.stdout, fmt)
    out["describe"] = Output("\n".join(describe(ev) for ev in read_log(path).events), "terminal")
    out["console"] = Output(asyncio.run(_console(path, cfg, tmp)), "terminal")
    yield out


PATHS = (
    "log text",
    "log json",
    "check text",
    "check json",
    "rollback",
    "report md",
    "report html",
    "report json",
    "describe",
    "console",
)
# paths that show the notes (the 1 MB line and the 100,000-line note)
SHOW_NOTES = ("log text", "log json", "report md", "report html", "report json", "describe", "console")


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def _json_docs(out: Output) -> list[Any]:
    text = out.text
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("name", PATHS)
def test_nothing_dangerous_comes_out_raw(outputs: dict[str, Output], name: str):
    out = outputs[name]
    raw = FORBIDDEN.search(out.text)
    assert raw is None, f"{name}: raw {raw.group()!r} at {out.text[max(0, raw.start() - 40) : raw.end() + 40]!r}"
    if out.form == "json":
        docs = _json_docs(out)  # it parses, and the data still holds what was logged
        assert any("\x1b" in s for d in docs for s in _strings(d))
        assert "\\u001b" in out.text and "\\u202e" in out.text  # escaped, not dropped
    else:
        for p in PAYLOADS:
            assert p not in out.text, f"{name}: the body of an escape sequence is shown: {p}"
        longest = max(len(line) for line in out.text.splitlines())
        assert longest < LONGEST_LINE, f"{name}: a line of {longest:,} characters"


@pytest.mark.parametrize("entry", CORPUS, ids=[e.id for e in CORPUS])
@pytest.mark.parametrize("name", PATHS)
def test_each_hostile_string_is_shown_literally_and_harmless(outputs: dict[str, Output], name: str, entry: Entry):
    out = outputs[name]
    assert entry.tag in out.text, f"{name} never showed the {entry.id} text: the test would prove nothing"
    if out.form == "terminal":
        if entry.id == "newline" and name == "rollback":  # command output keeps its lines, each marked as output
            forged = [line for line in out.text.splitlines() if "forged line" in line]
            assert forged and all(line.startswith("    1| ") for line in forged)
            return
        assert f"{entry.tag} {entry.shown}" in out.text
    elif out.form == "html":
        assert html.escape(f"{entry.tag} {entry.shown}", quote=True) in out.text
    elif out.form == "md":
        escaped = re.sub(r"([\\`*_\[\]<>|#~&])", r"\\\1", f"{entry.tag} {entry.shown}")
        assert escaped in out.text
    else:
        assert any(entry.text in s for d in _json_docs(out) for s in _strings(d)), "JSON lost the text"


def test_html_report_has_no_injected_tags_or_attributes(outputs: dict[str, Output]):
    page = outputs["report html"].text
    assert "<script" not in page and "onerror=" not in page.replace("&quot;onerror=", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_markdown_report_escapes_markup_outside_code_blocks(outputs: dict[str, Output]):
    md = outputs["report md"].text
    prose = re.sub(r"(`{3,})text\n.*?\n\1", "", md, flags=re.DOTALL)
    assert "<script>" not in prose and not re.search(r"(?<!\\)\[link=file", prose)
    assert r"\[link=file:///etc/passwd\]x\[/link\]" in prose


@pytest.mark.parametrize("name", SHOW_NOTES)
def test_a_huge_note_is_cut_with_a_visible_marker(outputs: dict[str, Output], name: str):
    out = outputs[name]
    assert "hx-mb:" in out.text and "hx-lines:" in out.text
    if out.form == "json":
        strings = [s for d in _json_docs(out) for s in _strings(d)]
        if name == "log json":  # the log's own JSON keeps every character
            assert BIG_LINE in strings and MANY_LINES in strings
        return
    marker = r"\\?\[[\d,]+ more characters(, [\d,]+ more lines)? cut\\?\]"
    assert re.search(marker, out.text), f"{name}: no cut marker"
    assert len(out.text) < 2_000_000, f"{name}: {len(out.text):,} characters for a 1.5 MB log"
    assert out.text.count("line line") < 5_000  # the 100,000 lines are not all there


def test_the_corpus_itself_is_hostile():
    """The corpus would break a terminal if printed as it is: the test above can fail."""
    assert FORBIDDEN.search(SMALL)
    assert all(FORBIDDEN.search(e.raw) or set(e.raw) & set('[<"\n') for e in CORPUS)


# ---------------------------------------------------------------- the sanitiser itself


@pytest.mark.parametrize("entry", CORPUS, ids=[e.id for e in CORPUS])
def test_clean_shows_each_entry_as_expected_and_cleaning_twice_changes_nothing(entry: Entry):
    from warroom.core.text import clean

    assert clean(entry.raw) == entry.shown
    assert clean(clean(entry.raw)) == clean(entry.raw)


def test_clean_caps_long_text_once_and_says_how_much():
    from warroom.core.text import MAX_CHARS, clean, clean_lines

    once = clean(BIG_LINE)
    assert len(once) <= MAX_CHARS and once.startswith("hx-mb: AAA") and "more characters cut]" in once
    assert clean(once) == once
    lines = clean_lines(MANY_LINES)
    assert len(lines) < 300 and "more lines" in lines[-1]


def test_json_bytes_escapes_what_clean_would_hide_and_keeps_the_data():
    from warroom.core.text import json_bytes

    data = {"s": "tag\U000e0041 bidi\u202e c1\x9b esc\x1b ls\u2028 ok é", "n": [1, "\ufeff"]}
    out = json_bytes(data, indent=True)
    assert json.loads(out) == data
    assert not FORBIDDEN.search(out.decode())
    assert b"\\udb40\\udc41" in out and b"\\u202e" in out and b"\\u009b" in out and "é".encode() in out
    assert json.loads(json_bytes({"lone": "\ud800"})) == {"lone": "\ud800"}  # orjson refuses it; still valid JSON


def test_clean_replaces_invalid_utf8_and_lone_surrogates():
    from warroom.core.text import REPLACEMENT, clean

    assert clean(b"bad \xff\xfe bytes") == f"bad {REPLACEMENT}{REPLACEMENT} bytes"
    assert clean("lone \udc80 surrogate") == f"lone {REPLACEMENT} surrogate"
