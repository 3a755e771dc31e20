"""A scripted, seedable scenario: values drifting, breaches and alerts at given minutes, no server.

Every value is a pure function of (seed, signal name, tick), where tick is the
scheduled poll index since the scenario's epoch. Two consoles, or a recorder
taking over after another was killed, therefore produce the same scenario.
"""

from __future__ import annotations

import random

from warroom.config import SimSignal, SimStep, SimulatedSource
from warroom.sources.base import ERROR_KINDS, NO_DATA, AlertInfo, Query, Reading, Source, label_fingerprint


class Simulated(Source):
    kind = "simulated"

    def __init__(self, name: str, cfg: SimulatedSource, epoch: float):
        super().__init__(name, cfg.interval, cfg.timeout)
        self.cfg = cfg
        self.epoch = epoch

    def value_at(self, signal: str, offset: float, tick: int) -> Reading:
        """The signal `offset` seconds into the scenario (tick picks the noise draw)."""
        t = self.epoch + offset
        sig = self.cfg.signals.get(signal)
        if sig is None:
            return Reading.fail(t, "bad-query", f"simulated source '{self.name}' has no signal '{signal}'")
        step = _active_step(sig.steps, offset)
        if step is not None:
            if step.error:
                kind = step.error if step.error in ERROR_KINDS else "connection"
                return Reading.fail(t, kind, f"simulated {step.error} (scripted at {step.at:.0f}s)")
            if step.no_data:
                return Reading.fail(t, NO_DATA, "simulated: the query returned no series")
        noise = _noise(self.cfg.seed, signal, tick) * sig.noise
        value = _baseline(sig, offset) + noise
        if step is not None and step.value is not None:
            value = step.value + noise
            if step.ramp_to is not None and step.for_:
                frac = min(1.0, max(0.0, (offset - step.at) / step.for_))
                value = step.value + (step.ramp_to - step.value) * frac + noise
        elif step is not None and step.ramp_to is not None and step.for_:
            start = _baseline(sig, step.at)
            frac = min(1.0, max(0.0, (offset - step.at) / step.for_))
            value = start + (step.ramp_to - start) * frac + noise
        return Reading(t, value)

    async def read(self, query: Query, at: float) -> Reading:
        tick = int((at - self.epoch) // self.interval) if self.interval > 0 else 0
        return self.value_at(query.text, at - self.epoch, tick)

    @property
    def has_alerts(self) -> bool:
        return bool(self.cfg.alerts)

    async def alerts(self, at: float) -> list[AlertInfo]:
        offset = at - self.epoch
        out = []
        for a in self.cfg.alerts:
            if a.at <= offset and (a.for_ is None or offset < a.at + a.for_):
                out.append(
                    AlertInfo(label_fingerprint(a.labels), dict(a.labels), dict(a.annotations), self.epoch + a.at)
                )
        return out


def _baseline(sig: SimSignal, offset: float) -> float:
    """Base plus drift, where drift is in units per minute."""
    return sig.base + sig.drift * (offset / 60.0)


def _active_step(steps: list[SimStep], offset: float) -> SimStep | None:
    """The last step that has started and not ended by `offset`."""
    active = None
    for s in steps:
        if s.at <= offset and (s.for_ is None or offset < s.at + s.for_):
            active = s
    return active


def _noise(seed: int, signal: str, tick: int) -> float:
    """A deterministic draw in [-1, 1]; str seeds are hashed with SHA-512, so stable across processes."""
    return random.Random(f"{seed}:{signal}:{tick}").uniform(-1.0, 1.0)
