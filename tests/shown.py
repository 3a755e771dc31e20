"""Reading a shown value back the way a person does: '20 min' against a threshold in seconds is 1200.

The inverse of `format_value` for the property tests: the number times the
shown unit (and its k/M/G prefix) over the criterion's unit, the same
conversion `parse_threshold` makes of a threshold's text.
"""

from __future__ import annotations

import re

from warroom.core.units import UNITS

_SHOWN = re.compile(r"^([+-]?\d+(?:\.\d+)?(?:e[+-]?\d+)?)([kMG]?)(?:\s*(\S+))?$")
_PREFIX = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9}


def read_back(shown: str, unit: str) -> float:
    """The value `shown` says, in `unit` (the criterion's unit)."""
    m = _SHOWN.match(shown.strip())
    assert m, f"not a shown value: {shown!r}"
    number, prefix, shown_unit = float(m.group(1)), m.group(2), m.group(3) or ""
    if shown_unit == "%" or (shown_unit == "" and shown.endswith("%")):
        shown_unit = "%"
    family, factor = UNITS.get(unit, ("count", 1.0))
    if shown_unit and shown_unit in UNITS and UNITS[shown_unit][0] == family and shown_unit != unit:
        return number * (UNITS[shown_unit][1] * _PREFIX[prefix] / factor)
    assert shown_unit in ("", unit), f"{shown!r} is not in {unit!r}"
    return number * _PREFIX[prefix] if prefix else number  # a count or a rate: its own unit, scaled by the prefix
