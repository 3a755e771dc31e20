"""Themes are small YAML files turned into `textual.theme.Theme` objects with semantic variables.

The TCSS refers only to variables (`$gate-go`, `$gate-nogo`, `$gate-warn`,
`$gate-unknown`, `$gate-rollback`, ...), so a theme is one file. The shipped
ones live in the repository's `themes/` (reached through the package's
`ui/themes` link so they also ship in a wheel); users may add their own in
`$XDG_CONFIG_HOME/warroom/themes/`. A broken file is reported, never fatal.

What YAML reads from each file is kept in the user's cache (`$XDG_CACHE_HOME/warroom/themes.json`), keyed by
the file's bytes: importing a YAML parser cost a console's first frame more than reading its themes, so a
console whose theme files are unchanged starts without one. The entry is the file's mapping as YAML read it,
and is checked by `parse_theme` as a freshly read one is.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual.color import Color
from textual.theme import Theme

from warroom.config import cache_root

DEFAULT = "dark"
NO_COLOR_THEME = "monochrome"
GATE_VARIABLES = ("gate-go", "gate-nogo", "gate-warn", "gate-unknown", "gate-rollback", "gate-badge-text", "muted")
_COLOURS = (
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)


@dataclass
class Loaded:
    themes: dict[str, Theme] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def theme_dirs() -> list[Path]:
    """Shipped themes first, then the user's (which may override by name)."""
    here = Path(__file__).resolve().parent
    dirs = [here / "themes", here.parent.parent / "themes"]
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    dirs.append(Path(config) / "warroom" / "themes")
    out: list[Path] = []
    for d in dirs:
        if d.is_dir() and all(not d.samefile(o) for o in out):
            out.append(d)
    return out


def parse_theme(data: object, source: str) -> Theme:
    """One theme from its YAML mapping; ValueError with a readable message if it is not one."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: a theme is a mapping with name, primary, ... and variables")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{source}: 'name' is missing")
    unknown = set(data) - set(_COLOURS) - {"name", "dark", "variables", "luminosity_spread", "text_alpha"}
    if unknown:
        raise ValueError(f"{source}: unknown keys: {', '.join(sorted(map(str, unknown)))}")
    if not isinstance(data.get("primary"), str):
        raise ValueError(f"{source}: 'primary' colour is missing")
    variables = data.get("variables") or {}
    if not isinstance(variables, dict):
        raise ValueError(f"{source}: 'variables' must be a mapping")
    # colour keys only, all str; Any because Theme also takes non-str keyword arguments
    kwargs: dict[str, Any] = {k: str(data[k]) for k in _COLOURS if data.get(k) is not None}
    theme = Theme(
        name=name.strip(),
        dark=bool(data.get("dark", True)),
        variables={str(k): str(v) for k, v in variables.items()},
        **kwargs,
    )
    for key in ("luminosity_spread", "text_alpha"):
        if key in data:
            setattr(theme, key, float(data[key]))
    for key, value in kwargs.items():
        try:
            Color.parse(value)
        except Exception as e:  # Textual raises several kinds for a bad colour string
            raise ValueError(f"{source}: bad colour for {key}: {e}") from None
    return theme


def load_themes(dirs: list[Path] | None = None) -> Loaded:
    out = Loaded()
    cached = _read_cache()
    kept: dict[str, object] = {}  # this time's files' entries: what the cache holds from now on
    for d in dirs if dirs is not None else theme_dirs():
        for path in sorted(d.glob("*.y*ml")):
            try:
                raw = path.read_bytes()
                key = hashlib.sha256(raw).hexdigest()
                data = cached[key] if key in cached else _read_yaml(raw)
                if _as_json(data) is not None:
                    kept[key] = data
                theme = parse_theme(data, str(path))
            except (OSError, UnicodeDecodeError, ValueError) as e:
                out.problems.append(str(e).splitlines()[0] if isinstance(e, ValueError) else f"{path}: {e}")
                continue
            except _YamlError as e:
                out.problems.append(f"{path}: {e.error}")
                continue
            out.themes[theme.name] = theme
    if kept != cached:
        _write_cache(kept)
    return out


class _YamlError(Exception):
    """A file YAML could not read (`error` is YAML's own, reported as it was before the cache)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _read_yaml(raw: bytes) -> object:
    import yaml  # only for a file not read before: not on a console's usual first frame

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # theme files are small; libyaml makes them free
    text = raw.decode("utf-8")
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as e:
        raise _YamlError(e) from None


def _as_json(data: object) -> str | None:
    """`data` as JSON if JSON gives it back unchanged (a YAML date or a non-string key would not be)."""
    try:
        text = json.dumps(data)
    except (TypeError, ValueError):
        return None
    return text if json.loads(text) == data else None


def _cache_file() -> Path:
    return cache_root() / "themes.json"


def _read_cache() -> dict[str, object]:
    """The cached mappings by file hash; nothing if the file is missing, damaged, or not the user's alone."""
    path = _cache_file()
    try:
        st = os.stat(path)
        if st.st_uid != os.getuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or st.st_size > 1 << 20:
            return {}
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    entries = data.get("themes") if isinstance(data, dict) and data.get("format") == 1 else None
    return entries if isinstance(entries, dict) else {}


def _write_cache(entries: dict[str, object]) -> None:
    """Whole or not at all; a cache that cannot be written costs the next start a YAML parser, nothing else."""
    path = _cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".themes-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"format": 1, "themes": entries}, f)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        return


def gate_defaults(theme: Theme) -> dict[str, str]:
    """Fallback semantic variables for themes that do not define them (Textual's built-in themes)."""
    return {
        "gate-go": theme.success or "green",
        "gate-nogo": theme.error or "red",
        "gate-warn": theme.warning or "yellow",
        "gate-unknown": "#9aa4b2" if theme.dark else "#57606a",
        "gate-rollback": theme.accent or theme.warning or "magenta",
        "gate-badge-text": "#000000" if theme.dark else "#ffffff",
        "muted": "#8a939f" if theme.dark else "#5c6570",
    }


def choose(requested: str | None, available: dict[str, Theme], no_color: bool) -> tuple[str, str | None]:
    """The theme to start with and, if the request could not be honoured, why."""
    if requested:
        if requested in available:
            return requested, None
        fallback = NO_COLOR_THEME if no_color else DEFAULT
        return fallback, f"theme '{requested}' not found; using '{fallback}' (have: {', '.join(sorted(available))})"
    return (NO_COLOR_THEME if no_color else DEFAULT), None
