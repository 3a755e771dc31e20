"""A headless recorder on a log, as a console runs it: `python tests/notify_recorder.py CONFIG LOG`
(LOG: a file, or postgresql://...#LAUNCH_ID).

The notification tests run it as a real process, so they can SIGKILL it mid-delivery and start another.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from warroom.config import load_launch
from warroom.core.events import current_actor
from warroom.recorder.loop import Recorder
from warroom.store.launchlog import bind, first_launch_event
from warroom.store.open import open_store


def main(config: str, log_path: str) -> None:
    path = Path(config)
    launch = load_launch(path)
    log = open_store(log_path, current_actor("recorder-test"), launch_id=launch.id)
    launch, _ = bind(log, launch, path.read_text(encoding="utf-8"), str(path))
    first = first_launch_event(log)
    assert first is not None
    asyncio.run(Recorder(launch, log, epoch=first.ts).run())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
