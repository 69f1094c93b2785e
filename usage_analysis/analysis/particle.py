"""Particle plans: data operations and devices against the plan's allowance.

Facts (../shared/PROVIDERS.md, constants in defaults.py): the Free plan allows
100,000 data operations a month pooled over up to 100 devices; the Basic plan is
sold in blocks of 720,000 data operations and 100 devices a month; Enterprise
contracts pool an allowance (often annual) agreed per customer. Particle warns
at 70 %, 90 % and 100 % of the allowance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..defaults import (
    PARTICLE_BLOCK_DATA_OPS,
    PARTICLE_BLOCK_DEVICES,
    PARTICLE_FREE_DATA_OPS,
    PARTICLE_FREE_DEVICES,
    PARTICLE_THRESHOLDS,
)
from ..errors import InvalidParameter
from ._common import (
    check_frame,
    check_positive,
    check_units,
    nanoseconds,
    one_account,
    provider_rows,
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

__all__ = ["ParticlePlan", "ParticlePlanStatus", "plan_status"]


@dataclass(frozen=True)
class ParticlePlan:
    """A Particle plan's allowance per billing period.

    Build one with :meth:`free`, :meth:`basic` or :meth:`custom`.
    """

    name: str
    data_ops: float  # data operations allowed per billing period
    devices: int | None  # devices allowed (None: not limited or not known)
    blocks: int | None = None  # Basic plan blocks
    months: int = 1  # billing period length
    thresholds: tuple[float, ...] = PARTICLE_THRESHOLDS  # shares of the allowance

    def __post_init__(self) -> None:
        check_positive(self.data_ops, "data_ops")
        if self.devices is not None and (not isinstance(self.devices, int) or self.devices < 1):
            raise InvalidParameter(
                "devices", f"expected a whole number >= 1 or None, got {self.devices!r}"
            )
        if not isinstance(self.months, int) or isinstance(self.months, bool) or self.months < 1:
            raise InvalidParameter("months", f"expected a whole number >= 1, got {self.months!r}")
        shares = tuple(float(t) for t in self.thresholds)
        if not shares or any(not t > 0 for t in shares) or list(shares) != sorted(set(shares)):
            raise InvalidParameter(
                "thresholds",
                f"expected increasing shares above 0 such as (0.7, 0.9, 1.0), got {self.thresholds!r}",
            )
        object.__setattr__(self, "thresholds", shares)

    @property
    def monthly_allowance(self) -> float:
        """Data operations a calendar month: the one allowance the overview, the monitors
        and the forecasts measure a month against (a plan over several months pro rata)."""
        return self.data_ops / self.months

    @classmethod
    def free(cls) -> ParticlePlan:
        """The Free plan: 100,000 data operations a month, up to 100 devices."""
        return cls("free", float(PARTICLE_FREE_DATA_OPS), PARTICLE_FREE_DEVICES)

    @classmethod
    def basic(cls, *, blocks: int = 1) -> ParticlePlan:
        """The Basic plan with ``blocks`` blocks of 720,000 data operations and 100 devices."""
        if not isinstance(blocks, int) or isinstance(blocks, bool) or blocks < 1:
            raise InvalidParameter("blocks", f"expected a whole number >= 1, got {blocks!r}")
        return cls(
            f"basic ({blocks} block{'s' if blocks > 1 else ''})",
            float(blocks * PARTICLE_BLOCK_DATA_OPS),
            blocks * PARTICLE_BLOCK_DEVICES,
            blocks=blocks,
        )

    @classmethod
    def custom(
        cls,
        *,
        data_ops: float,
        devices: int | None = None,
        months: int = 1,
        name: str = "enterprise",
        thresholds: Sequence[float] = PARTICLE_THRESHOLDS,
    ) -> ParticlePlan:
        """A negotiated allowance, e.g. an Enterprise contract pooled over ``months=12``."""
        return cls(name, float(data_ops), devices, months=months, thresholds=tuple(thresholds))


@dataclass(frozen=True, repr=False)
class ParticlePlanStatus(AllowanceStatus):
    """:class:`AllowanceStatus` plus devices and the Basic blocks the period needs."""

    plan: ParticlePlan
    devices_seen: int | None  # devices with data operations in the period (None: no device ids)
    device_allowance: int | None
    blocks_needed: int  # Basic blocks covering both the data operations and the devices


def plan_status(
    df: pd.DataFrame,
    plan: ParticlePlan,
    *,
    month: Any = None,
    period_start: Any = None,
    account: str | None = None,
    quantity: str = "billable_quantity",
) -> ParticlePlanStatus:
    """Data operations used in a billing period against ``plan``, with its thresholds.

    Args:
        df: a unified usage frame; only its Particle rows are used.
        plan: the plan, e.g. ``ParticlePlan.basic(blocks=2)``.
        month: any date in the calendar month to check; default the month of the
            newest Particle data. Plans over several months need ``period_start``.
        period_start: the first day of the billing period instead (e.g. the
            service agreement's ``current_billing_period_start``).
        account: the Particle org or user; needed when the frame holds several.
        quantity: ``"billable_quantity"`` (data operations) or ``"quantity"``.

    Returns:
        A :class:`ParticlePlanStatus`: used, allowance, percent, the day each
        threshold (70/90/100 % by default) was crossed, devices seen against the
        device allowance, and the Basic blocks needed for what was used.
    """
    df = check_frame(df)
    if not isinstance(plan, ParticlePlan):
        raise InvalidParameter("plan", f"expected a ParticlePlan, got {type(plan).__name__}")
    rows = provider_rows(df, "particle")
    rows, account_id = one_account(rows, account, provider="particle")
    _ucol, unit = check_units(rows, quantity, ())
    start, end = _period(rows, plan, month, period_start)
    values = pick_quantity(rows, quantity)
    daily = daily_totals(rows, values, start, end)
    used = float(daily["quantity"].sum())
    levels = [Level(percent_label(t), t * 100.0, t * plan.data_ops) for t in plan.thresholds]
    devices_seen = _devices_seen(rows, values, start, end)
    blocks = max(
        1,
        math.ceil(used / PARTICLE_BLOCK_DATA_OPS - 1e-12),
        math.ceil((devices_seen or 0) / PARTICLE_BLOCK_DEVICES),
    )
    return ParticlePlanStatus(
        provider="particle",
        account_id=account_id,
        period_start=start,
        period_end=end,
        unit=unit,
        used=used,
        allowance=plan.data_ops,
        thresholds=crossings(daily, levels),
        daily=with_percent(daily, plan.data_ops),
        plan=plan,
        devices_seen=devices_seen,
        device_allowance=plan.devices,
        blocks_needed=blocks,
    )


def _period(
    rows: pd.DataFrame, plan: ParticlePlan, month: Any, period_start: Any
) -> tuple[pd.Timestamp, pd.Timestamp]:
    if month is not None and period_start is not None:
        raise InvalidParameter("month", "give either month or period_start, not both")
    if period_start is not None:
        start = timestamp(period_start, "period_start").floor("D")
    elif plan.months > 1:
        raise InvalidParameter(
            "period_start",
            f"a plan over {plan.months} months needs the first day of its billing period",
        )
    else:
        if month is not None:
            when = timestamp(month, "month")
        elif len(rows):
            when = pd.Timestamp(
                int(nanoseconds(rows["period_start"], "period_start").max()), tz="UTC"
            )
        else:
            raise InvalidParameter("month", "there are no Particle rows; give the month to check")
        start = when.normalize().replace(day=1)
    return start, start + pd.DateOffset(months=plan.months)


def _devices_seen(
    rows: pd.DataFrame, values: np.ndarray, start: pd.Timestamp, end: pd.Timestamp
) -> int | None:
    """Devices with data operations in the period (billing starts when a device comes online).

    Rows of a products report (category "product") name products, not devices.
    """
    ids = rows["resource_id"]
    device_rows = ids.notna().to_numpy() & (rows["category"] != "product").to_numpy(
        dtype=bool, na_value=True
    )
    if not device_rows.any():
        return None
    ns = nanoseconds(rows["period_start"], "period_start")
    active = (ns >= start.value) & (ns < end.value) & (np.nan_to_num(values) > 0) & device_rows
    codes = ids.cat.codes.to_numpy()[active]
    codes = codes[codes >= 0]
    return int(np.count_nonzero(np.bincount(codes))) if len(codes) else 0
