"""history()'s batch-by-batch conversion: Arrow batches -> the unified dtypes, exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from usage_analysis.archive._frames import FrameBuilder, sort_rows

TYPES = {
    "provider": pa.string(),
    "product": pa.string(),
    "period_start": pa.timestamp("us", tz="UTC"),
    "quantity": pa.float64(),
}


def _dict(values: list[str | None], dictionary: list[str]) -> pa.DictionaryArray:
    """A dictionary array whose dictionary is given (as Parquet row groups have their own)."""
    indices = [None if v is None else dictionary.index(v) for v in values]
    return pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32()), pa.array(dictionary))


def _batch(products: pa.Array, starts: list[str], quantities: list[float | None]) -> pa.RecordBatch:
    return pa.record_batch(
        [
            products,
            pa.array(pd.to_datetime(starts, utc=True), pa.timestamp("us", tz="UTC")),
            pa.array(quantities, pa.float64()),
        ],
        names=["product", "period_start", "quantity"],
    )


def test_batches_with_their_own_dictionaries_give_one_column_of_true_values() -> None:
    builder = FrameBuilder(TYPES)
    # Each batch has its own dictionary, in its own order, with unused entries and nulls.
    builder.add(
        _batch(
            _dict(["Zeta", "Alpha", None], ["Zeta", "Unused", "Alpha"]),
            ["2026-01-01", "2026-01-02", "2026-01-03"],
            [1.0, 2.0, None],
        ),
        {"provider": "here"},
    )
    builder.add(
        _batch(
            pa.array(["Alpha", "Mid", "Zeta"]),  # plain strings, no dictionary
            ["2026-02-01", "2026-02-02", "2026-02-03"],
            [4.0, 8.0, 16.0],
        ),
        {"provider": None},
    )
    builder.add(
        _batch(_dict(["Mid", "Mid"], ["Mid", "Alpha"]), ["2026-03-01", "2026-03-02"], [32.0, 64.0]),
        {"provider": "particle"},
    )
    df = builder.frame()
    assert builder.rows == len(df) == 8
    assert [None if pd.isna(v) else v for v in df["product"]] == [
        "Zeta",
        "Alpha",
        None,
        "Alpha",
        "Mid",
        "Zeta",
        "Mid",
        "Mid",
    ]
    assert [None if pd.isna(v) else v for v in df["provider"]] == (
        ["here"] * 3 + [None] * 3 + ["particle"] * 2
    )
    # Categories sorted; "Unused" is a category only when unused ones are kept.
    assert list(df["product"].cat.categories) == ["Alpha", "Mid", "Unused", "Zeta"]
    assert str(df["product"].dtype) == "category"
    assert str(df["period_start"].dtype) == "datetime64[ns, UTC]"
    assert df["period_start"].iloc[4] == pd.Timestamp("2026-02-02", tz="UTC")
    assert df["quantity"].isna().tolist() == [False, False, True] + [False] * 5
    assert df["quantity"].sum() == 127.0
    # Totals per product equal the truth, whatever the batches' dictionaries were.
    totals = df.groupby("product", observed=True)["quantity"].sum().to_dict()
    assert totals == {"Alpha": 6.0, "Mid": 104.0, "Zeta": 17.0}


def test_drop_unused_keeps_only_categories_that_occur() -> None:
    builder = FrameBuilder({"product": pa.string()})
    builder.add(pa.record_batch([_dict(["b", "b"], ["a", "b", "c"])], names=["product"]), {})
    assert list(builder.frame(drop_unused=True)["product"].cat.categories) == ["b"]


def test_a_repeated_dictionary_maps_the_same_and_new_values_extend_it() -> None:
    builder = FrameBuilder({"product": pa.string()})
    same = ["x", "y"]
    for _ in range(3):
        builder.add(pa.record_batch([_dict(["y", "x"], same)], names=["product"]), {})
    builder.add(pa.record_batch([_dict(["w"], ["w", "x"])], names=["product"]), {})
    df = builder.frame()
    assert df["product"].tolist() == ["y", "x"] * 3 + ["w"]
    assert list(df["product"].cat.categories) == ["w", "x", "y"]


def test_no_batches_give_an_empty_frame_of_the_right_dtypes() -> None:
    df = FrameBuilder(TYPES).frame()
    assert len(df) == 0
    assert [str(t) for t in df.dtypes] == [
        "category",
        "category",
        "datetime64[ns, UTC]",
        "float64",
    ]


def test_sort_rows_orders_by_value_not_by_first_appearance() -> None:
    builder = FrameBuilder({"product": pa.string(), "quantity": pa.float64()})
    builder.add(
        pa.record_batch(
            [pa.array(["b", None, "a", "c"]), pa.array([1.0, 2.0, 3.0, 4.0])],
            names=["product", "quantity"],
        ),
        {},
    )
    out = sort_rows(builder.frame(), ("product",))
    assert out["quantity"].tolist() == [3.0, 1.0, 4.0, 2.0]
    assert out.index.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_batches_equal_arrow_to_pandas_of_the_whole(seed: int) -> None:
    """Against Arrow's own conversion of the concatenated rows."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(40)]
    batches = []
    for _ in range(int(rng.integers(1, 8))):
        n = int(rng.integers(0, 50))
        values = [None if rng.random() < 0.1 else words[int(rng.integers(0, 40))] for _ in range(n)]
        q = [None if rng.random() < 0.1 else float(rng.integers(0, 1000)) for _ in range(n)]
        batches.append(
            pa.record_batch(
                [pa.array(values, pa.string()).dictionary_encode(), pa.array(q, pa.float64())],
                names=["product", "quantity"],
            )
        )
    builder = FrameBuilder({"product": pa.string(), "quantity": pa.float64()})
    for b in batches:
        builder.add(b, {})
    got = builder.frame()
    want = pd.concat(
        [b.to_pandas() for b in batches] or [pd.DataFrame({"product": [], "quantity": []})],
        ignore_index=True,
    )
    assert got["product"].astype(object).where(got["product"].notna(), None).tolist() == (
        want["product"].astype(object).where(want["product"].notna(), None).tolist()
    )
    np.testing.assert_array_equal(got["quantity"].to_numpy(), want["quantity"].to_numpy(float))


@pytest.mark.parametrize("capacity", [0, 5, 150, 10_000])
def test_codes_widen_past_127_categories_and_any_capacity_gives_the_same_rows(
    capacity: int,
) -> None:
    """Codes start as int8; a later batch with more categories widens what is there."""
    first = [f"a{i:03d}" for i in range(100)]
    second = [f"b{i:03d}" for i in range(200)] + first[:10]
    builder = FrameBuilder({"product": pa.string(), "quantity": pa.float64()}, capacity=capacity)
    for values in (first, second, first[::-1]):
        builder.add(
            pa.record_batch(
                [pa.array(values).dictionary_encode(), pa.array([1.0] * len(values))],
                names=["product", "quantity"],
            ),
            {},
        )
    df = builder.frame()
    assert df["product"].tolist() == first + second + first[::-1]
    assert df["product"].cat.codes.dtype == np.int16
    assert len(df["product"].cat.categories) == 300
    assert df["quantity"].sum() == len(df) == 410
