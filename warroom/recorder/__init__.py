"""Observations into the log: the live recorder, backfill from Prometheus history, measured success metrics.

The only layer that polls sources and appends what they say. Imports sources, the store, the config and the core;
never the console.
"""
