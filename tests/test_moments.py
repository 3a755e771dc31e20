"""One moment grammar: config thresholds, backfill --from/--to, replay --at and the console's jump read the same."""

from __future__ import annotations

import pytest

from warroom.core.units import parse_moment
from warroom.ui.playhead import parse_moment_text

T0 = 1_700_000_000.0
FORMS = {
    "T-1h": -3600.0,
    "T+30m": 1800.0,
    "T+1h30m": 5400.0,
    "T-0": 0.0,
    "t0": 0.0,
    "T+00:37": 37 * 60.0,
    "T-00:37:12": -(37 * 60.0 + 12),
    "T+1d02:00": 86400.0 + 7200.0,
    "T - 5m": -300.0,
}


@pytest.mark.parametrize("text", FORMS)
def test_every_form_means_the_same_moment_everywhere(text: str) -> None:
    assert parse_moment(text) == FORMS[text]
    assert parse_moment_text(text, T0) == T0 + FORMS[text]


@pytest.mark.parametrize("text", ["00:37", "T+", "T+00:7", "yesterday", "T+5 parsecs"])
def test_what_is_not_a_moment_is_refused_with_each_place_s_hint(text: str) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        parse_moment(text)
    with pytest.raises(ValueError, match=r"write e\.g\. T"):
        parse_moment_text(text, T0)
