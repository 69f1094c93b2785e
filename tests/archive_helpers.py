"""Hand-made unified frames for the archive's tests."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from usage_analysis.schema import coerce_unified


def usage(
    first: str,
    last: str,
    devices: Sequence[str | None] = ("dev-a", "dev-b"),
    *,
    quantity: float = 1.0,
    provider: str = "particle",
    account: str | None = "acme",
    product: str = "Trackers",
    meter_id: str | None = "data_operations",
) -> pd.DataFrame:
    """Daily unified rows for each device from ``first`` to ``last`` (inclusive)."""
    rows = [
        {
            "provider": provider,
            "account_id": account,
            "product": product,
            "resource_id": device,
            "meter_id": meter_id,
            "meter": "Data operations",
            "period_start": day,
            "period_end": day + pd.Timedelta(days=1),
            "quantity": quantity,
            "unit": "data operations",
            "billable_quantity": quantity,
            "billable_unit": "data operations",
        }
        for day in pd.date_range(first, last, freq="D", tz="UTC")
        for device in devices
    ]
    return coerce_unified(pd.DataFrame(rows))
