"""`warroom report LOG [--format md|html|json] [-o FILE]`: the post-launch report from a log alone."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from warroom.commands.args import add_log, log_file
from warroom.commands.common import EXIT_NOGO, EXIT_OK, EXIT_USAGE, err
from warroom.config import ConfigError, Launch
from warroom.core.text import clean, json_bytes
from warroom.report.build import build_report, to_json
from warroom.store.launchlog import launch_from_log

FORMATS = ("md", "html", "json")
_BY_SUFFIX = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".json": "json"}


def configure(p: argparse.ArgumentParser) -> None:
    add_log(p)
    p.add_argument("--format", choices=FORMATS, help="md (default), html or json; default from -o's suffix")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of standard output")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--from-prometheus",
        action="store_true",
        help="first measure the success metrics in Prometheus at their cadence (appended to the log as "
        "measurement events, once per period); the default does so when Prometheus answers",
    )
    where.add_argument(
        "--log-only",
        action="store_true",
        help="do not ask Prometheus: report the success metrics from what the log holds",
    )


def run(args: argparse.Namespace) -> int:
    path = log_file(args.log)
    if path is None:
        return EXIT_USAGE
    fmt = args.format or (_BY_SUFFIX.get(Path(args.output).suffix.lower(), "md") if args.output else "md")
    shared = args.log.startswith(("postgresql://", "postgres://"))
    try:
        launch = launch_from_log(path)  # read once: the measuring and the report share it
    except ConfigError:
        launch = None  # build_report says what is wrong with the log
    if args.log_only:
        provenance = "from the log only (--log-only)"
    else:
        provenance, appended = _measure(path, launch, args.from_prometheus, args.log if shared else None)
        if shared and appended:  # the snapshot was read before the measurements went into the database
            path = log_file(args.log)
            if path is None:
                return EXIT_USAGE
    rep = build_report(path, launch=launch)
    rep.metrics_provenance = provenance
    if shared:
        rep.path = args.log  # name the shared log, not the local snapshot it was read from
    if fmt == "json":
        data = json_bytes(to_json(rep), indent=True) + b"\n"
    elif fmt == "html":
        from warroom.report.render_html import render_html

        data = render_html(rep).encode()
    else:
        from warroom.report.render_md import render_markdown

        data = render_markdown(rep).encode()
    if args.output:
        try:
            _write(Path(args.output), data)
        except OSError as e:
            err(f"{args.output}: cannot write the report: {e.strerror or e}")
            return EXIT_USAGE
        err(f"{args.output}: {fmt} report on {rep.events:,} events; {clean(rep.integrity)}")
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    if not rep.integrity_ok:
        err(f"{path}: {clean(rep.integrity)}")
        return EXIT_NOGO
    return EXIT_OK


def _measure(path: Path, launch: Launch | None, forced: bool, shared: str | None = None) -> tuple[str, int]:
    """Success metrics measured in Prometheus for every completed period not yet in the log; returns where this
    report's success metrics come from, for the report to say, and how many periods were appended. Without
    --from-prometheus it is tried only when a metric can be measured there, the log is writable here, and the
    source answers a probe within seconds. A PostgreSQL log (`shared`, its URI; `path` is then a local snapshot
    of it) is measured into the database itself, through the store, so every console and report sees it."""
    import contextlib
    import time

    from warroom.core.events import current_actor
    from warroom.recorder.measure_prom import measurable, measure
    from warroom.store.log import LogCorrupt
    from warroom.store.open import open_store

    if launch is None:
        return "", 0  # the report itself says what is wrong with the log
    if not forced and not measurable(launch):
        return "from the log only (no success metric can be measured in a Prometheus source)", 0
    if shared is None and not forced and not os.access(path, os.W_OK):
        return "from the log only (the log is read-only here, so Prometheus measurements cannot be recorded)", 0
    import asyncio  # only when there is something to measure

    actor = current_actor("metrics")
    try:
        with contextlib.closing(open_store(shared or path, actor, launch_id=launch.id)) as log:
            res = asyncio.run(measure(launch, log, time.time(), actor, probe_timeout=None if forced else 3.0))
    except (OSError, LogCorrupt) as e:  # the database down or refusing this role, the file not writable
        why = clean(getattr(e, "strerror", None) or str(e))
        err(f"{shared or path}: success metrics not measured: {why}")
        return f"from the log only (Prometheus measurements could not be recorded in the log: {why})", 0
    err(f"{shared or path}: {res.appended} success-metric periods measured in Prometheus")
    for mid, why in res.skipped.items():
        err(f"  {mid}: {clean(why)}")
    for f in res.failures:
        err(f"  failed: {clean(f)}")
    if res.unreachable and res.appended == 0:
        why = "; ".join(f"{n}: {clean(r)}" for n, r in sorted(res.unreachable.items()))
        return f"from the log only: Prometheus not reachable ({why})", 0
    how = "--from-prometheus" if forced else "Prometheus answered"
    return (
        f"measured in Prometheus for this report ({how}): {res.appended} new periods recorded in the log",
        res.appended,
    )


def _write(target: Path, data: bytes) -> None:
    """Write atomically so a half-written report never replaces a good one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
