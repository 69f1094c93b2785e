"""Chart labels: names looked up once for several panels label each panel as alone."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from usage_analysis.charts._common import _label_names, _labels
from usage_analysis.schema import coerce_unified


def devices(names: list[str | None]) -> pd.DataFrame:
    """One Particle row a device: ``dev-<i>`` named ``names[i]`` (None: no name)."""
    n = len(names)
    start = pd.Timestamp("2026-10-01", tz="UTC")
    df = pd.DataFrame(
        {
            "provider": ["particle"] * n,
            "account_id": ["acme"] * n,
            "resource_id": [f"dev-{i:03d}" for i in range(n)],
            "resource_name": names,
            "product": ["p1"] * n,
            "period_start": [start] * n,
            "period_end": [start + pd.Timedelta(days=1)] * n,
            "quantity": [1.0] * n,
            "unit": ["data operations"] * n,
        }
    )
    df["billable_quantity"] = df["quantity"]
    df["billable_unit"] = df["unit"]
    return coerce_unified(df)


@settings(max_examples=50, deadline=None)
@given(
    names=st.lists(st.sampled_from(["a", "b", "Tracker", None]), min_size=1, max_size=12),
    data=st.data(),
)
def test_names_looked_up_for_more_values_give_each_panel_its_own_labels(
    names: list[str | None], data: st.DataObject
) -> None:
    df = devices(names)
    ids = df["resource_id"].astype(str).tolist()
    panels = data.draw(
        st.lists(st.lists(st.sampled_from([*ids, "other", None]), max_size=6), max_size=4)
    )
    everything = [v for panel in panels for v in panel]
    known = _label_names(df, "resource_id", everything)
    for panel in panels:
        alone = _labels(df, "resource_id", panel)
        assert _labels(df, "resource_id", panel, names=known) == alone
        # Named devices show their name; equal names are told apart within the panel.
        shown = [alone[v] for v in dict.fromkeys(panel) if v in ids]
        assert len(set(shown)) == len(shown)
