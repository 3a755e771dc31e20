"""`warroom report LOG [--format md|html|json] [-o FILE]`: the post-launch report from a log alone."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from warroom.cli import EXIT_NOGO, EXIT_OK, EXIT_USAGE, command, err, log_file
from warroom.core.text import clean, json_bytes
from warroom.report.build import build_report, to_json

FORMATS = ("md", "html", "json")
_BY_SUFFIX = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".json": "json"}


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("log", metavar="LOG", help="decision log (JSON lines)")
    p.add_argument("--format", choices=FORMATS, help="md (default), html or json; default from -o's suffix")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of standard output")
    p.add_argument(
        "--from-prometheus",
        action="store_true",
        help="first measure the success metrics in Prometheus at their cadence (appended to the log as "
        "measurement events, once per period)",
    )


@command("report", "the post-launch report: verdict, go/no-go tables, timeline, checklist, alerts, metrics")(_args)
def cmd_report(args: argparse.Namespace) -> int:
    path = log_file(args.log)
    if path is None:
        return EXIT_USAGE
    fmt = args.format or (_BY_SUFFIX.get(Path(args.output).suffix.lower(), "md") if args.output else "md")
    if args.from_prometheus:
        if args.log.startswith(("postgresql://", "postgres://")):
            err("--from-prometheus: not yet on a PostgreSQL log; copy it to a file first (warroom log copy)")
            return EXIT_USAGE
        _measure(path)
    rep = build_report(path)
    if args.log.startswith(("postgresql://", "postgres://")):
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


def _measure(path: Path) -> None:
    """Success metrics measured in Prometheus for every completed period not yet in the log."""
    import asyncio
    import time

    from warroom.core.events import current_actor
    from warroom.recorder.measure_prom import measure
    from warroom.store.launchlog import launch_from_log
    from warroom.store.log import DecisionLog

    launch = launch_from_log(path)
    actor = current_actor("metrics")
    with DecisionLog(path, actor) as log:
        res = asyncio.run(measure(launch, log, time.time(), actor))
    err(f"{path}: {res.appended} success-metric periods measured in Prometheus")
    for mid, why in res.skipped.items():
        err(f"  {mid}: {why}")
    for f in res.failures:
        err(f"  failed: {f}")


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
