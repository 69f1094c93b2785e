"""Turn generated frames into the bytes each provider sends: CSV, gzip, ZIP, JSON pages.

Documented forms: HERE timestamps have no zone (``2026-10-01T00:00:00``, UTC
implied, as in every example of the spec).
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "HERE_LABELS",
    "HERE_TIME_FORMAT",
    "gzip_bytes",
    "here_csv",
    "here_json_pages",
    "informatica_csv",
    "informatica_zip",
    "particle_csv",
]

# HERE's usageDateTime as the spec writes it: no zone, UTC implied.
HERE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
# The /csv answer's "Label (field)" header, in its order.
HERE_LABELS = {
    "usageDateTime": "Date and time",
    "realmId": "Org ID",
    "category": "Category",
    "appId": "App ID",
    "appName": "App Name",
    "appHrn": "App Hrn",
    "featureId": "Item",
    "billingSubscriptionId": "Subscription ID",
    "name": "Item description",
    "valueDriver": "Unit",
    "projectHrn": "Project ID",
    "billingTag": "Billing tag",
    "billableValue": "Usage Amount",
}
# The older guide's extra columns, placed as it shows them.
_HERE_LEGACY_EXTRA = {
    "resourceHrn": "Resource ID",
    "billingChargeNumber": "Charge Number",
    "usageValue": "Usage Amount",
}


def particle_csv(df: pd.DataFrame, *, layout: str = "long") -> bytes:
    """A Particle data operations report as CSV bytes (``long`` or ``wide`` layout)."""
    if layout == "wide":
        days = df["Date"].dt.strftime("%Y-%m-%d")
        counts = df.assign(day=days).pivot_table(
            index="Device ID",
            columns="day",
            values="Total Data Operations",
            aggfunc="sum",
            fill_value=0,
        )
        names = df.drop_duplicates("Device ID").set_index("Device ID")[
            ["Device Name", "Product Name"]
        ]
        wide = names.join(counts, how="inner").reset_index()
        wide.columns.name = None
        return wide.to_csv(index=False).encode()
    if layout != "long":
        raise ValueError(f"layout must be 'long' or 'wide', not {layout!r}")
    out = df.copy()
    out["Date"] = out["Date"].dt.strftime("%Y-%m-%d")
    return out.to_csv(index=False).encode()


def _fmt4(values: pd.Series) -> np.ndarray:
    return np.char.mod("%.4f", values.to_numpy(dtype=np.float64))


def here_csv(df: pd.DataFrame, *, header: str = "label") -> bytes:
    """A HERE usage report as CSV bytes, every value quoted, numbers with four decimals.

    ``header``: ``label`` (the /csv answer), ``camel`` (plain field names),
    ``legacy`` (adds resourceHrn, billingChargeNumber, usageValue) or ``partner``
    (label header plus orgName).
    """
    fields = [f for f in HERE_LABELS if f in df.columns]
    labels = dict(HERE_LABELS)
    if header == "legacy":
        fields = [*fields[:-1], "resourceHrn", "billingChargeNumber", "usageValue", "billableValue"]
        labels.update(_HERE_LEGACY_EXTRA)
        labels["billableValue"] = "Billable Amount"
    elif header == "partner":
        fields = ["orgName", *fields]
        labels["orgName"] = "Org Name"
    elif header not in ("label", "camel"):
        raise ValueError(f"header must be label, camel, legacy or partner, not {header!r}")
    out = pd.DataFrame(index=df.index)
    for f in fields:
        s = df[f] if f in df.columns else pd.Series("", index=df.index)
        if f in ("usageValue", "billableValue"):
            out[f] = _fmt4(s)
        elif f == "usageDateTime":
            out[f] = s.dt.strftime(HERE_TIME_FORMAT)
        else:
            out[f] = s.astype(str).replace({"<NA>": "", "nan": "", "None": ""})
    if header != "camel":
        out.columns = [f"{labels[f]} ({f})" for f in fields]
    buf = io.StringIO()
    out.to_csv(buf, index=False, quoting=csv.QUOTE_ALL, lineterminator="\n")
    return buf.getvalue().encode()


def here_json_pages(df: pd.DataFrame, *, limit: int = 100) -> list[dict[str, Any]]:
    """The JSON search answer, page by page: ``{total, limit, items, nextOffset, lastOffset}``."""
    records = df.copy()
    if "usageDateTime" in records:
        records["usageDateTime"] = records["usageDateTime"].dt.strftime(HERE_TIME_FORMAT)
    items = records.to_dict(orient="records")
    total = len(items)
    last = max(0, ((total - 1) // limit) * limit)
    pages = []
    for offset in range(0, max(total, 1), limit):
        page: dict[str, Any] = {
            "total": total,
            "limit": limit,
            "offset": offset,
            "items": items[offset : offset + limit],
            "lastOffset": last,
        }
        if offset + limit < total:
            page["nextOffset"] = offset + limit
        pages.append(page)
    return pages


def informatica_csv(df: pd.DataFrame) -> bytes:
    """One metering CSV: dates as YYYY-MM-DD, times as YYYY-MM-DD HH:MM:SS (UTC)."""
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            ts = out[col]
            is_day = bool(((ts - ts.dt.normalize()) == pd.Timedelta(0)).all())
            out[col] = ts.dt.strftime(
                "%Y-%m-%d" if is_day and "Time" not in col else "%Y-%m-%d %H:%M:%S"
            )
    return out.to_csv(index=False, lineterminator="\n").encode()


def informatica_zip(members: Mapping[str, pd.DataFrame | bytes]) -> bytes:
    """A metering export ZIP with one CSV member per entry."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, frame in members.items():
            data = frame if isinstance(frame, bytes) else informatica_csv(frame)
            # A fixed timestamp: the same data gives the same bytes.
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    """Gzip with a fixed mtime so the same data gives the same bytes."""
    return gzip.compress(data, compresslevel=6, mtime=0)
