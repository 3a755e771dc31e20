"""The core: pure rules and records every view shares.

Holds units and human formats, the one sanitiser (`text`), plausibility bounds, the event line format
(`events`) and what each kind holds (`records`), the criterion rules, and the fold and view (`state`). No
I/O, no clock, no Textual, HTTP or psutil. The fold and rules read the launch config (`warroom.config`);
units, text, bounds and events import nothing of ours but `records`, which imports nothing.
"""
