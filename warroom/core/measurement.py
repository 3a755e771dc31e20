"""The `measurement` event's payload: a success metric measured by hand (CLI `warroom measure` and the console)."""

from __future__ import annotations


def measurement_data(metric: str, value: float, period: str, link: str) -> dict[str, object]:
    """What a hand-entered measurement records; who entered it is the event's actor."""
    d: dict[str, object] = {"metric": metric, "value": value, "period": period, "source": "manual"}
    if link:
        d["link"] = link
    return d
