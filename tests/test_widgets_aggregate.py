"""The explorer's fast paths give what the rows give, to the bit, or step aside.

Hand-made frames (not the generator's): whole-day rows with sums whose float
result depends on the order they are added in, NaN quantities, a day of NaN
only, a device without product, categories no row uses, several units,
providers and accounts, and rows that are not whole days. Each fast result is
compared with the slow path the explorer took before (the analysis and chart
functions on the filtered rows); where it could differ it must return ``None``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usage_analysis import charts
from usage_analysis.analysis import ParticlePlan
from usage_analysis.defaults import EXPLORER_TOP_ROWS
from usage_analysis.errors import UnitMismatch
from usage_analysis.schema import UNIFIED_DTYPES
from usage_analysis.widgets import UsageExplorer
from usage_analysis.widgets._aggregate import (
    Decoded,
    Selected,
    fast_draw,
    fast_headline,
    fast_top_consumers,
    fast_usage_over_time,
    period_sums,
)
from usage_analysis.widgets._filter import FrameFilter
from usage_analysis.widgets._views import View, draw, top_table_html
from usage_analysis.widgets.headline import compute_headline

DAY = pd.Timedelta(days=1)


def frame(rows: list[dict[str, object]], *, extra_categories: dict[str, list[str]] | None = None):
    """A unified frame from row dicts; missing keys are missing values."""
    data: dict[str, object] = {}
    for col, dtype in UNIFIED_DTYPES.items():
        values = [r.get(col) for r in rows]
        if dtype == "category":
            cats = sorted(
                {v for v in values if v is not None} | set((extra_categories or {}).get(col, []))
            )
            data[col] = pd.Categorical(values, categories=pd.Index(cats, dtype="str"))
        elif dtype == "float64":
            data[col] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        else:
            data[col] = pd.to_datetime(values, utc=True).astype(dtype)
    return pd.DataFrame(data)


def particle_rows(days: int = 75, *, hours: int = 24, unit: str | None = "data operations"):
    """Three devices a day from Sep 1; quantities like 0.1 and 0.7 whose sums depend on order."""
    out = []
    start = pd.Timestamp("2026-09-01", tz="UTC")
    q = [0.1, 0.7, 1e16, 0.2, 3.3, -1e16]
    k = 0
    for d in range(days):
        for dev, product in (("dev-a", "Alpha"), ("dev-b", "Beta"), ("dev-c", None)):
            k += 1
            value: float | None = q[k % len(q)] * (1 + d % 5) + 0.013 * k
            if d == 3 or (dev == "dev-b" and d % 7 == 0):
                value = None  # a whole day of NaN, and NaN on some rows
            s = start + d * DAY
            out.append(
                {
                    "provider": "particle",
                    "account_id": "org-1",
                    "product": product,
                    "resource_id": dev,
                    "resource_name": f"name of {dev}" if d % 2 else f"renamed {dev}",
                    "meter": "Data operations",
                    "category": "device",
                    "period_start": s,
                    "period_end": s + pd.Timedelta(hours=hours),
                    "quantity": value,
                    "unit": unit,
                    "billable_quantity": value,
                    "billable_unit": unit,
                }
            )
    return out


def selected(df: pd.DataFrame, mask: np.ndarray | None = None) -> Selected:
    ff = FrameFilter(df)
    dec = Decoded(df, ff.day, known=ff.decoded())
    return Selected(dec, None if mask is None else np.flatnonzero(mask))


def sub(df: pd.DataFrame, mask: np.ndarray | None) -> pd.DataFrame:
    return df if mask is None else df.loc[mask]


def test_period_sums_equal_a_pandas_groupby_and_say_which_keys_are_all_nan() -> None:
    keys = np.array([0, 2, 2, 0, 3, 3, 2])
    values = np.array([0.1, np.nan, 0.7, 0.2, np.nan, np.nan, 1e16])
    clean = np.nan_to_num(values)
    sums, rows, all_nan = period_sums(keys, clean, np.isnan(values), 5)
    expected = pd.Series(values).groupby(keys).sum()  # NaN adds nothing, in row order
    assert sums[[0, 2, 3]].tolist() == expected.tolist()
    assert sums[[1, 4]].tolist() == [0.0, 0.0]
    assert rows.tolist() == [2, 0, 3, 2, 0]
    assert all_nan.tolist() == [False, False, False, True, False]
    # Without NaN anywhere no key is all NaN.
    assert not period_sums(keys, clean, None, 5)[2].any()


@pytest.fixture(scope="module")
def particle() -> pd.DataFrame:
    return frame(particle_rows(), extra_categories={"product": ["Unused"], "resource_id": ["x"]})


def masks(df: pd.DataFrame) -> list[np.ndarray | None]:
    day = df["period_start"]
    return [
        None,
        (df["product"] == "Alpha").to_numpy(bool, na_value=False),
        df["product"].isna().to_numpy(),
        (day >= pd.Timestamp("2026-10-20", tz="UTC")).to_numpy(),
        (df["resource_id"] != "dev-a").to_numpy(bool, na_value=True)
        & (day < pd.Timestamp("2026-10-03", tz="UTC")).to_numpy(),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("plan", [None, ParticlePlan.free(), ParticlePlan.basic(blocks=2)])
def test_the_headline_from_day_sums_is_the_headline_from_the_rows(
    particle: pd.DataFrame, plan: ParticlePlan | None
) -> None:
    for mask in masks(particle):
        for quantity in ("quantity", "billable_quantity"):
            fast = fast_headline(selected(particle, mask), quantity=quantity, plan=plan)
            assert fast is not None
            assert fast == compute_headline(sub(particle, mask), quantity=quantity, plan=plan)
    # The data can tell summing orders apart: the rows in row order and their day
    # subtotals added up do not give the same float, so a reordering would show.
    q = particle["quantity"].fillna(0).to_numpy()
    day = particle["period_start"].dt.day_of_year.to_numpy()
    in_order = np.bincount(np.zeros(len(q), dtype=int), weights=q)[0]
    assert in_order != np.bincount(day, weights=q).sum()


@pytest.mark.slow
@pytest.mark.parametrize("freq", ["D", "W", "MS"])
@pytest.mark.parametrize("by", ["product", "meter", "category"])
def test_the_time_chart_from_group_sums_is_the_chart_from_the_rows(
    particle: pd.DataFrame, freq: str, by: str
) -> None:
    for mask in masks(particle):
        fig = fast_usage_over_time(
            selected(particle, mask), by=by, freq=freq, top=1, quantity="quantity"
        )
        assert fig is not None
        slow = charts.usage_over_time(sub(particle, mask), by=by, freq=freq, top=1)
        assert fig.to_json() == slow.to_json()


@pytest.mark.slow
def test_a_chart_too_long_for_days_switches_to_weeks_as_from_the_rows() -> None:
    df = frame(particle_rows(days=600))  # 600 days x 11 series > CHART_MAX_POINTS
    fig = fast_usage_over_time(selected(df), by="product", freq="D", top=10, quantity="quantity")
    assert fig is not None
    assert fig.to_json() == charts.usage_over_time(df, by="product", freq="D").to_json()
    assert "weekly" in fig.to_json()


@pytest.mark.slow
def test_the_top_table_from_device_sums_is_the_table_from_the_rows(
    particle: pd.DataFrame,
) -> None:
    for mask in masks(particle):
        sel = selected(particle, mask)
        sums = fast_top_consumers(sel, quantity="quantity")
        assert sums is not None

        def label_rows(column: str, values: list[object], mask=mask) -> pd.DataFrame:
            rows = sub(particle, mask)
            return rows.loc[rows[column].isin(values).to_numpy()]

        fast = top_table_html(
            particle,
            by="resource_id",
            quantity="quantity",
            n=EXPLORER_TOP_ROWS,
            sums=sums,
            label_rows=label_rows,
        )
        slow = top_table_html(
            sub(particle, mask), by="resource_id", quantity="quantity", n=EXPLORER_TOP_ROWS
        )
        assert fast == slow
        assert "renamed dev-a" in slow or "name of dev-a" in slow or mask is not None


def charts_from_cells(sel: Selected, df: pd.DataFrame) -> set[str]:
    """The chart kinds drawn from cells (per group, unit and period); each must be the
    chart from the rows, to the bit (an error the same error). Raises AssertionError."""
    drawn = set()
    for chart in ("time", "top", "heatmap", "breakdown", "compare"):
        for by in ("product", "meter", "provider", "category", "account_id"):
            for freq in ("D", "W", "MS") if chart in ("time", "heatmap", "compare") else ("D",):
                view = View(chart=chart, by=by, freq=freq, top=1)
                try:
                    slow = draw(df, view).to_json()
                except UnitMismatch as exc:
                    slow = str(exc)  # a heatmap of several units: the same refusal
                try:
                    fig = fast_draw(sel, view)
                    fast = None if fig is None else fig.to_json()
                except UnitMismatch as exc:
                    fast = str(exc)
                if fast is not None:
                    assert fast == slow, (chart, by, freq)
                    drawn.add(chart)
    return drawn


def chart_and_table_take_the_rows_path(sel: Selected) -> bool:
    chart = fast_usage_over_time(sel, by="product", freq="D", top=5, quantity="quantity")
    return chart is None and fast_top_consumers(sel, quantity="quantity") is None


def test_rows_that_are_not_whole_days_take_the_rows_path() -> None:
    df = frame(particle_rows(hours=12))
    sel = selected(df)
    assert fast_headline(sel, quantity="quantity", plan=ParticlePlan.free()) is None
    assert fast_usage_over_time(sel, by="product", freq="D", top=5, quantity="quantity") is None
    assert fast_top_consumers(sel, quantity="quantity") is not None  # no dates in a ranking


def mixed_units() -> pd.DataFrame:
    rows = particle_rows(days=40)
    for i, r in enumerate(rows):
        if i % 4 == 0:
            r["unit"] = r["billable_unit"] = "MB"
        if i % 9 == 0:
            r["unit"] = None
    return frame(rows)


def test_mixed_units_are_never_summed_together_on_the_fast_paths() -> None:
    df = mixed_units()
    sel = selected(df)
    # Charts and the table draw a panel or rank per unit from the rows: no fast path.
    assert chart_and_table_take_the_rows_path(sel)
    # The plan refuses mixed units (the rows path says so in the headline's note).
    assert fast_headline(sel, quantity="quantity", plan=ParticlePlan.free()) is None
    slow = compute_headline(df, quantity="quantity", plan=ParticlePlan.free())
    assert slow.note and "MB" in slow.note
    # Without a plan: totals per unit and the main unit's forecast, as from the rows.
    fast = fast_headline(sel, quantity="quantity", plan=None)
    assert fast == compute_headline(df, quantity="quantity", plan=None)
    assert fast is not None and set(fast.totals) == {"data operations", "MB"}


def test_a_missing_unit_beside_one_unit_keeps_the_rows_path_for_charts() -> None:
    rows = particle_rows(days=20)
    rows[5]["unit"] = None
    df = frame(rows)
    sel = selected(df)
    assert chart_and_table_take_the_rows_path(sel)
    plan = ParticlePlan.free()
    assert fast_headline(sel, quantity="quantity", plan=plan) == compute_headline(
        df, quantity="quantity", plan=plan
    )


@pytest.mark.slow
def test_several_accounts_or_providers_take_the_rows_path() -> None:
    rows = particle_rows(days=20)
    for r in rows[::5]:
        r["account_id"] = "org-2"
    df = frame(rows)
    assert fast_headline(selected(df), quantity="quantity", plan=ParticlePlan.free()) is None
    assert "several accounts" in (
        compute_headline(df, quantity="quantity", plan=ParticlePlan.free()).note or ""
    )
    here = particle_rows(days=20)
    for r in here:
        r["provider"], r["unit"], r["billable_unit"] = "here", "transactions", "transactions"
    both = frame(particle_rows(days=20) + here)
    sel = selected(both)
    # Several providers: every chart and the table from cells, as from the rows.
    # (Device names change from day to day here: the treemap, which names the
    # devices, takes the rows path.)
    assert charts_from_cells(sel, both) == {"time", "top", "heatmap", "compare"}
    assert fast_top_consumers(sel, quantity="quantity") is not None
    plan = ParticlePlan.free()
    # The plan reads the Particle rows alone: from day sums as from the rows.
    assert fast_headline(sel, quantity="quantity", plan=plan) == compute_headline(
        both, quantity="quantity", plan=plan
    )
    assert fast_headline(sel, quantity="quantity", plan=None) == compute_headline(
        both, quantity="quantity", plan=None
    )
    # A main unit from two providers (HERE's data lag applies to some rows): rows path.
    for r in here:
        r["unit"] = "data operations"
    same_unit = frame(particle_rows(days=20) + here)
    assert fast_headline(selected(same_unit), quantity="quantity", plan=None) is None


@pytest.mark.slow
def test_every_redraw_of_the_explorer_equals_the_rows_path(
    particle: pd.DataFrame, tmp_path: Path
) -> None:
    ex = UsageExplorer(particle, export_dir=tmp_path)
    for product in ([], ["Alpha"], [None], ["Alpha", "Beta"]):
        ex.set_filters(product=product)
        for freq in ("D", "W", "MS"):
            ex.freq.value = freq
            view = ex.view
            rows = ex.filtered
            assert ex.headline == compute_headline(rows, quantity=view.quantity, plan=view.plan)
            assert ex.top_table.value == top_table_html(
                rows, by="resource_id", quantity=view.quantity, n=EXPLORER_TOP_ROWS
            )
            slow = charts.usage_over_time(rows, by=view.by, freq=freq, top=view.top)
            shown = [(t.name, list(t.x), list(t.y)) for t in ex.figure.data]
            assert shown == [(t.name, list(t.x), list(t.y)) for t in slow.data]


def test_rows_of_two_grains_of_one_provider_take_the_rows_path() -> None:
    # Particle device rows and product rows over the same days: the grain rule
    # counts one of them, which cells summing both could not tell.
    rows = particle_rows(days=10)
    products = [
        {**r, "category": "product", "resource_id": None, "resource_name": None}
        for r in particle_rows(days=10)[::3]
    ]
    df = frame(rows + products)
    sel = selected(df)
    assert fast_draw(sel, View(chart="time", by="product")) is None
    assert fast_draw(sel, View(chart="top", by="meter")) is None
    assert fast_top_consumers(sel, quantity="quantity") is None
    assert fast_headline(sel, quantity="quantity", plan=None) is None


@pytest.mark.slow
def test_charts_with_missing_group_values_from_cells_are_the_charts_from_the_rows() -> None:
    # A device without product (sandbox) and rows without category, over two
    # providers and units; devices keep their names, so every chart takes cells.
    rows = particle_rows(days=30)
    for r in rows:
        r["resource_name"] = f"name of {r['resource_id']}"
        r["category"] = None if r["resource_id"] == "dev-b" else "device"
    here = particle_rows(days=12)
    for r in here:
        r["resource_name"] = f"name of {r['resource_id']}"
        r["provider"], r["unit"], r["billable_unit"] = "here", "GB", "GB"
        r["account_id"] = "realm-a"
    df = frame(rows + here)
    for mask in (None, (df["provider"] == "here").to_numpy(bool)):
        sel = selected(df, mask)
        drawn = charts_from_cells(sel, sub(df, mask))
        assert drawn == {"time", "top", "heatmap", "breakdown", "compare"}
        for by in ("resource_id", "account_id"):
            for chart in ("time", "top", "breakdown", "compare"):
                view = View(chart=chart, by=by, freq="W", top=2)
                fig = fast_draw(sel, view)
                assert fig is not None
                assert fig.to_json() == draw(sub(df, mask), view).to_json()


@pytest.mark.slow
@pytest.mark.parametrize("plan", [ParticlePlan.free(), ParticlePlan.basic(blocks=2)])
def test_the_plan_chart_from_day_sums_is_the_plan_chart_from_the_rows(
    particle: pd.DataFrame, plan: ParticlePlan
) -> None:
    here = particle_rows(days=20)
    for r in here:
        r["provider"], r["unit"], r["billable_unit"] = "here", "transactions", "transactions"
        r["account_id"] = "realm-a"
    both = frame(particle_rows() + here)
    only_here = (both["provider"] == "here").to_numpy(bool)
    for df, more in ((particle, []), (both, [only_here])):
        for mask in [*masks(df), *more]:
            view = View(chart="plan", plan=plan)
            fig = fast_draw(selected(df, mask), view)
            assert fig is not None
            assert fig.to_json() == draw(sub(df, mask), view).to_json()
    assert "no Particle rows" in fig.to_json()


def test_the_plan_chart_of_several_accounts_or_a_missing_unit_takes_the_rows_path() -> None:
    view = View(chart="plan", plan=ParticlePlan.free())
    rows = particle_rows(days=20)
    for r in rows[::5]:
        r["account_id"] = "org-2"
    assert fast_draw(selected(frame(rows)), view) is None
    rows = particle_rows(days=20)
    rows[5]["billable_unit"] = None  # the chart's forecast leaves this row out
    assert fast_draw(selected(frame(rows)), view) is None
    assert fast_draw(selected(frame(particle_rows(hours=12))), view) is None


@settings(max_examples=40, deadline=None)
@given(
    devices=st.lists(
        st.tuples(
            st.sampled_from(["P1", "P2", "P3", None]),  # the device's product
            st.sampled_from(["c1", "c2", None]),  # its category
            st.sampled_from(["ops", "MB", None]),  # its unit
        ),
        min_size=1,
        max_size=12,
    ),
    rows=st.lists(st.integers(min_value=0, max_value=11), min_size=1, max_size=60),
    shared=st.booleans(),
)
def test_combinations_refined_from_a_finer_grouping_are_the_folded_ones(
    devices: list[tuple[Any, Any, Any]], rows: list[int], shared: bool
) -> None:
    # (product, device, unit) from the kept (device, unit) combinations must number
    # the combinations exactly as folding the three keys does, and refuse when a
    # device has two products (``shared``: one device id on two products' rows).
    from usage_analysis.widgets import _decoded

    picked = [devices[i % len(devices)] + (f"d{i % len(devices)}",) for i in rows]
    if shared and len(picked) > 1:
        picked[-1] = ("P9", *picked[-1][1:])
    day = pd.Timestamp("2026-09-01", tz="UTC")
    n = len(picked)
    df = pd.DataFrame(
        {
            "provider": pd.Categorical(["particle"] * n),
            "product": pd.Categorical([p[0] for p in picked]),
            "category": pd.Categorical([p[1] for p in picked]),
            "unit": pd.Categorical([p[2] for p in picked]),
            "resource_id": pd.Categorical([p[3] for p in picked]),
            "period_start": [day] * n,
        }
    )
    day_numbers = np.zeros(n, dtype=np.int64)
    for head in ("product", "category"):
        dec = _decoded.Decoded(df, day_numbers)
        tail = dec.combos(("resource_id", "unit"))
        assert tail is not None
        refined = _decoded._refine(dec, head, tail)
        folded = _decoded._combos(_decoded.Decoded(df, day_numbers), (head, "resource_id", "unit"))
        assert folded is not None
        if refined is None:
            heads = df[head].cat.codes.to_numpy()
            pairs = {(t, h) for t, h in zip(tail.ids.tolist(), heads.tolist(), strict=True)}
            assert len(pairs) > tail.n  # refused only when a device has two values
            continue
        assert refined.ids.tolist() == folded.ids.tolist()
        assert refined.codes.keys() == folded.codes.keys()
        for k in folded.codes:
            assert refined.codes[k].tolist() == folded.codes[k].tolist()
        assert folded.provider is not None and refined.provider is not None
        assert refined.provider.tolist() == folded.provider.tolist()
