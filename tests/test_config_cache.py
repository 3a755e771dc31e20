"""The validated-config cache: a second start skips validation, and the cache never hides an error.

`warroom run` loads its config through `load_launch_cached`. These tests hold it to: the same launch as
`load_launch`; a file edited after a good start is validated again, with exactly the errors `load_launch`
reports (file:line:field), and its new values used; a corrupt, truncated, foreign, misnamed or
shared-writable cache entry is ignored (and a pickle naming anything but a launch's models is never
run); and `warroom run` on a config broken after a good start exits 2 with the same message as
`warroom validate`.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
from runcli import warroom  # the child gets the same cache directory as this test

from warroom.config import ConfigError, load_launch, load_launch_cached
from warroom.config.cache import FORMAT, cache_dir, cache_key

ROOT = Path(__file__).resolve().parent.parent
GOOD = (ROOT / "configs" / "demo.yaml").read_text(encoding="utf-8")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return cache_dir()


def entries(where: Path) -> list[Path]:
    return sorted(where.glob("*.pickle")) if where.exists() else []


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_launch(path)
    return [str(p) for p in e.value.problems]


def test_a_second_load_is_the_same_launch_from_the_cache(tmp_path: Path, cache: Path) -> None:
    cfg = tmp_path / "launch.yaml"
    cfg.write_text(GOOD, encoding="utf-8")
    first = load_launch_cached(cfg)
    assert first == load_launch(cfg)
    [entry] = entries(cache)
    assert entry.stat().st_mode & 0o777 == 0o600 and cache.stat().st_mode & 0o777 == 0o700
    again = load_launch_cached(cfg)
    assert again == first and again is not first
    assert again.t0 == first.t0 and [c.id for c in again.criteria] == [c.id for c in first.criteria]


def test_a_config_broken_after_a_good_start_reports_file_line_field_as_load_launch_does(
    tmp_path: Path, cache: Path
) -> None:
    cfg = tmp_path / "launch.yaml"
    cfg.write_text(GOOD, encoding="utf-8")
    load_launch_cached(cfg)
    bad = GOOD.replace("interval: ", "interval: soon-ish # ", 1)
    assert bad != GOOD
    cfg.write_text(bad, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_launch_cached(cfg)
    got = [str(p) for p in e.value.problems]
    assert got == problems(cfg)
    assert got and all(p.startswith(f"{cfg}:") for p in got)
    assert len(entries(cache)) == 1  # nothing stored for a file that does not validate


def test_an_edited_config_is_validated_again_and_its_new_values_used(tmp_path: Path, cache: Path) -> None:
    cfg = tmp_path / "launch.yaml"
    cfg.write_text(GOOD, encoding="utf-8")
    before = load_launch_cached(cfg)
    cfg.write_text(GOOD.replace("name: ", "name: Edited ", 1), encoding="utf-8")
    after = load_launch_cached(cfg)
    assert after == load_launch(cfg) and after != before
    assert len(entries(cache)) == 2


@pytest.mark.parametrize(
    "damage",
    ["garbage", "truncated", "other key", "foreign pickle", "not a launch", "shared-writable", "symlink"],
)
def test_a_corrupt_or_foreign_cache_entry_is_ignored(tmp_path: Path, cache: Path, damage: str) -> None:
    cfg = tmp_path / "launch.yaml"
    cfg.write_text(GOOD, encoding="utf-8")
    good = load_launch(cfg)
    key = cache_key(cfg.read_bytes())
    entry = cache / f"{key}.pickle"
    head = FORMAT + key.encode() + b"\n"
    other = good.model_copy(update={"signatures": "optional", "allowed_signers": "/dev/null"})
    ran = tmp_path / "ran"

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str, ...]]:
            return (os.system, (f"touch {ran}",))

    load_launch_cached(cfg)  # a real entry first: each damage replaces it
    if damage == "garbage":
        entry.write_bytes(head + b"\x80\x05not a pickle at all")
    elif damage == "truncated":
        entry.write_bytes(entry.read_bytes()[:-100])
    elif damage == "other key":  # another file's entry, copied under this file's name
        entry.write_bytes(FORMAT + b"0" * 64 + b"\n" + pickle.dumps(other))
    elif damage == "foreign pickle":  # would run a command if it were unpickled with the standard loader
        entry.write_bytes(head + pickle.dumps(Evil()))
    elif damage == "not a launch":
        entry.write_bytes(head + pickle.dumps({"launch": "x"}))
    elif damage == "shared-writable":  # a valid entry for another config, in a file anyone could have written
        entry.write_bytes(head + pickle.dumps(other))
        entry.chmod(0o666)
    elif damage == "symlink":
        planted = tmp_path / "planted.pickle"
        planted.write_bytes(head + pickle.dumps(other))
        entry.unlink()
        entry.symlink_to(planted)
    got = load_launch_cached(cfg)
    assert got == good and got.signatures == "off"
    assert not ran.exists()


def test_warroom_run_on_a_config_broken_after_a_good_start_says_what_validate_says(tmp_path: Path, cache: Path) -> None:
    cfg = tmp_path / "launch.yaml"
    cfg.write_text(GOOD, encoding="utf-8")
    load_launch_cached(cfg)  # the good start's entry
    assert entries(cache)
    cfg.write_text(GOOD.replace("interval: ", "interval: soon-ish # ", 1), encoding="utf-8")

    run = warroom("run", str(cfg), "--log", str(tmp_path / "launch.jsonl"))
    validate = warroom("validate", str(cfg))
    assert run.returncode == 2 and validate.returncode == 2
    wanted = [ln for ln in validate.stderr.splitlines() if ln.startswith(f"{cfg}:")]
    assert wanted and wanted == [ln for ln in run.stderr.splitlines() if ln.startswith(f"{cfg}:")]
    assert "Traceback" not in run.stderr


def test_a_logs_own_config_text_is_validated_once_and_an_error_is_never_kept(cache: Path) -> None:
    """`parse_launch_cached` (the launch a log carries, read by verify, report and replay on every run): the
    same launch as `parse_launch`, from the same entry a file of those bytes uses; a bad text raises as
    `parse_launch` does, every time, and is never stored."""
    from warroom.config import parse_launch, parse_launch_cached

    first = parse_launch_cached(GOOD, "log#launch")
    assert first == parse_launch(GOOD) and len(entries(cache)) == 1
    assert parse_launch_cached(GOOD, "log#launch") == first and len(entries(cache)) == 1
    bad = GOOD.replace("version: 1\n", "version: 1\nsignatures: required\n", 1)
    for _ in range(2):
        with pytest.raises(ConfigError) as e:
            parse_launch_cached(bad, "log#launch")
        with pytest.raises(ConfigError) as want:
            parse_launch(bad, "log#launch")
        assert str(e.value) == str(want.value)
    assert len(entries(cache)) == 1
