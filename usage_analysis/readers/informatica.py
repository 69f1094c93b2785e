"""Informatica IDMC metering exports: summary, project/folder, asset and job-level CSVs.

The export is a ZIP of CSV members (one per org, or one combined) or a bare CSV.
Kinds: ``"summary"``, ``"project_folder"``, ``"asset"``, ``"job_level"`` (Data
Integration columns) and ``"job_level_ai"`` (Application Integration columns).
Job-level files do not name their meter; it is taken from the member name
(``MeteringJobLevel_<meterId>.csv``) into a ``meter_id`` column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import catalog
from ..errors import SchemaError
from . import _unified as U
from ._csv import (
    Field,
    Layout,
    ParseContext,
    Sniffed,
    match_fields,
    read_layout,
    satisfied,
)
from ._source import Member

PROVIDER = "informatica"
KINDS = ("summary", "project_folder", "asset", "job_level", "job_level_ai")
IPU = "IPU"

_F = Field
# A third-party loader of these exports treats the literal "null" as missing.
_NULL = ("null", "NULL", "Null")
_ORG = _F("org_id", "cat", "Org ID", ("OrgId",))
LAYOUTS: dict[str, Layout] = {
    "summary": Layout(
        PROVIDER,
        "summary",
        (
            _F("org_id", "cat", "OrgId", ("Org ID",)),
            _F("meter_id", "cat", "MeterId", ("Meter ID",)),
            _F("meter_name", "cat", "MeterName", ("Meter Name",)),
            _F("date", "date", "Date"),
            _F("billing_period_start_date", "date", "BillingPeriodStartDate"),
            _F("billing_period_end_date", "date", "BillingPeriodEndDate"),
            _F("meter_usage", "float", "MeterUsage", ("Usage",)),
            _F("ipu", "float", "IPU", ("IPUs",)),
            # Scalar is a name ("Compute Units"): the unit of MeterUsage. Old files held a
            # number there; it reads as text too.
            _F("scalar", "cat", "Scalar"),
            _F("metric_category", "cat", "MetricCategory"),
            _F("org_name", "cat", "OrgName"),
            _F("org_type", "cat", "OrgType"),
            _F("ipu_rate", "float", "IPURate"),
        ),
        signature=(("meter_id",), ("ipu",), ("meter_usage", "org_id")),
        required=(("date",), ("meter_id",), ("ipu",)),
        null_text=_NULL,
    ),
    "project_folder": Layout(
        PROVIDER,
        "project_folder",
        (
            _F("date", "date", "Date"),
            _F("project", "cat", "Project"),
            _F("folder", "cat", "Folder"),
            _ORG,
            _F("org_type", "cat", "Org Type"),
            _F("consumption_ipus", "float", "Consumption (IPUs)"),
        ),
        signature=(("project",), ("folder",), ("consumption_ipus",)),
        required=(("date",), ("consumption_ipus",)),
        null_text=_NULL,
    ),
    "asset": Layout(
        PROVIDER,
        "asset",
        (
            _F("meter_id", "cat", "Meter ID", ("MeterId",)),
            _F("meter_name", "cat", "Meter Name", ("MeterName",)),
            _F("date", "date", "Date"),
            _F("asset_name", "cat", "Asset Name"),
            _F("asset_type", "cat", "Asset Type"),
            _F("project", "cat", "Project"),
            _F("folder", "cat", "Folder"),
            _ORG,
            _F("org_type", "cat", "Org Type"),
            _F("environment_name", "cat", "Environment Name"),
            _F("environment_type", "cat", "Environment Type"),
            _F("tier", "cat", "Tier"),
            _F("ipu_per_unit", "float", "IPU Per Unit"),
            _F("usage", "float", "Usage"),
            _F("consumption_ipus", "float", "Consumption (IPUs)"),
        ),
        signature=(("asset_name",), ("consumption_ipus", "usage")),
        required=(("date",), ("asset_name",), ("consumption_ipus",)),
        null_text=_NULL,
    ),
    "job_level": Layout(
        PROVIDER,
        "job_level",
        (
            _F("task_id", "cat", "Task ID"),
            _F("task_name", "cat", "Task Name"),
            _F("task_object_name", "cat", "Task Object Name"),
            _F("task_type", "cat", "Task Type"),
            _F("task_run_id", "text", "Task Run ID"),
            _F("project_name", "cat", "Project Name"),
            _F("folder_name", "cat", "Folder Name"),
            _ORG,
            _F("environment_id", "cat", "Environment ID"),
            _F("environment", "cat", "Environment"),
            _F("cores_used", "float", "Cores Used"),
            _F("start_time", "time", "Start Time"),
            _F("end_time", "time", "End Time"),
            _F("status", "cat", "Status"),
            _F("metered_value", "float", "Metered Value"),
            _F("audit_time", "time", "Audit Time"),
            _F("obm_task_time_s", "float", "OBM Task Time(s)"),
            _F("meter_id", "cat", "Meter ID", ("MeterId",)),
        ),
        signature=(("task_id", "task_run_id"), ("metered_value",)),
        required=(("start_time",), ("metered_value",)),
        null_text=_NULL,
    ),
    "job_level_ai": Layout(
        PROVIDER,
        "job_level_ai",
        (
            _ORG,
            _F("executed_asset", "cat", "Executed asset"),
            _F("date", "date", "Date (in UTC)", ("Date",)),
            _F("execution_env", "cat", "Execution env"),
            _F("execution_type", "cat", "Execution type"),
            _F("invoked_by", "cat", "Invoked by"),
            _F("status", "cat", "status"),
            _F("execution_count", "float", "Execution count"),
            _F("total_execution_time_hours", "float", "Total Execution time (in hours)"),
            _F("average_execution_time_seconds", "float", "Average Execution time (in seconds)"),
            _F("meter_id", "cat", "Meter ID", ("MeterId",)),
        ),
        signature=(("executed_asset",), ("execution_count", "total_execution_time_hours")),
        required=(("date",), ("total_execution_time_hours",)),
        null_text=_NULL,
    ),
}
_JOB_MEMBER = re.compile(r"MeteringJobLevel_([A-Za-z0-9]+)\.csv$", re.IGNORECASE)


def _best(sniffed: Sniffed) -> tuple[str | None, str]:
    """(kind whose signature the header satisfies, else None; the closest kind)."""
    scores = []
    for kind, layout in LAYOUTS.items():
        found = match_fields(sniffed.header, layout.fields)
        ok = satisfied(layout.signature, found.values())
        scores.append((ok, len(found), kind))
    scores.sort(reverse=True)
    ok, _, kind = scores[0]
    return (kind if ok else None), kind


def detect_csv(sniffed: Sniffed) -> str | None:
    """The Informatica kind of a CSV header, or None."""
    return _best(sniffed)[0]


def default_kind(sniffed: Sniffed) -> str:
    """The kind to read a CSV as when ``provider="informatica"`` is forced."""
    return _best(sniffed)[1]


def guess_kind(df: pd.DataFrame) -> str:
    """The kind of an Informatica provider frame that lost its attrs, from its columns."""
    cols = set(df.columns)
    for kind, layout in LAYOUTS.items():
        if satisfied(layout.signature, cols):
            return kind
    raise SchemaError(
        f"cannot tell which Informatica export these columns come from: {sorted(cols)}; "
        f"pass kind= (one of {', '.join(KINDS)})"
    )


def _meter_from_name(*names: str | None) -> str | None:
    for name in names:
        if name:
            m = _JOB_MEMBER.search(PurePath(name.replace("\\", "/")).name)
            if m:
                return m.group(1)
    return None


def read_csv(
    member: Member,
    sniffed: Sniffed,
    *,
    kind: str,
    ctx: ParseContext,
    column_map: Mapping[str, str] | None,
) -> pa.Table:
    """Parse one Informatica CSV member into a typed Arrow table."""
    table = read_layout(member, sniffed, LAYOUTS[kind], ctx, column_map)
    if kind.startswith("job_level") and "meter_id" not in table.column_names:
        meter = _meter_from_name(member.name, ctx.label)
        values = pa.array([meter] * table.num_rows, pa.string()).dictionary_encode()
        table = table.append_column("meter_id", values)
    return table


# --- unified -------------------------------------------------------------------


def _meter_names(meter_id: pd.Series | None, names: pd.Series | None) -> pd.Series | None:
    """The file's meter names, filled from the catalog where the file has none."""
    if meter_id is None:
        return names
    ids = U.text(meter_id)
    per_id = [catalog.meter_name(str(c)) for c in ids.cat.categories]
    known = sorted({n for n in per_id if n})
    pos = {n: i for i, n in enumerate(known)}
    # One extra -1 at the end: code -1 (missing id) indexes it and stays missing.
    mapping = np.array([pos[n] if n else -1 for n in per_id] + [-1], dtype=np.int32)
    codes = mapping[ids.cat.codes.to_numpy()]
    from_catalog = pd.Series(
        pd.Categorical.from_codes(codes, categories=pd.Index(known, dtype="str")), index=ids.index
    )
    if names is None:
        return from_catalog
    return U.coalesce(names, from_catalog)


def _per_meter_unit(meter: pd.Series | None, index: pd.Index) -> pd.Series:
    # Asset and job-level usage is in each meter's own unit, which the file does
    # not name: label it by meter, so usage of different meters never adds up.
    if meter is None:
        return U.const("meter units", index)
    m = U.text(meter)
    cats = pd.Index([f"{c} units" for c in m.cat.categories], dtype="str")
    return pd.Series(
        pd.Categorical.from_codes(m.cat.codes.to_numpy(), categories=cats), index=index
    )


def _scalar_names(scalar: pd.Series | None) -> pd.Series | None:
    """The Scalar column where it holds a name; numbers (the older form) become missing."""
    if scalar is None:
        return None
    s = U.text(scalar)
    cats = s.cat.categories
    numeric = pd.to_numeric(pd.Series(cats.astype("str")), errors="coerce").notna().to_numpy()
    if not numeric.any():
        return s
    return s.cat.remove_categories(list(cats[numeric]))


def _next_day(day: pd.Series | None) -> pd.Series | None:
    return None if day is None else day + pd.Timedelta(days=1)


def _path(project: pd.Series | None, folder: pd.Series | None) -> pd.Series | None:
    """``project/folder`` per row (folder names repeat across projects)."""
    if project is None or folder is None:
        return folder
    p, f = U.text(project), U.text(folder)
    pairs = pd.DataFrame({"p": p.cat.codes.to_numpy(), "f": f.cat.codes.to_numpy()})
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(pairs))
    pcats, fcats = list(p.cat.categories), list(f.cat.categories)
    labels = [
        f"{pcats[a] if a >= 0 else ''}/{fcats[b] if b >= 0 else ''}" for a, b in uniques.tolist()
    ]
    cat = pd.Categorical.from_codes(codes, categories=pd.Index(labels, dtype="str").unique())
    if len(cat.categories) != len(labels):  # only if the names themselves contain "/"
        cat = pd.Categorical(np.asarray(labels, dtype=object)[codes])
    return pd.Series(cat, index=project.index)


def unify(df: pd.DataFrame, *, kind: str) -> tuple[dict[str, pd.Series | None], dict[str, Any]]:
    """Unified columns from an Informatica provider frame, and attrs to add."""
    if kind not in KINDS:
        raise SchemaError(f"unknown Informatica kind {kind!r}")
    idx = df.index
    get = df.get
    ipu = U.const(IPU, idx)
    cols: dict[str, pd.Series | None] = {
        "provider": U.const(PROVIDER, idx),
        "account_id": get("org_id"),
    }
    meter = _meter_names(get("meter_id"), get("meter_name"))
    if kind == "summary":
        # MeterUsage is in the scalar's unit ("Compute Units"); a file with a number
        # there (the older form) gets a per-meter unit, never a sum across meters.
        unit = U.coalesce(
            *(
                c
                for c in (_scalar_names(get("scalar")), _per_meter_unit(meter, idx))
                if c is not None
            )
        )
        cols |= {
            "account_name": get("org_name"),
            "meter_id": get("meter_id"),
            "meter": meter,
            "category": get("metric_category"),
            "period_start": get("date"),
            "period_end": _next_day(get("date")),
            "quantity": get("meter_usage"),
            "unit": unit,
            "billable_quantity": get("ipu"),
            "billable_unit": ipu,
        }
    elif kind == "project_folder":
        cols |= {
            "product": get("project"),
            "resource_id": _path(get("project"), get("folder")),
            "resource_name": get("folder"),
            "period_start": get("date"),
            "period_end": _next_day(get("date")),
            "quantity": get("consumption_ipus"),
            "unit": ipu,
            "billable_quantity": get("consumption_ipus"),
            "billable_unit": ipu,
        }
    elif kind == "asset":
        cols |= {
            "product": get("project"),
            "resource_id": get("asset_name"),
            "resource_name": get("asset_name"),
            "meter_id": get("meter_id"),
            "meter": meter,
            "category": get("asset_type"),
            "period_start": get("date"),
            "period_end": _next_day(get("date")),
            "quantity": get("usage") if "usage" in df.columns else get("consumption_ipus"),
            "unit": _per_meter_unit(meter, idx) if "usage" in df.columns else ipu,
            "billable_quantity": get("consumption_ipus"),
            "billable_unit": ipu,
        }
    elif kind == "job_level":
        cols |= {
            "product": get("project_name"),
            "resource_id": get("task_id"),
            "resource_name": get("task_name"),
            "meter_id": get("meter_id"),
            "meter": meter,
            "category": get("task_type"),
            "period_start": get("start_time"),
            "period_end": get("end_time"),
            "quantity": get("metered_value"),
            "unit": _per_meter_unit(meter, idx),
        }
    else:  # job_level_ai
        cols |= {
            "resource_id": get("executed_asset"),
            "resource_name": get("executed_asset"),
            "meter_id": get("meter_id"),
            "meter": meter,
            "category": get("execution_type"),
            "period_start": get("date"),
            "period_end": _next_day(get("date")),
            "quantity": get("total_execution_time_hours"),
            "unit": U.const("hours", idx),
        }
    return {k: v for k, v in cols.items() if v is not None}, {}
