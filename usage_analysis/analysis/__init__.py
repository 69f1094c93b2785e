"""Billing analysis: pure functions over the unified usage frame (no widgets, no HTTP)."""

from __future__ import annotations

from .aggregate import compare_periods, top_consumers, usage_by

__all__ = ["compare_periods", "top_consumers", "usage_by"]
