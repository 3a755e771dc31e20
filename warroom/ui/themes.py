"""Themes are small YAML files turned into `textual.theme.Theme` objects with semantic variables.

The TCSS refers only to variables (`$gate-go`, `$gate-nogo`, `$gate-warn`,
`$gate-unknown`, `$gate-rollback`, ...), so a theme is one file. The shipped
ones live in the repository's `themes/` (reached through the package's
`ui/themes` link so they also ship in a wheel); users may add their own in
`$XDG_CONFIG_HOME/warroom/themes/`. A broken file is reported, never fatal.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from textual.color import Color
from textual.theme import Theme

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # theme files are small; libyaml makes them free

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
    for d in dirs if dirs is not None else theme_dirs():
        for path in sorted(d.glob("*.y*ml")):
            try:
                theme = parse_theme(yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER), str(path))
            except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError) as e:
                out.problems.append(str(e).splitlines()[0] if isinstance(e, ValueError) else f"{path}: {e}")
                continue
            out.themes[theme.name] = theme
    return out


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
