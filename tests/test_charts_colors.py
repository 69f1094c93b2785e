"""Charts: one colour per product, app or meter everywhere; a plain concat is charted, not refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from usage_analysis import charts
from usage_analysis.analysis import ParticlePlan
from usage_analysis.charts._style import COLOR_MAP, PALETTE, ColorMap
from usage_analysis.defaults import OTHER_LABEL
from usage_analysis.errors import SchemaError
from usage_analysis.readers import read_report
from usage_analysis.schema import coerce_unified

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"


@pytest.fixture(scope="module")
def particle() -> pd.DataFrame:
    return read_report(SAMPLES / "particle_devices_2026-09-01_2026-11-20.csv", unified=True)


@pytest.fixture(scope="module")
def here() -> pd.DataFrame:
    return read_report(SAMPLES / "here_report_2026-10.csv.gz", unified=True)


@pytest.fixture(scope="module")
def informatica() -> pd.DataFrame:
    return read_report(SAMPLES / "informatica_summary_2026-10.zip", unified=True)


def trace_colors(fig: object) -> dict[str, str]:
    return {t.name: t.marker.color for t in fig.data if t.showlegend is not False}  # type: ignore[attr-defined]


def tree_colors(fig: object) -> dict[str, str]:
    trace = fig.data[0]  # type: ignore[attr-defined]
    return dict(zip(trace.labels, trace.marker.colors, strict=True))


@pytest.mark.slow
def test_a_product_has_one_colour_whatever_else_the_chart_shows(
    particle: pd.DataFrame, here: pd.DataFrame, informatica: pd.DataFrame
) -> None:
    alone = trace_colors(charts.usage_over_time(particle, by="product"))
    mixed = coerce_unified(pd.concat([here, particle, informatica], ignore_index=True))
    together = trace_colors(charts.usage_over_time(mixed, by="product", top=20))
    fewer = trace_colors(charts.usage_over_time(particle, by="product", top=2))
    assert "Fleet Gateway" in alone
    assert alone["Fleet Gateway"] == together["Fleet Gateway"] == fewer["Fleet Gateway"]
    # The treemap's branch of a product takes the same colour.
    tree = tree_colors(charts.breakdown(particle, path=("product", "resource_id")))
    assert tree["Fleet Gateway"] == alone["Fleet Gateway"]
    # The colours of one chart are distinct.
    assert len(set(together.values())) == len(together)


def test_the_colour_map_gives_distinct_colours_and_is_order_free() -> None:
    labels = [f"product {k}" for k in range(25)]
    first = ColorMap().assign(labels)
    again = ColorMap().assign(list(reversed(labels)))
    assert first == again
    assert len(set(first.values())) == 25
    assert set(first.values()) <= set(PALETTE)
    assert ColorMap().assign([OTHER_LABEL, "a"])[OTHER_LABEL] == charts.OTHER_COLOR


def test_a_pinned_colour_wins_and_others_move_out_of_its_way() -> None:
    cmap = ColorMap()
    taken = cmap.preferred("b")
    cmap.pin({"a": taken})
    out = cmap.assign(["b", "a"])
    assert out["a"] == taken
    assert out["b"] != taken


def test_the_shared_colour_map_is_what_the_charts_use(particle: pd.DataFrame) -> None:
    fig = charts.usage_over_time(particle, by="product", top=3)
    names = [n for n in trace_colors(fig) if n != OTHER_LABEL]
    assert trace_colors(fig) == {
        **COLOR_MAP.assign(names),
        **{n: charts.OTHER_COLOR for n in trace_colors(fig) if n == OTHER_LABEL},
    }


@pytest.mark.slow
def test_charts_given_a_plain_concat_of_unified_frames_coerce_it(
    particle: pd.DataFrame, here: pd.DataFrame
) -> None:
    plain = pd.concat([particle, here], ignore_index=True)
    # Categories differ between the frames: pandas falls back to plain string columns.
    assert not isinstance(plain["product"].dtype, pd.CategoricalDtype)
    coerced = coerce_unified(plain)
    for draw in (
        lambda f: charts.usage_over_time(f, by="product"),
        lambda f: charts.top_bar(f, by="resource_id"),
        lambda f: charts.breakdown(f, path=("product", "resource_id")),
        lambda f: charts.period_over_period(f, by="product"),
        lambda f: charts.heatmap(f.loc[f["provider"].astype(str) == "particle"]),
    ):
        got, want = draw(plain), draw(coerced)
        assert [t.name for t in got.data] == [t.name for t in want.data]
        for a, b in zip(got.data, want.data, strict=True):
            for attr in ("x", "y", "values", "z"):
                if getattr(a, attr, None) is not None and attr in a:
                    va = getattr(a, attr)
                    vb = getattr(b, attr)
                    if isinstance(va, np.ndarray) and va.dtype.kind == "f":
                        np.testing.assert_allclose(va, vb)
                    else:
                        assert list(np.asarray(va).ravel()) == list(np.asarray(vb).ravel())
    plan = ParticlePlan.basic(blocks=2)
    burn = charts.cumulative_vs_allowance(plain, plan=plan)
    np.testing.assert_allclose(
        burn.data[0].y, charts.cumulative_vs_allowance(particle, plan=plan).data[0].y
    )


def test_a_frame_that_cannot_be_made_unified_is_still_refused() -> None:
    with pytest.raises(SchemaError, match="missing columns"):
        charts.usage_over_time(pd.DataFrame({"quantity": [1.0], "unit": ["x"]}))


def test_color_map_gives_a_chart_drawn_by_hand_the_package_colours() -> None:
    samples = Path(__file__).resolve().parent.parent / "sample_data"
    here = read_report(samples / "here_report_2026-10.csv.gz", unified=True)
    transactions = here[here["billable_unit"] == "Transactions"]
    fig = charts.usage_over_time(transactions, by="meter", quantity="billable_quantity", top=20)
    drawn = {t.name: t.marker.color for t in fig.data if t.name}
    mapped = charts.color_map(transactions["meter"])
    assert drawn and all(mapped[name] == color for name, color in drawn.items())
