"""The Polars example of docs/archive.md reads the Delta table as written and agrees with sql()."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from usage_analysis import archive
from usage_analysis.schema import coerce_unified

DOC = Path(__file__).resolve().parent.parent / "docs" / "archive.md"
MARKER = "<!-- tested by tests/test_archive_polars.py -->"


def doc_example() -> str:
    """The first python code block after the marker in docs/archive.md."""
    text = DOC.read_text(encoding="utf-8")
    after = text[text.index(MARKER) :]
    match = re.search(r"```python\n(.*?)```", after, re.S)
    assert match, "docs/archive.md lost its Polars example"
    return match.group(1)


@pytest.mark.slow
def test_polars_reads_the_delta_table_with_partition_pruning(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    rows = [
        {
            "provider": provider,
            "account_id": "acme",
            "product": product,
            "resource_id": device,
            "meter_id": "data_operations",
            "category": "device",
            "period_start": day,
            "period_end": day + pd.Timedelta(days=1),
            "quantity": 2.0 if provider == "particle" else 7.0,
            "unit": "data operations",
        }
        for provider in ("particle", "here")
        for day in pd.date_range("2025-12-30", "2026-02-02", freq="D", tz="UTC")
        for device, product in (("dev-a", "Trackers"), ("dev-b", "Gateways"))
    ]
    archive.archive_frame(coerce_unified(pd.DataFrame(rows)), archive=root)
    # The same days again at the products grain: the example must not add them.
    products = coerce_unified(pd.DataFrame(rows[: len(rows) // 2]).assign(category="product"))
    archive.archive_frame(products, archive=root)

    namespace: dict[str, object] = {"ARCHIVE": str(root)}
    exec(compile(doc_example(), str(DOC), "exec"), namespace)
    monthly = namespace["monthly"]

    expected = archive.sql(
        "select month, product, unit, sum(quantity) as quantity from usage "
        "where provider = 'particle' and month >= '2026-01' group by all order by all",
        archive=root,
    )
    got = monthly.to_pandas()  # type: ignore[attr-defined]
    assert got.to_dict("records") == expected.astype(
        {"month": str, "product": str, "unit": str}
    ).to_dict("records")
    assert set(got["month"]) == {"2026-01", "2026-02"}
