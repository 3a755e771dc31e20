"""The post-launch report: one pass over the log (`build`), a document model, and md, html and svg renderings.

A fold of the log like every other view. Imports replay, the store, the config and the core; never sources.
"""
