"""The Informatica IPU meter catalog: meter id -> name, request types, mode.

The table is ``data/informatica_meters.csv``, transcribed from Informatica's
"Meter IDs" table of the metering export documentation (see
``../shared/seeds/informatica-ipu-metering-export.txt``). Two meters have two
ids each: Application Integration and Application Integration with Advanced
Serverless are metered separately in classic and turbo mode; the ``mode``
column tells them apart while ``meter`` keeps the documented name.
"""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib import resources

import pandas as pd

__all__ = ["CATALOG_COLUMNS", "meter_catalog", "meter_ids", "meter_name"]

CATALOG_COLUMNS: tuple[str, ...] = ("meter_id", "meter", "request_types", "mode", "notes")


@cache
def _rows() -> tuple[dict[str, str], ...]:
    text = (
        resources.files("usage_analysis")
        .joinpath("data", "informatica_meters.csv")
        .read_text(encoding="utf-8")
    )
    rows = tuple(csv.DictReader(io.StringIO(text)))
    # A broken package-data file should fail loudly here, not as a KeyError later.
    assert rows and tuple(rows[0]) == CATALOG_COLUMNS, "informatica_meters.csv header changed"
    return rows


@cache
def _by_id() -> dict[str, str]:
    return {row["meter_id"]: row["meter"] for row in _rows()}


def meter_catalog() -> pd.DataFrame:
    """The meter table as a new DataFrame, one row per meter id.

    Columns: ``meter_id``, ``meter`` (the documented name), ``request_types``
    (``"asset"``, ``"job"`` or ``"asset;job"``: which exports accept the id),
    ``mode`` (``"classic"``/``"turbo"`` for Application Integration, else
    missing) and ``notes``.
    """
    df = pd.DataFrame(list(_rows()), columns=list(CATALOG_COLUMNS))
    for col in ("mode", "notes"):
        df[col] = df[col].where(df[col] != "")
    return df


def meter_name(meter_id: str) -> str | None:
    """The documented name of an Informatica meter id, or ``None`` when the id is unknown."""
    return _by_id().get(str(meter_id).strip())


def meter_ids(name: str) -> list[str]:
    """Every meter id documented under ``name`` (case-insensitive); empty when unknown.

    Application Integration meters have two ids (classic and turbo mode).
    """
    wanted = name.strip().casefold()
    return [row["meter_id"] for row in _rows() if row["meter"].casefold() == wanted]
