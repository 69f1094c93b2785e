"""usage_by, top_consumers and compare_periods on small hand-computed frames, plus properties."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usage_analysis.analysis import compare_periods, top_consumers, usage_by
from usage_analysis.errors import InvalidParameter, SchemaError, UnitMismatch
from usage_analysis.schema import coerce_unified


def unified(**columns: Any) -> pd.DataFrame:
    """A unified frame from columns; period_end is a day after period_start."""
    df = pd.DataFrame(columns)
    df["period_start"] = pd.to_datetime(df["period_start"], utc=True)
    defaults = {
        "provider": "particle",
        "account_id": "acme",
        "unit": "data operations",
    }
    for col, value in defaults.items():
        if col not in df:
            df[col] = value
    if "period_end" not in df:
        df["period_end"] = df["period_start"] + pd.Timedelta(days=1)
    if "billable_quantity" not in df:
        df["billable_quantity"] = df["quantity"]
    if "billable_unit" not in df:
        df["billable_unit"] = df["unit"]
    return coerce_unified(df)


@pytest.fixture
def small() -> pd.DataFrame:
    # product A: 1+2+64 = 67, B: 4+8 = 12, C: 16, missing product: 32.
    return unified(
        product=["A", "A", "B", "B", "C", None, "A"],
        resource_id=["d1", "d2", "d3", "d3", "d4", "d5", "d1"],
        resource_name=["one", "two", "three", "three", "four", "five", "uno"],
        period_start=[
            "2026-10-01",
            "2026-10-01",
            "2026-10-01",
            "2026-10-02",
            "2026-10-08",
            "2026-10-02",
            "2026-11-01",
        ],
        quantity=[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0],
    )


def rows(table: pd.DataFrame, *cols: str) -> list[tuple[Any, ...]]:
    """Table rows as plain tuples (missing values as None, timestamps as dates)."""
    out = []
    for rec in table[list(cols)].astype(object).itertuples(index=False, name=None):
        out.append(
            tuple(
                None
                if (v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA)
                else (v.strftime("%Y-%m-%d") if isinstance(v, pd.Timestamp) else v)
                for v in rec
            )
        )
    return out


def test_usage_by_sums_each_product_largest_first(small: pd.DataFrame) -> None:
    table = usage_by(small, by="product")
    assert rows(table, "product", "quantity", "unit") == [
        ("A", 67.0, "data operations"),
        (None, 32.0, "data operations"),
        ("C", 16.0, "data operations"),
        ("B", 12.0, "data operations"),
    ]
    assert isinstance(table["product"].dtype, pd.CategoricalDtype)


def test_usage_by_day_keeps_periods_ascending_within_each_group(small: pd.DataFrame) -> None:
    table = usage_by(small, by="product", freq="D")
    assert rows(table, "product", "period_start", "quantity") == [
        ("A", "2026-10-01", 3.0),
        ("A", "2026-11-01", 64.0),
        (None, "2026-10-02", 32.0),
        ("C", "2026-10-08", 16.0),
        ("B", "2026-10-01", 4.0),
        ("B", "2026-10-02", 8.0),
    ]
    assert str(table["period_start"].dtype) == "datetime64[ns, UTC]"


def test_weeks_start_on_monday_and_months_on_the_first(small: pd.DataFrame) -> None:
    weekly = usage_by(small, by=None, freq="W")
    # 2026-10-01 is a Thursday: its week starts on Monday 2026-09-28; 2026-11-01 is a Sunday.
    assert rows(weekly, "period_start", "quantity") == [
        ("2026-09-28", 47.0),
        ("2026-10-05", 16.0),
        ("2026-10-26", 64.0),
    ]
    monthly = usage_by(small, by=None, freq="MS")
    assert rows(monthly, "period_start", "quantity") == [("2026-10-01", 63.0), ("2026-11-01", 64.0)]


def test_top_groups_are_kept_and_the_rest_summed_into_other(small: pd.DataFrame) -> None:
    table = usage_by(small, by="product", top=2)
    assert rows(table, "product", "quantity") == [("A", 67.0), (None, 32.0), ("other", 28.0)]
    daily = usage_by(small, by="product", freq="D", top=1)
    assert rows(daily, "product", "period_start", "quantity") == [
        ("A", "2026-10-01", 3.0),
        ("A", "2026-11-01", 64.0),
        ("other", "2026-10-01", 4.0),
        ("other", "2026-10-02", 40.0),
        ("other", "2026-10-08", 16.0),
    ]


def test_other_false_drops_the_groups_outside_the_top(small: pd.DataFrame) -> None:
    table = usage_by(small, by="product", top=2, other=False)
    assert rows(table, "product", "quantity") == [("A", 67.0), (None, 32.0)]


def test_top_larger_than_the_number_of_groups_adds_no_other(small: pd.DataFrame) -> None:
    table = usage_by(small, by="product", top=10)
    assert "other" not in set(table["product"].dropna())
    assert table["quantity"].sum() == 127.0


def test_several_columns_group_by_their_combination(small: pd.DataFrame) -> None:
    table = usage_by(small, by=["product", "resource_id"], top=2)
    assert rows(table, "product", "resource_id", "quantity") == [
        ("A", "d1", 65.0),
        (None, "d5", 32.0),
        ("other", "other", 30.0),
    ]


def test_mixed_units_are_refused_naming_both_units() -> None:
    df = unified(
        product=["a", "b"],
        period_start=["2026-10-01", "2026-10-01"],
        quantity=[1.0, 2.0],
        unit=["Transactions", "GB"],
    )
    with pytest.raises(UnitMismatch) as err:
        usage_by(df, by="product")
    assert "GB" in str(err.value) and "Transactions" in str(err.value)
    assert err.value.units == ["GB", "Transactions"]


def test_mixed_units_are_summed_per_unit_when_unit_is_a_group() -> None:
    df = unified(
        product=["a", "b", "c", "a"],
        period_start=["2026-10-01"] * 4,
        quantity=[1.0, 2.0, 5.0, 3.0],
        unit=["Transactions", "Transactions", "GB", "GB"],
    )
    table = usage_by(df, by=["product", "unit"], top=1)
    # Ranked and bucketed within each unit; never adding GB to Transactions.
    assert rows(table, "product", "unit", "quantity") == [
        ("c", "GB", 5.0),
        ("other", "GB", 3.0),
        ("b", "Transactions", 2.0),
        ("other", "Transactions", 1.0),
    ]


def test_billable_quantity_is_checked_against_the_billable_unit() -> None:
    df = unified(
        product=["a", "b"],
        period_start=["2026-10-01"] * 2,
        quantity=[1.0, 2.0],
        unit=["rows", "compute units"],
        billable_quantity=[0.5, 0.25],
        billable_unit=["IPU", "IPU"],
    )
    table = usage_by(df, by="product", quantity="billable_quantity")
    assert rows(table, "product", "billable_quantity", "billable_unit") == [
        ("a", 0.5, "IPU"),
        ("b", 0.25, "IPU"),
    ]
    with pytest.raises(UnitMismatch):
        usage_by(df, by="product")


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"by": "no_such_column"}, "by"),
        ({"freq": "M"}, "freq"),
        ({"top": 0}, "top"),
        ({"by": None, "top": 3}, "top"),
        ({"quantity": "price"}, "quantity"),
    ],
)
def test_bad_options_name_the_parameter(
    small: pd.DataFrame, kwargs: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(InvalidParameter) as err:
        usage_by(small, **kwargs)
    assert err.value.parameter == parameter


def test_a_frame_that_is_not_unified_is_refused() -> None:
    with pytest.raises(SchemaError, match="period_start"):
        usage_by(pd.DataFrame({"product": ["a"], "quantity": [1.0]}))


def test_an_empty_frame_gives_an_empty_table(small: pd.DataFrame) -> None:
    table = usage_by(small.iloc[:0], by="product", freq="D")
    assert len(table) == 0
    assert list(table.columns) == ["product", "period_start", "quantity", "unit"]


def test_top_consumers_rank_share_and_cumulative_share(small: pd.DataFrame) -> None:
    table = top_consumers(small, n=3)
    total = 127.0
    assert rows(table, "rank", "resource_id", "resource_name", "quantity") == [
        (1, "d1", "uno", 65.0),  # the newest name of d1
        (2, "d5", "five", 32.0),
        (3, "d4", "four", 16.0),
    ]
    np.testing.assert_allclose(
        table["share_percent"], [65 / total * 100, 32 / total * 100, 16 / total * 100]
    )
    np.testing.assert_allclose(
        table["cumulative_percent"], [65 / total * 100, 97 / total * 100, 113 / total * 100]
    )


def test_top_consumers_by_product_has_no_resource_name(small: pd.DataFrame) -> None:
    table = top_consumers(small, by="product", n=2)
    assert list(table.columns) == [
        "rank",
        "product",
        "quantity",
        "share_percent",
        "cumulative_percent",
        "unit",
    ]
    assert rows(table, "product", "quantity") == [("A", 67.0), (None, 32.0)]


def test_compare_periods_this_month_against_last(small: pd.DataFrame) -> None:
    table = compare_periods(small, by="product")
    # The newest data is in November: November against October.
    assert table.attrs["current_period"] == pd.Timestamp("2026-11-01", tz="UTC")
    assert table.attrs["previous_period"] == pd.Timestamp("2026-10-01", tz="UTC")
    got = rows(table, "product", "previous", "current", "change")
    assert got == [
        ("A", 3.0, 64.0, 61.0),
        (None, 32.0, 0.0, -32.0),
        ("C", 16.0, 0.0, -16.0),
        ("B", 12.0, 0.0, -12.0),
    ]
    np.testing.assert_allclose(table["change_percent"], [61 / 3 * 100, -100.0, -100.0, -100.0])


def test_compare_periods_percent_is_missing_when_there_was_nothing_before(
    small: pd.DataFrame,
) -> None:
    table = compare_periods(small, by="product", period="2026-10-15")
    by_product = {
        p: r
        for p, r in zip(table["product"].astype(object), table.to_dict("records"), strict=True)
        if isinstance(p, str)
    }
    assert by_product["A"]["previous"] == 0.0 and by_product["A"]["current"] == 3.0
    assert np.isnan(by_product["A"]["change_percent"])


def test_compare_periods_to_date_compares_as_many_days_of_the_previous_period() -> None:
    df = unified(
        product=["a"] * 4,
        period_start=["2026-09-02", "2026-09-20", "2026-10-01", "2026-10-02"],
        quantity=[5.0, 100.0, 7.0, 1.0],
    )
    full = compare_periods(df, by="product")
    assert (full["previous"].iloc[0], full["current"].iloc[0]) == (105.0, 8.0)
    # October has data for its first two days: compare with September 1-2 only.
    aligned = compare_periods(df, by="product", to_date=True)
    assert (aligned["previous"].iloc[0], aligned["current"].iloc[0]) == (5.0, 8.0)


# --- properties ----------------------------------------------------------------

_products = st.sampled_from(["A", "B", "C", None])
_devices = st.sampled_from(["d1", "d2", "d3", "d4", None])
_days = st.integers(min_value=0, max_value=70)
_qty = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
_record = st.tuples(_products, _devices, _days, _qty)


def _frame(records: list[tuple[Any, Any, int, float]]) -> pd.DataFrame:
    start = pd.Timestamp("2026-08-01", tz="UTC")
    return unified(
        product=[r[0] for r in records],
        resource_id=[r[1] for r in records],
        period_start=[start + pd.Timedelta(days=r[2]) for r in records],
        quantity=[r[3] for r in records],
    )


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(
    records=st.lists(_record, min_size=1, max_size=40),
    by=st.sampled_from([None, "product", "resource_id", ["product", "resource_id"]]),
    freq=st.sampled_from([None, "D", "W", "MS"]),
)
def test_any_grouping_preserves_the_total(records: list[Any], by: Any, freq: Any) -> None:
    df = _frame(records)
    table = usage_by(df, by=by, freq=freq)
    assert table["quantity"].sum() == pytest.approx(df["quantity"].sum(), rel=1e-9, abs=1e-6)
    # and agrees with pandas, group by group
    keys = ([by] if isinstance(by, str) else list(by or [])) + (["period_start"] if freq else [])
    if keys:
        expected_groups = (
            df.assign(
                period_start=df["period_start"]
                .dt.tz_localize(None)
                .dt.to_period({"D": "D", "W": "W-SUN", "MS": "M"}[freq])
                .dt.start_time.dt.tz_localize("UTC")
                if freq
                else df["period_start"]
            )
            .groupby(keys, dropna=False, observed=True)["quantity"]
            .sum()
        )
        assert len(table) == len(expected_groups)
        np.testing.assert_allclose(
            np.sort(table["quantity"].to_numpy()), np.sort(expected_groups.to_numpy()), rtol=1e-9
        )


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(
    records=st.lists(_record, min_size=1, max_size=40),
    top=st.integers(min_value=1, max_value=5),
    freq=st.sampled_from([None, "D", "MS"]),
)
def test_top_n_plus_other_equals_the_total(records: list[Any], top: int, freq: Any) -> None:
    df = _frame(records)
    table = usage_by(df, by="resource_id", freq=freq, top=top)
    assert table["quantity"].sum() == pytest.approx(df["quantity"].sum(), rel=1e-9, abs=1e-6)
    named = table.loc[table["resource_id"].astype(object) != "other", "resource_id"]
    assert named.nunique(dropna=False) <= top
    kept = usage_by(df, by="resource_id", freq=freq, top=top, other=False)
    other = table.loc[table["resource_id"].astype(object) == "other", "quantity"].sum()
    assert kept["quantity"].sum() + other == pytest.approx(df["quantity"].sum(), rel=1e-9, abs=1e-6)


def test_concatenated_frames_with_object_columns_are_coerced_not_refused(
    small: pd.DataFrame,
) -> None:
    loose = small.astype({"product": object, "unit": object})
    assert rows(usage_by(loose, by="product"), "product", "quantity")[0] == ("A", 67.0)


@pytest.mark.parametrize("path", ["sparse", "pandas"])
def test_every_grouping_path_gives_the_same_table(
    monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """The hashed (sparse key space) and pandas (oversized key space) paths match the dense one."""
    from usage_analysis.analysis import _common

    rng = np.random.default_rng(3)
    n = 500
    df = unified(
        product=rng.choice(["A", "B", "C", None], n),
        resource_id=rng.choice([f"d{i}" for i in range(40)] + [None], n),
        period_start=pd.Timestamp("2026-09-01", tz="UTC")
        + pd.to_timedelta(rng.integers(0, 60, n), unit="D"),
        quantity=rng.random(n) * 100,
    )
    expected = {
        "daily": usage_by(df, by=["product", "resource_id"], freq="D"),
        "top": top_consumers(df, n=5),
        "compare": compare_periods(df, by="resource_id"),
    }
    monkeypatch.setattr(_common, "_DENSE_MIN", 0)
    monkeypatch.setattr(_common, "_DENSE_FACTOR", 0)
    if path == "pandas":
        monkeypatch.setattr(_common, "_MAX_KEY", 1)
    got = {
        "daily": usage_by(df, by=["product", "resource_id"], freq="D"),
        "top": top_consumers(df, n=5),
        "compare": compare_periods(df, by="resource_id"),
    }
    for name, table in expected.items():
        pd.testing.assert_frame_equal(got[name], table, check_categorical=False, obj=name)


# --- the numpy stand-ins for pandas' groupby on small aggregated tables ---------------


def _keys_frame() -> pd.DataFrame:
    """Hand-made keys: categories in a non-alphabetical order, missing values, NaT."""
    day = pd.Timestamp("2026-03-01", tz="UTC")
    return pd.DataFrame(
        {
            "product": pd.Categorical(
                ["b", None, "a", "c", "b", None, "a", "c", "c"], categories=["c", "a", "b"]
            ),
            "unit": pd.Categorical(["ops", "MB", None, "ops", "MB", "ops", "ops", None, "MB"]),
            "period_start": pd.Series(
                [day, day, pd.NaT, day + pd.Timedelta(days=2), day, day, day, pd.NaT, day]
            ),
        }
    )


@pytest.mark.parametrize(
    "cols",
    [["product"], ["unit"], ["product", "unit"], ["unit", "period_start"], ["period_start"]],
)
def test_ngroup_numbers_groups_as_a_sorted_pandas_groupby_does(cols: list[str]) -> None:
    from usage_analysis.analysis.aggregate import ngroup

    df = _keys_frame()
    expected = df.groupby(cols, dropna=False, observed=True, sort=True).ngroup().to_numpy()
    assert ngroup(df, cols).tolist() == expected.tolist()


def test_ngroup_puts_missing_keys_last_like_pandas() -> None:
    from usage_analysis.analysis.aggregate import ngroup

    df = _keys_frame()
    # Categories order c, a, b; then the missing product.
    assert ngroup(df, ["product"]).tolist() == [2, 3, 1, 0, 2, 3, 1, 0, 0]


def test_the_group_sum_is_pandas_compensated_sum_bit_for_bit() -> None:
    from usage_analysis.analysis.aggregate import _pandas_group_sum

    # Values where a plain left-to-right sum and Kahan's differ in the last bits.
    values = np.array([0.1, 1e16, 0.2, 1.0, 0.3, -1e16, np.nan, 3.3333, 1e-8, 1.0, np.inf, 2.0])
    ids = np.array([0, 0, 1, 0, 1, 0, 2, 1, 1, 0, 3, 3])
    expected = pd.Series(values).groupby(ids).sum().to_numpy()
    got = _pandas_group_sum(ids, values)
    assert got is not None
    assert got.tobytes() == expected.tobytes()
    # Group 0 is 0.1 + 1e16 + 1.0 - 1e16 + 1.0: compensated, not 2.0 or 0.0 by luck.
    naive = 0.1 + 1e16 + 1.0 - 1e16 + 1.0
    assert got[0] == expected[0] and (got[0] != naive or expected[0] == naive)
    assert got[2] == 0.0  # all NaN: 0, as pandas' sum
    assert got[3] == np.inf


def test_the_group_sum_leaves_big_groups_to_pandas() -> None:
    from usage_analysis.analysis.aggregate import _MAX_KAHAN_ROWS, _pandas_group_sum

    ids = np.zeros(_MAX_KAHAN_ROWS + 1, dtype=np.int64)
    assert _pandas_group_sum(ids, np.ones(len(ids))) is None


@pytest.mark.parametrize("freq", [None, "D", "W"])
@pytest.mark.parametrize("by", ["product", ["product", "unit"]])
def test_top_and_other_give_what_pandas_groupby_gives(
    monkeypatch: pytest.MonkeyPatch, freq: str | None, by: Any
) -> None:
    # Six products (one missing) over three days, two units, NaN and values whose sum
    # depends on the order and the method; top 2 + other, then the same with the
    # "other" buckets summed by pandas' groupby (the path for big groups).
    from usage_analysis.analysis import aggregate

    day = pd.Timestamp("2026-03-02", tz="UTC")
    values = [5, 0.1, 0.2, 0.3, 1e16, -1e16, 1, 2, 3, 4, 0.7, np.nan, 2, 0.3, 0.1, 0.2, 5, 1]
    products = ["p1", "p2", "p3", "p4", "p5", None] * 3
    df = coerce_unified(
        pd.DataFrame(
            {
                "provider": "particle",
                "product": products,
                "period_start": [day + pd.Timedelta(days=k // 6 * 4) for k in range(18)],
                "period_end": [day + pd.Timedelta(days=k // 6 * 4 + 1) for k in range(18)],
                "quantity": values,
                "unit": ["ops", "ops", "MB"] * 6,
            }
        )
    )
    cols = [by] if isinstance(by, str) else by
    if "unit" not in cols:
        df = df.assign(unit=pd.Categorical(["ops"] * 18))
    fast = usage_by(df, by=by, freq=freq, top=2)
    monkeypatch.setattr(aggregate, "_MAX_KAHAN_ROWS", 0)
    slow = usage_by(df, by=by, freq=freq, top=2)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert "other" in set(fast["product"].astype(str))


# --- top_and_other: ranking a per-group table on its codes -----------------------------

_groups = st.one_of(st.none(), st.integers(min_value=0, max_value=30).map(lambda i: f"g{i:02d}"))
_units = st.sampled_from(["ops", "MB", "GB", None])
# Halves: every sum exact whatever the order, so ties are real ties.
_halves = st.one_of(
    st.integers(min_value=0, max_value=40).map(lambda i: i / 2.0), st.just(float("nan"))
)
_cell = st.tuples(_groups, _units, st.integers(min_value=0, max_value=9), _halves)


def _qty_or_nan() -> st.SearchStrategy[float]:
    return st.one_of(
        st.floats(min_value=-1e12, max_value=1e16, allow_nan=False, allow_infinity=False),
        st.just(float("nan")),
        st.sampled_from([0.1, 0.2, 0.3, 1e16, -1e16]),
    )


def _rows_frame(records: list[tuple[Any, Any, int, float]]) -> pd.DataFrame:
    start = pd.Timestamp("2026-05-01", tz="UTC")
    return unified(
        product=[r[0] for r in records],
        unit=[r[1] for r in records],
        period_start=[start + pd.Timedelta(days=r[2]) for r in records],
        quantity=[r[3] for r in records],
    )


def _pandas_top_and_other(df: pd.DataFrame, top: int, other: bool) -> list[tuple[Any, ...]]:
    """usage_by(df, by=["product", "unit"], freq="D", top=top) in plain pandas."""
    frame = pd.DataFrame(
        {
            "product": df["product"].astype(object),
            "unit": df["unit"].astype(object),
            "day": df["period_start"].dt.strftime("%Y-%m-%d"),
            "q": df["quantity"].fillna(0.0),
        }
    )
    cells = frame.groupby(["product", "unit", "day"], dropna=False, sort=True)["q"].sum()
    cells = cells.reset_index()
    totals = cells.groupby(["product", "unit"], dropna=False, sort=True)["q"].sum().reset_index()
    # rank per unit by total, ties in key order (sorted product, missing last)
    totals["key"] = np.arange(len(totals))
    totals = totals.sort_values(["q", "key"], ascending=[False, True], kind="stable")
    totals["rank"] = totals.groupby("unit", dropna=False, sort=False).cumcount()
    ranked = cells.merge(totals[["product", "unit", "rank", "key"]], on=["product", "unit"])
    ranked = ranked.merge(
        totals[["product", "unit", "q"]].rename(columns={"q": "total"}), on=["product", "unit"]
    )
    kept = ranked.loc[ranked["rank"] < top]
    rest = ranked.loc[ranked["rank"] >= top]
    unit_order = {u: i for i, u in enumerate(sorted(u for u in df["unit"].cat.categories))}

    def unit_key(u: Any) -> int:
        return -1 if pd.isna(u) else unit_order[u]  # missing unit first, as its code -1

    out = [
        (unit_key(r.unit), 0, -r.total, r.key, r.day, r.product, r.unit, r.q)
        for r in kept.itertuples()
    ]
    if other and len(rest):
        buckets = rest.groupby(["unit", "day"], dropna=False, sort=True)["q"].sum()
        for (unit, day), q in buckets.items():
            out.append((unit_key(unit), 1, 0.0, 0, day, "other", unit, q))
    out.sort(key=lambda r: r[:5])
    return [
        (None if pd.isna(r[5]) else r[5], None if pd.isna(r[6]) else r[6], r[4], r[7]) for r in out
    ]


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(
    records=st.lists(_cell, min_size=1, max_size=120),
    top=st.integers(min_value=1, max_value=6),
    other=st.booleans(),
)
def test_top_and_other_ranks_and_folds_as_a_plain_pandas_groupby(
    records: list[Any], top: int, other: bool
) -> None:
    # Many groups, several units (one of them missing), NaN and tied totals.
    df = _rows_frame(records)
    table = usage_by(df, by=["product", "unit"], freq="D", top=top, other=other)
    got = [
        (p, u, d, q) for p, u, d, q in rows(table, "product", "unit", "period_start", "quantity")
    ]
    assert got == _pandas_top_and_other(df, top, other)


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(
    records=st.lists(
        st.tuples(_groups, _units, st.integers(min_value=0, max_value=9), _qty_or_nan()),
        min_size=1,
        max_size=120,
    ),
    top=st.one_of(st.none(), st.integers(min_value=1, max_value=6)),
    by=st.sampled_from([["product", "unit"], ["product"]]),
    period=st.booleans(),
)
def test_top_and_other_on_codes_is_the_pandas_path_bit_for_bit(
    records: list[Any], top: int | None, by: list[str], period: bool
) -> None:
    # Any floats (sums that depend on the order and method) and NaN in the table:
    # the categorical table, ranked on its codes, against the same table with
    # object keys, ranked by pandas.
    from usage_analysis.analysis import top_and_other

    start = pd.Timestamp("2026-05-01", tz="UTC")
    table = pd.DataFrame(
        {
            "product": pd.Categorical([r[0] for r in records]),
            "unit": pd.Categorical([r[1] for r in records]),
            "period_start": [start + pd.Timedelta(days=r[2]) for r in records],
            "quantity": [r[3] for r in records],
        }
    )
    if not period:
        table = table.drop(columns="period_start")
    keys = by + (["period_start"] if period else [])
    table = table.drop_duplicates(keys).sort_values(keys, kind="stable").reset_index(drop=True)
    fast = top_and_other(table, by=by, top=top)
    loose = table.astype({"product": object})  # the unit stays categorical, as usage_by needs
    slow = top_and_other(loose, by=by, top=top)
    assert fast.columns.tolist() == slow.columns.tolist()
    for c in fast.columns:
        a, b = fast[c].astype(object).to_numpy(), slow[c].astype(object).to_numpy()
        if c == "quantity":
            assert np.asarray(a, float).tobytes() == np.asarray(b, float).tobytes()
        else:
            assert [None if pd.isna(v) else v for v in a] == [None if pd.isna(v) else v for v in b]
