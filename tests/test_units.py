"""Values in human units: the unit that fits, three significant digits, and never a miss shown as a pass."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shown import read_back

from warroom.core.units import format_duration, format_value, parse_threshold

TABLE = [
    # (value, criterion unit, bound or None, shown)
    (1200, "s", None, "20 min"),
    (0.2049, "s", None, "205 ms"),
    (86400, "s", None, "1 d"),
    (45.67, "s", None, "45.7 s"),
    (59.97, "s", None, "1 min"),  # the unit is chosen after rounding: not "60 s"
    (5400, "s", None, "1.5 h"),
    (3 * 86400 + 7200, "s", None, "3.08 d"),
    (300, "ms", None, "300 ms"),
    (1300, "ms", None, "1.3 s"),
    (0.4, "ms", None, "0.4 ms"),
    (2, "min", None, "2 min"),
    (90, "min", None, "1.5 h"),
    (12, "", None, "12"),
    (999, "count", None, "999"),
    (1234, "", None, "1.23k"),
    (1_500_000, "count", None, "1.5M"),
    (2500, "rpm", None, "2.5k rpm"),
    (1.5e9, "B", None, "1.5 GB"),
    (2048, "KB", None, "2.05 MB"),
    (0, "", 0, "0"),
    (-3.5, "s", None, "-3.5 s"),
    (99.79, "%", 99.8, "99.79%"),  # percent keeps its fixed decimals
    (0.9985, "ratio", None, "0.9985"),
    (1e308, "ms", 200, "1.0e308 ms"),
    # a miss next to the bound keeps the digits that show it is a miss
    (1199.9, "s", 1200, "19.998 min"),
    (1200.1, "s", 1200, "20.002 min"),
    (499.6, "ms", 500, "499.6 ms"),
    (59.97, "s", 60, "0.999 min"),
    (1000.4, "", 1000, "1.0004k"),
    (99.7999, "%", 99.8, "99.7999%"),
]


@pytest.mark.parametrize(("value", "unit", "bound", "shown"), TABLE)
def test_values_read_the_way_people_say_them(value, unit, bound, shown):
    assert format_value(value, unit, bound) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0 s"), (45, "45 s"), (65, "1 min 5 s"), (600, "10 min"), (725, "12 min"), (3600, "1 h"), (11100, "3 h 5 min")]
    + [(86400, "1 d"), (90000, "1 d 1 h"), (-3700, "-1 h 1 min")],
)
def test_durations_read_the_way_people_say_them(seconds, shown):
    assert format_duration(seconds) == shown


UNITS = ["%", "ratio", "ms", "s", "min", "h", "d", "", "count", "score", "B", "KB", "MB", "GB", "rpm", "rps"]
SAME_FAMILY = {
    "ms": ["ms", "s", "min", "h", "d"],
    "s": ["ms", "s", "min", "h", "d"],
    "min": ["s", "min", "h"],
    "h": ["min", "h", "d"],
    "d": ["h", "d"],
    "B": ["B", "KB", "MB", "GB"],
    "KB": ["B", "KB", "MB"],
    "MB": ["KB", "MB", "GB"],
    "GB": ["MB", "GB"],
}


def _judged_alike(value: float, unit: str, op: str, bound: float, bound_unit: str) -> None:
    """The shown text, read back by a person, passes the threshold exactly when the value does."""
    text = f"{op} {bound!r}{bound_unit}"
    th = parse_threshold(text, unit)
    shown = format_value(value, unit, th.value)
    assert th.holds(read_back(shown, unit)) == th.holds(value), (value, unit, text, shown)
    assert len(shown) <= 40, shown


@settings(max_examples=400, deadline=None)
@given(
    value=st.floats(allow_nan=False, allow_infinity=False),
    bound=st.floats(min_value=-1e12, max_value=1e12, allow_nan=False),
    unit=st.sampled_from(UNITS),
    op=st.sampled_from([">=", ">", "<=", "<", "==", "!="]),
    data=st.data(),
)
def test_formatting_never_turns_a_failing_value_into_a_passing_one(value, bound, unit, op, data):
    bound_unit = data.draw(st.sampled_from(SAME_FAMILY.get(unit, [""])))
    _judged_alike(value, unit, op, bound, bound_unit)


@settings(max_examples=400, deadline=None)
@given(
    bound=st.floats(min_value=1e-3, max_value=1e9, allow_nan=False),
    nudge=st.integers(min_value=-40, max_value=40),
    unit=st.sampled_from(UNITS),
    op=st.sampled_from([">=", ">", "<=", "<"]),
)
def test_a_value_a_hair_from_its_bound_is_shown_on_its_own_side(bound, nudge, unit, op):
    """The risky values sit within a rounding step of the bound: nudged by a few parts per million."""
    th = parse_threshold(f"{op} {bound!r}", unit)
    value = th.value * (1 + nudge * 1e-6)
    shown = format_value(value, unit, th.value)
    assert th.holds(read_back(shown, unit)) == th.holds(value), (value, unit, op, th.value, shown)


def test_seeded_sweep_of_round_numbers_next_to_their_bounds():
    """Bounds people write (500 ms, 20 min, 99.8 %, 1k) and values a step either side of them."""
    rng = random.Random(17)
    for _ in range(5_000):
        unit = rng.choice(UNITS)
        bound = rng.choice([0.5, 1, 5, 20, 60, 99.8, 500, 1000, 1200, 3600, 86400, 1e6]) * rng.choice([1, 10, 0.1])
        step = bound * rng.choice([1e-2, 1e-3, 1e-4, 1e-6, 1e-9]) * rng.choice([-3, -1, 0, 1, 3])
        _judged_alike(bound + step, unit, rng.choice([">=", ">", "<=", "<", "==", "!="]), bound, "")
