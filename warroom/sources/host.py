"""The local machine through psutil: CPU, memory and disk use in %, load averages.

psutil calls are quick but blocking, so they run in a thread. `cpu_percent`
measures since its previous call; the first call is primed at construction so
the first reading is a real figure, not 0.
"""

from __future__ import annotations

import asyncio
import os
import time

import psutil

from warroom.config import HostSource
from warroom.sources.base import BAD_QUERY, BAD_RESPONSE, Query, Reading, Source


class Host(Source):
    kind = "host"

    def __init__(self, name: str, cfg: HostSource):
        super().__init__(name, cfg.interval, cfg.timeout)
        self.disk_path = cfg.disk_path
        psutil.cpu_percent(interval=None)

    def read_blocking(self, what: str) -> Reading:
        t = time.time()
        try:
            if what == "cpu":
                return Reading(t, float(psutil.cpu_percent(interval=None)))
            if what == "memory":
                return Reading(t, float(psutil.virtual_memory().percent))
            if what == "disk":
                return Reading(t, float(psutil.disk_usage(self.disk_path).percent))
            if what in ("load1", "load5", "load15"):
                return Reading(t, float(os.getloadavg()[("load1", "load5", "load15").index(what)]))
        except FileNotFoundError:
            return Reading.fail(t, BAD_QUERY, f"disk_path {self.disk_path} does not exist on this host")
        except OSError as e:
            return Reading.fail(t, BAD_RESPONSE, f"cannot read {what} of this host: {e.strerror or e}")
        return Reading.fail(t, BAD_QUERY, f"unknown host query {what!r}; use cpu, memory, disk, load1/5/15")

    async def read(self, query: Query, at: float) -> Reading:
        return await asyncio.to_thread(self.read_blocking, query.text)
