"""The report-request form's logic, without widgets: checks, notes and the client call.

:func:`check_request` says what is wrong (errors: the request cannot be sent)
and what the user should know (notes: a range longer than a provider allows is
split into several reports, days in the future have no data yet). The spans
come from ``defaults.py``; the clients split long ranges themselves, so a long
range is a note, not an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from ..defaults import HERE_MAX_SPAN, INFORMATICA_MAX_SPAN

__all__ = ["Check", "check_request", "split_ids"]

HERE_DETAIL_LEVELS = ("day", "month", "summarized")  # reports: no "hour"
HERE_GROUP_BY = ("project", "billingTag", "appId")
HERE_CHARGE_TYPES = ("all", "billable", "nonBillable")
INFORMATICA_JOB_TYPES = ("SUMMARY", "PROJECT_FOLDER", "ASSET", "JOB_LEVEL")
PARTICLE_REPORT_TYPES = ("devices", "products")


@dataclass
class Check:
    """The outcome of checking a form: errors (by field) and notes."""

    errors: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the request can be sent."""
        return not self.errors


def _reports(days: int, max_days: int) -> int:
    return max(1, math.ceil(days / max_days))


def check_request(provider: str, values: dict[str, Any], *, today: date) -> Check:
    """Check a request's form values for ``provider`` ("particle", "here", "informatica")."""
    out = Check()
    start, end = values.get("start"), values.get("end")
    if start is None:
        out.errors["start"] = "choose the first day"
    if end is None:
        out.errors["end"] = "choose the last day"
    if start is None or end is None:
        return out
    if end < start:
        out.errors["end"] = f"the last day ({end}) is before the first ({start})"
        return out
    days = (end - start).days + 1
    if start > today:
        out.errors["start"] = f"{start} is in the future: there is no usage yet"
    elif end > today:
        out.notes.append(f"days after {today} have no usage yet; the report stops at today's data")
    if provider == "here":
        limit = HERE_MAX_SPAN.days
        if days > limit:
            out.notes.append(
                f"{days} days is longer than HERE's {limit}-day limit: asked for as "
                f"{_reports(days, limit)} reports and joined into one file"
            )
        if end >= today - timedelta(days=2):
            out.notes.append("HERE data lags up to 48 h: the newest two days may still grow")
        level = values.get("detail_level", "day")
        if level not in HERE_DETAIL_LEVELS:
            out.errors["detail_level"] = f"expected one of {', '.join(HERE_DETAIL_LEVELS)}"
    elif provider == "informatica":
        job_type = values.get("job_type", "SUMMARY")
        if job_type not in INFORMATICA_MAX_SPAN:
            out.errors["job_type"] = f"expected one of {', '.join(INFORMATICA_MAX_SPAN)}"
            return out
        limit = INFORMATICA_MAX_SPAN[job_type].days
        if days > limit:
            out.notes.append(
                f"{days} days is longer than the {limit} days a {job_type} export may span: "
                f"asked for as {_reports(days, limit)} exports and joined into one file"
            )
        meter = values.get("meter_id")
        if meter and job_type in ("SUMMARY", "PROJECT_FOLDER"):
            out.errors["meter_id"] = f"{job_type} exports cover every meter: choose 'all meters'"
        if job_type == "JOB_LEVEL" and not meter:
            out.notes.append("no meter chosen: the job-level export covers all meters")
    elif provider == "particle" and values.get("report_type", "devices") not in (
        PARTICLE_REPORT_TYPES
    ):
        out.errors["report_type"] = f"expected one of {', '.join(PARTICLE_REPORT_TYPES)}"
    return out


def split_ids(text: str) -> list[str] | None:
    """'a, b c' -> ['a', 'b', 'c']; empty text -> None (no filter)."""
    parts = [p for p in text.replace(",", " ").split() if p]
    return parts or None
