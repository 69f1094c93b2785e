"""Informatica IPUs: consumption by meter, org and project, and the entitlement status.

IPUs are Informatica's common currency (the unified frame's ``billable_quantity``
with ``billable_unit`` IPU). The org's admins get e-mails at 25, 50, 75, 95 and
100 % of the entitlement; the ``ipuAlert`` API adds one threshold per org (and,
through ``viewTagsPreference``, per project/folder), either ``ABSOLUTE`` (IPUs)
or ``PERCENTAGE`` (of the entitlement). In the unified frame the org is
``account_id``, the project is ``product`` and the meter name is ``meter``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..defaults import INFORMATICA_THRESHOLDS
from ..errors import InvalidParameter, SchemaError
from ._common import (
    check_frame,
    check_positive,
    check_units,
    data_end,
    data_start,
    one_account,
    provider_rows,
    select_rows,
    timestamp,
)
from ._status import (
    AllowanceStatus,
    Level,
    crossings,
    daily_totals,
    percent_label,
    pick_quantity,
    with_percent,
)
from .aggregate import usage_by

__all__ = [
    "IPUAlert",
    "IPUStatus",
    "MissingOrgWarning",
    "ipu_alerts",
    "ipu_status",
    "ipu_usage",
]

AlertKind = Literal["ABSOLUTE", "PERCENTAGE"]


class MissingOrgWarning(UserWarning):
    """An alert names an org the frame has no rows for: its consumption is unknown, not 0."""


@dataclass(frozen=True)
class IPUAlert:
    """One IPU alert threshold as the ``ipuAlert`` API states it.

    ``kind`` is ``"ABSOLUTE"`` (``threshold`` in IPUs) or ``"PERCENTAGE"`` (of the
    entitlement). ``project``/``folder`` narrow it to a project or folder, as the
    ``viewTagsPreference`` answer does. ``api_consumed`` is the consumption the
    API reported with the alert (``ipuConsumed`` or ``currentConsumption``), kept
    as the API said it.
    """

    threshold: float
    kind: AlertKind = "PERCENTAGE"
    org_id: str | None = None
    project: str | None = None
    folder: str | None = None
    api_consumed: float | None = None

    def __post_init__(self) -> None:
        check_positive(self.threshold, "threshold")
        kind = str(self.kind).upper()
        if kind not in ("ABSOLUTE", "PERCENTAGE"):
            raise InvalidParameter(
                "kind", f"expected 'ABSOLUTE' or 'PERCENTAGE', got {self.kind!r}"
            )
        object.__setattr__(self, "kind", kind)

    @classmethod
    def from_api(cls, payload: Mapping[str, Any]) -> IPUAlert:
        """Read an ``ipuAlert`` answer or one ``viewTagsPreference`` item."""
        try:
            value = payload["thresholdValue"]
        except KeyError:
            raise InvalidParameter(
                "payload",
                f"expected an ipuAlert object with 'thresholdValue', got keys {sorted(payload)}",
            ) from None
        consumed = payload.get("ipuConsumed", payload.get("currentConsumption"))
        try:
            api_consumed = None if consumed is None else float(consumed)
        except (TypeError, ValueError):
            raise InvalidParameter(
                "payload", f"expected a number for the consumption, got {consumed!r}"
            ) from None
        return cls(
            threshold=float(value),
            kind=payload.get("ipuThresholdPrefType") or "PERCENTAGE",
            org_id=payload.get("orgId") or None,
            project=payload.get("projectName") or None,
            folder=payload.get("folderName") or None,
            api_consumed=api_consumed,
        )

    def ipus(self, entitlement: float | None) -> float:
        """The threshold in IPUs (a PERCENTAGE alert needs the entitlement)."""
        if self.kind == "ABSOLUTE":
            return float(self.threshold)
        if entitlement is None:
            raise InvalidParameter(
                "entitlement",
                f"a PERCENTAGE alert ({self.threshold:g} %) needs the IPU entitlement",
            )
        return float(self.threshold) / 100.0 * entitlement

    @property
    def label(self) -> str:
        """``"alert 80 %"`` or ``"alert 5000 IPU"``, with the scope when narrowed."""
        value = f"{self.threshold:g} %" if self.kind == "PERCENTAGE" else f"{self.threshold:g} IPU"
        scope = "/".join(s for s in (self.project, self.folder) if s)
        return f"alert {value}" + (f" ({scope})" if scope else "")


@dataclass(frozen=True, repr=False)
class IPUStatus(AllowanceStatus):
    """:class:`AllowanceStatus` of an org's IPU entitlement, with its alert if given."""

    alert: IPUAlert | None


def ipu_usage(
    df: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = "meter",
    freq: str | None = None,
    top: int | None = None,
    other: bool = True,
) -> pd.DataFrame:
    """IPUs per meter (or ``account_id`` = org, ``product`` = project, ...) and period.

    The Informatica rows of :func:`~usage_analysis.analysis.usage_by` over
    ``billable_quantity`` (IPUs).
    """
    df = check_frame(df)
    return usage_by(
        provider_rows(df, "informatica"),
        by=by,
        freq=freq,
        top=top,
        other=other,
        quantity="billable_quantity",
    )


def ipu_status(
    df: pd.DataFrame,
    *,
    entitlement: float | None,
    start: Any = None,
    end: Any = None,
    account: str | None = None,
    alert: IPUAlert | Mapping[str, Any] | None = None,
    levels: Sequence[float] = INFORMATICA_THRESHOLDS,
) -> IPUStatus:
    """IPUs consumed by one org against its entitlement, with the days each level was crossed.

    Args:
        entitlement: the IPUs the contract allows for the period (``None`` only
            with an ``ABSOLUTE`` alert).
        start, end: the entitlement period (``end`` exclusive); default the
            span of the frame's Informatica data.
        account: the org id; needed when the frame holds several orgs.
        alert: the org's ``ipuAlert`` threshold (an :class:`IPUAlert` or the API's
            JSON object); added to the levels.
        levels: shares of the entitlement to report, 25/50/75/95/100 % by default.
    """
    df = check_frame(df)
    rows = provider_rows(df, "informatica")
    rows, account_id = one_account(rows, account, provider="informatica")
    _ucol, unit = check_units(rows, "billable_quantity", ())
    if entitlement is not None:
        entitlement = check_positive(entitlement, "entitlement")
    if alert is not None and not isinstance(alert, IPUAlert):
        alert = IPUAlert.from_api(alert)
    if entitlement is None and (alert is None or alert.kind != "ABSOLUTE"):
        raise InvalidParameter("entitlement", "give the IPU entitlement (or an ABSOLUTE alert)")
    period_start, period_end = _span(rows, start, end)
    values = pick_quantity(rows, "billable_quantity")
    daily = daily_totals(rows, values, period_start, period_end)
    marks: list[Level] = []
    if entitlement is not None:
        marks = [Level(percent_label(s), s * 100.0, s * entitlement) for s in _shares(levels)]
    if alert is not None:
        ipus = alert.ipus(entitlement)
        marks.append(Level(alert.label, ipus / entitlement * 100 if entitlement else None, ipus))
    marks.sort(key=lambda lv: lv.quantity)
    return IPUStatus(
        provider="informatica",
        account_id=account_id,
        period_start=period_start,
        period_end=period_end,
        unit=unit,
        used=float(daily["quantity"].sum()),
        allowance=entitlement,
        thresholds=crossings(daily, marks),
        daily=with_percent(daily, entitlement),
        alert=alert,
    )


def ipu_alerts(
    df: pd.DataFrame,
    alerts: Iterable[IPUAlert | Mapping[str, Any]],
    *,
    entitlement: float | None = None,
    start: Any = None,
    end: Any = None,
) -> pd.DataFrame:
    """Each alert (org-wide or per project/folder) against the IPUs consumed in its scope.

    Returns:
        One row per alert: ``org_id``, ``project``, ``folder``, ``kind``,
        ``threshold``, ``threshold_ipus``, ``consumed`` (from the frame),
        ``api_consumed`` (what the API said with the alert, if it did),
        ``percent`` (of the threshold), ``crossed`` (nullable boolean) and
        ``crossed_on``. An alert on an org the frame has no rows for has
        ``consumed``, ``percent`` and ``crossed`` missing (never 0) and raises a
        :class:`MissingOrgWarning`: the frame cannot tell its consumption.

    Project and folder alerts need rows that carry the project (project/folder
    or asset exports). A folder is matched on a ``folder`` column when the frame
    has one, else on ``resource_id`` ``"<project>/<folder>"`` (how the readers
    name the rows of a project/folder export).

    Raises:
        SchemaError: the frame cannot tell a project's or folder's consumption
            (e.g. only summary rows), rather than charging it with the org's.
    """
    df = check_frame(df)
    rows = provider_rows(df, "informatica")
    _ucol, _unit = check_units(rows, "billable_quantity", ())
    period_start, period_end = _span(rows, start, end)
    values = pick_quantity(rows, "billable_quantity")
    out = []
    orgs = set(rows["account_id"].dropna().astype(str).unique())
    missing: list[str] = []
    for item in alerts:  # a handful of alerts; each scope's sum is vectorised
        alert = item if isinstance(item, IPUAlert) else IPUAlert.from_api(item)
        ipus = alert.ipus(entitlement)
        row: dict[str, Any] = {
            "org_id": alert.org_id,
            "project": alert.project,
            "folder": alert.folder,
            "kind": alert.kind,
            "threshold": alert.threshold,
            "threshold_ipus": ipus,
            "consumed": np.nan,
            "api_consumed": np.nan if alert.api_consumed is None else alert.api_consumed,
            "percent": np.nan,
            "crossed": pd.NA,
            "crossed_on": pd.NaT,
        }
        if alert.org_id is not None and alert.org_id not in orgs:
            # No rows for the org: its consumption is unknown, and 0 would read as "safe".
            missing.append(alert.org_id)
            out.append(row)
            continue
        mask = _scope(rows, alert)
        scope = select_rows(rows, mask)
        daily = daily_totals(scope, values[mask], period_start, period_end)
        crossed = crossings(daily, [Level(alert.label, None, ipus)]).iloc[0]
        consumed = float(daily["quantity"].sum())
        row.update(
            consumed=consumed,
            percent=consumed / ipus * 100.0,
            crossed=bool(crossed["crossed"]),
            crossed_on=crossed["crossed_on"],
        )
        out.append(row)
    if missing:
        warnings.warn(
            MissingOrgWarning(
                f"the frame has no Informatica rows for org(s) {', '.join(sorted(set(missing)))}; "
                "their consumption is shown as missing, not 0 (fetch their usage, e.g. "
                "with all_linked_orgs=True)"
            ),
            stacklevel=2,
        )
    table = pd.DataFrame(
        out,
        columns=[
            "org_id",
            "project",
            "folder",
            "kind",
            "threshold",
            "threshold_ipus",
            "consumed",
            "api_consumed",
            "percent",
            "crossed",
            "crossed_on",
        ],
    )
    # All NaT (nothing crossed) arrives tz-naive; pd.to_datetime(utc=True) takes both.
    table["crossed_on"] = pd.to_datetime(table["crossed_on"], utc=True).astype(
        "datetime64[ns, UTC]"
    )
    table["crossed"] = table["crossed"].astype("boolean")
    for col in ("threshold", "threshold_ipus", "consumed", "api_consumed", "percent"):
        table[col] = table[col].astype(np.float64)
    return table


def _scope(rows: pd.DataFrame, alert: IPUAlert) -> np.ndarray:
    """The rows an alert watches: its org, project and folder."""

    def equal(col: str, value: str) -> np.ndarray:
        return (rows[col] == value).to_numpy(dtype=bool, na_value=False)

    mask = np.ones(len(rows), dtype=bool)
    if alert.org_id is not None:
        mask &= equal("account_id", alert.org_id)
    if alert.project is None and alert.folder is None:
        return mask
    if alert.folder is not None and alert.project is None and "folder" not in rows.columns:
        raise SchemaError(
            f"the alert on folder {alert.folder!r} names no project; folder names repeat across projects"
        )
    if not rows["product"].notna().any():
        raise SchemaError(
            f"the alert on {alert.label!r} needs rows with a project (a project/folder "
            "or asset export); these rows have none"
        )
    if alert.project is not None:
        mask &= equal("product", alert.project)
    if alert.folder is not None:
        if "folder" in rows.columns:
            mask &= equal("folder", alert.folder)
        else:
            path = f"{alert.project}/{alert.folder}"
            # The distinct ids (categories), not every row, are searched for a "/".
            ids = pd.Series(rows["resource_id"].dropna().unique(), dtype=object).astype(str)
            if not ids.str.contains("/", regex=False).any():
                raise SchemaError(
                    f"the alert on folder {alert.folder!r} needs project/folder rows "
                    "(resource_id 'project/folder') or a 'folder' column; the frame has neither"
                )
            mask &= equal("resource_id", path)
    return mask


def _shares(levels: Sequence[float]) -> list[float]:
    shares = [float(s) for s in levels]
    if any(not s > 0 for s in shares):
        raise InvalidParameter(
            "levels", f"expected shares above 0 such as (0.25, 0.5), got {levels!r}"
        )
    return sorted(set(shares))


def _span(rows: pd.DataFrame, start: Any, end: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The given period, or the days the data covers."""
    first, latest = data_start(rows), data_end(rows)
    if start is not None:
        s = timestamp(start, "start")
    elif first is not None:
        s = first.floor("D")
    else:
        raise InvalidParameter("start", "there are no rows; give the period start")
    if end is not None:
        e = timestamp(end, "end")
    elif latest is not None:
        e = latest.ceil("D")
    else:
        raise InvalidParameter("end", "there are no rows; give the period end")
    if e <= s:
        raise InvalidParameter("end", f"must be after start ({s:%Y-%m-%d}), got {e:%Y-%m-%d}")
    return s, e
