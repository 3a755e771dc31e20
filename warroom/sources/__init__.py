"""Metric sources: one module per kind behind the small interface in `base`.

Sources know nothing of Textual or the log; `make_source` builds one from its
config, and the recorder schedules them.
"""

from __future__ import annotations

from warroom.config import (
    AlertmanagerSource,
    HostSource,
    HttpSource,
    PrometheusSource,
    SimulatedSource,
)
from warroom.config import Source as SourceConfig
from warroom.sources.base import (
    ERROR_KINDS,
    UNREACHABLE,
    AlertInfo,
    Query,
    Reading,
    Source,
    SourceFailure,
)


def make_source(name: str, cfg: SourceConfig, *, epoch: float, queries: int = 1) -> Source:
    """A live source for `cfg`; `epoch` starts simulated scenarios, `queries` sizes thread pools."""
    if isinstance(cfg, PrometheusSource):
        from warroom.sources.prometheus import Prometheus

        return Prometheus(name, cfg, workers=max(4, queries))
    if isinstance(cfg, AlertmanagerSource):
        from warroom.sources.alertmanager import Alertmanager

        return Alertmanager(name, cfg)
    if isinstance(cfg, HttpSource):
        from warroom.sources.http import Http

        return Http(name, cfg)
    if isinstance(cfg, HostSource):
        from warroom.sources.host import Host

        return Host(name, cfg)
    if isinstance(cfg, SimulatedSource):
        from warroom.sources.simulated import Simulated

        return Simulated(name, cfg, epoch)
    raise TypeError(f"unknown source config {type(cfg).__name__}")


__all__ = ["ERROR_KINDS", "UNREACHABLE", "AlertInfo", "Query", "Reading", "Source", "SourceFailure", "make_source"]
