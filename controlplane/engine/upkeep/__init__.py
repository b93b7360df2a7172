"""Housekeeping of the built-in worker: retention, planner statistics."""
