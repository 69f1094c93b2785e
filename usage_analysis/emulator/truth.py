"""The data the emulator serves, drawn from ``usage_analysis.sample_data``: the ground truth.

Every answer with usage in it goes through :class:`DataSource`, and so does
``Emulator.ground_truth()``: a test compares what a client downloaded with exactly
the rows the emulator put in the file. Data ends at the emulator's "today" (no
usage is reported for days that have not happened).
"""

from __future__ import annotations

import gzip
import io
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from .. import sample_data as gen

if TYPE_CHECKING:
    from .options import EmulatorOptions

__all__ = [
    "DataSource",
    "HereQuery",
    "InformaticaQuery",
    "ParticleQuery",
    "here_csv_fast",
]


@dataclass(frozen=True)
class ParticleQuery:
    """A Particle report request: scope "user" (sandbox devices) or "org" (product devices)."""

    scope: str
    report_type: str
    start: date
    end: date
    devices: tuple[str, ...] | None = None
    products: tuple[str, ...] | None = None


@dataclass(frozen=True)
class HereQuery:
    """A HERE usage search or report request (whole UTC days, end day included)."""

    start: date
    end: date
    detail_level: str = "summarized"
    group_by: tuple[str, ...] | None = None
    feature_id: str | None = None
    app_id: str | None = None
    project_hrn: str | None = None
    billing_tag: str | None = None
    category: str | None = None
    charge_type: str = "all"
    subscription_ids: tuple[str, ...] | None = None
    sub_accounts: tuple[str, ...] | None = None


@dataclass(frozen=True)
class InformaticaQuery:
    """An Informatica metering export request (whole UTC days, end day included)."""

    job_type: str
    start: date
    end: date
    org_id: str
    meter_id: str | None = None
    all_linked_orgs: bool = False
    combined: bool = False


# ---------------------------------------------------------------------------- rendering

_HERE_FILE_FIELDS = tuple(gen.HERE_LABELS)


def _fixed4(values: np.ndarray) -> pa.Array:
    """Numbers as text with exactly four decimals, fast (values are already 4-decimal)."""
    scaled = np.rint(values.astype(np.float64) * 10_000)
    if not np.all(np.isfinite(scaled)) or np.any(scaled < 0):
        return pa.array(np.char.mod("%.4f", values.astype(np.float64)))
    ticks = scaled.astype(np.int64)
    whole = pc.cast(pa.array(ticks // 10_000), pa.string())
    frac = pc.utf8_lpad(pc.cast(pa.array(ticks % 10_000), pa.string()), 4, "0")
    return pc.binary_join_element_wise(whole, frac, ".")


def here_csv_fast(df: pd.DataFrame) -> bytes:
    """``sample_data.here_csv(df)`` (label header), byte for byte, written by Arrow.

    pandas' quoted CSV writer needs ~9 s for a 1,000,000-row report; Arrow's C++
    writer needs well under one, which is what lets the emulator serve HERE's
    largest report while a client waits. Tests check the bytes are identical.
    """
    fields = [f for f in _HERE_FILE_FIELDS if f in df.columns]
    columns: dict[str, pa.Array] = {}
    for f in fields:
        s = df[f]
        if f in ("usageValue", "billableValue"):
            arr = _fixed4(s.to_numpy(dtype=np.float64))
        elif f == "usageDateTime":
            ts = pa.array(s.dt.tz_convert("UTC").dt.floor("s"), from_pandas=True)
            ts = pc.cast(ts, pa.timestamp("s", tz="UTC"))
            arr = pc.strftime(ts, format=gen.HERE_TIME_FORMAT)
        else:
            arr = pc.cast(pa.array(s, from_pandas=True), pa.string())
        columns[f"{gen.HERE_LABELS[f]} ({f})"] = pc.fill_null(arr, "")
    table = pa.table(columns)
    buf = io.BytesIO()
    pa_csv.write_csv(
        table, buf, pa_csv.WriteOptions(quoting_style="all_valid", include_header=True)
    )
    return buf.getvalue()


def gzip_fast(data: bytes) -> bytes:
    """Gzip at level 1 (a large report compresses in well under a second); fixed mtime."""
    return gzip.compress(data, compresslevel=1, mtime=0)


# ---------------------------------------------------------------------------- the source

MAX_CACHED_FRAMES = 8
MAX_CACHED_ROWS = 2_500_000


class DataSource:
    """Computes report frames and files from the seeded world, with a small cache."""

    def __init__(self, options: EmulatorOptions, clock: Any) -> None:
        self._options = options
        self._clock = clock
        self._world: gen.World | None = None
        self._lock = threading.RLock()
        self._cache: OrderedDict[Any, pd.DataFrame] = OrderedDict()

    @property
    def world(self) -> gen.World:
        """The seeded world (built on first use)."""
        with self._lock:
            if self._world is None:
                self._world = gen.make_world(self._options.seed, **self._options.world_sizes())
            return self._world

    def _cached(self, key: Any, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        frame = compute()
        with self._lock:
            self._cache[key] = frame
            # Pages of a large search are read one after another: keep a few results,
            # but never more than a few million rows (a 1,000,000-row frame is ~0.5 GB).
            while len(self._cache) > 1 and (
                len(self._cache) > MAX_CACHED_FRAMES
                or sum(len(f) for f in self._cache.values()) > MAX_CACHED_ROWS
            ):
                self._cache.popitem(last=False)
        return frame

    def _clip(self, start: date, end: date) -> tuple[date, date, bool]:
        """The range cut at today; the flag says whether any day is left."""
        last = min(end, self._clock.today())
        return start, last, start <= last

    # --- Particle -----------------------------------------------------------------
    def particle_scope_devices(self, scope: str) -> list[str]:
        """Device ids an account sees: the sandbox's own devices, or the org's product devices."""
        devices = self.world.particle.devices
        pid = devices["product_id"].to_numpy()
        mask = pid <= 0 if scope == "user" else pid > 0
        return [str(d) for d in devices.loc[mask, "device_id"]]

    def particle_frame(self, q: ParticleQuery) -> pd.DataFrame:
        """The rows of a Particle report, in the file's columns."""
        start, end, any_day = self._clip(q.start, q.end)
        allowed = self.particle_scope_devices(q.scope)
        if q.devices is not None:
            wanted = set(q.devices)
            allowed = [d for d in allowed if d in wanted]

        def compute() -> pd.DataFrame:
            frame = gen.particle_usage(
                self.world,
                start,
                end if any_day else start,
                report_type=q.report_type,
                devices=allowed,
                products=list(q.products) if q.products is not None else None,
            )
            return frame if any_day else frame.iloc[0:0]

        return self._cached(("particle", q, end), compute)

    def particle_file(self, q: ParticleQuery) -> bytes:
        return gen.particle_csv(self.particle_frame(q))

    # --- HERE ---------------------------------------------------------------------
    def here_frame(self, q: HereQuery) -> pd.DataFrame:
        """The rows of a HERE search or report, capped at the report's record limit."""
        start, end, any_day = self._clip(q.start, q.end)

        def compute() -> pd.DataFrame:
            frame = gen.here_usage(
                self.world,
                start,
                end if any_day else start,
                detail_level=q.detail_level,
                group_by=list(q.group_by) if q.group_by is not None else None,
                feature_id=q.feature_id,
                app_id=q.app_id,
                project_hrn=q.project_hrn,
                billing_tag=q.billing_tag,
                category=q.category,
                charge_type=q.charge_type,
                sub_accounts=list(q.sub_accounts) if q.sub_accounts is not None else None,
            )
            if q.subscription_ids is not None:
                frame = frame[frame["billingSubscriptionId"].isin(q.subscription_ids)]
            if not any_day:
                frame = frame.iloc[0:0]
            # HERE: "The maximum number of records ... in the usage report CSV file is 1 million."
            return frame.iloc[: self._options.here_max_records].reset_index(drop=True)

        return self._cached(("here", q, end), compute)

    def here_file(self, q: HereQuery) -> bytes:
        """The report's gzipped CSV."""
        return gzip_fast(here_csv_fast(self.here_frame(q)))

    def here_items(
        self, q: HereQuery, offset: int, limit: int, fields: tuple[str, ...] | None
    ) -> tuple[int, list[dict[str, Any]]]:
        """(total, items of one JSON search page), values as HERE writes them."""
        frame = self.here_frame(q)
        page = frame.iloc[offset : offset + limit]
        items = gen.here_json_pages(page, limit=max(1, limit))[0]["items"] if len(page) else []
        for item in items:
            for key in ("usageValue", "billableValue"):
                if key in item:
                    # The reference shows these as strings ('10'); four decimals as in the CSV.
                    item[key] = f"{float(item[key]):.4f}"
            for key in list(item):
                value = item[key]
                if value is None or (isinstance(value, float) and np.isnan(value)):
                    item[key] = ""
        if fields:
            wanted = {"resourceHrn" if f == "resource" else f for f in fields}
            items = [{k: v for k, v in it.items() if k in wanted} for it in items]
        return len(frame), items

    def here_search_csv(self, q: HereQuery) -> bytes:
        return here_csv_fast(self.here_frame(q))

    # --- Informatica --------------------------------------------------------------
    def informatica_members(
        self, q: InformaticaQuery, missing_orgs: tuple[str, ...] = ()
    ) -> dict[str, pd.DataFrame]:
        """The CSV members of an export ZIP (minus the orgs a partial job could not collect)."""
        start, end, any_day = self._clip(q.start, q.end)
        members = gen.informatica_usage(
            self.world,
            start,
            end if any_day else start,
            job_type=q.job_type,
            meter_id=q.meter_id,
            all_linked_orgs=q.all_linked_orgs,
            combined=q.combined,
            org_id=q.org_id,
        )
        out: dict[str, pd.DataFrame] = {}
        for name, frame in members.items():
            if any(name.endswith(f"_{org}.csv") for org in missing_orgs):
                continue
            for col in ("OrgId", "Org ID"):
                if missing_orgs and col in frame.columns:
                    frame = frame[~frame[col].isin(missing_orgs)].reset_index(drop=True)
            out[name] = frame if any_day else frame.iloc[0:0]
        return out

    def informatica_file(self, q: InformaticaQuery, missing_orgs: tuple[str, ...] = ()) -> bytes:
        return gen.informatica_zip(self.informatica_members(q, missing_orgs))

    def informatica_org_ids(self) -> list[str]:
        return [str(o) for o in self.world.informatica.orgs["org_id"]]

    def today(self) -> date:
        return self._clock.today()

    def now(self) -> datetime:
        return self._clock.now()
