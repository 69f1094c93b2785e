"""Properties of the archive and the grain rule, generated rather than listed (issues 18, 19, 22).

Each class of failure and the property that proves its fix:

- **Grain and coverage pairs** (issue 18, "Archive" and "Grains in analysis"):
  for every pair of grains of a provider, each covering all, a prefix, a
  suffix or a stretch of a month, archived in either order, ``history()``,
  ``sql()`` and every analysis entry point count each day once: the total is
  what the rule's reference model says (the grain covering most of the month,
  plus any grain whose time does not overlap it), never more than the truth,
  and the whole truth whenever one grain covers the month. The rule lives in
  one place, ``usage_analysis.grains.choose_grains``.
- **One snapshot, one order** (issue 22, item 2): ``history()`` and ``sql()``
  over random reports give the same rows with the same categories in the same
  (sorted) order.
- **The same file imported without, then with, an account** (issue 18, minor)
  is counted once, whatever the order.
- **Round trip** (issue 19, item 3): ``read_report`` -> ``archive_file`` ->
  ``history()`` gives the same frame, reader-added columns included, for every
  sample file and the hand-written reader fixtures; a group-by or monitor
  filter naming a column the frame lacks is an ``InvalidParameter`` naming it
  (``usage_analysis.schema.require_columns``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usage_analysis import archive
from usage_analysis.analysis import usage_by
from usage_analysis.grains import GRAINS, one_grain_per_period
from usage_analysis.schema import coerce_unified

MONTH = pd.Timestamp("2026-10-01", tz="UTC")
DAYS = 31
DAY = pd.Timedelta(days=1)


def truth(day: int) -> float:
    """The usage of day ``day`` (0-based) of October 2026: distinct per day."""
    return float(10 * (day + 1) + 1)


# --- one report of a grain, covering some days of the month --------------------------


def _row(provider: str, grain: str, start: pd.Timestamp, end: pd.Timestamp, q: float) -> dict:
    row: dict[str, object] = {
        "provider": provider,
        "account_id": "acct",
        "period_start": start,
        "period_end": end,
        "quantity": q,
        "unit": "units",
        "billable_quantity": q,
        "billable_unit": "units",
        "meter_id": "m1",
        "meter": "Meter 1",
        "resource_id": "r1",
        "category": "device",
    }
    if provider == "particle" and grain == "products":
        row.update(category="product", resource_id="prod-1")
    if provider == "informatica":
        row["billable_unit"] = "IPU"
        if grain == "SUMMARY":
            row["resource_id"] = None
        elif grain == "PROJECT_FOLDER":
            row.update(meter_id=None, meter=None, resource_id="proj/folder")
    return row


def report(provider: str, grain: str, days: Sequence[int]) -> pd.DataFrame:
    """A report of ``grain`` whose rows cover exactly ``days`` (each with its truth)."""
    rows = []
    if grain == "month":  # a month row is the whole month
        rows.append(_row(provider, grain, MONTH, MONTH + DAYS * DAY, sum(map(truth, range(DAYS)))))
    elif grain == "summarized":  # one row over a contiguous stretch
        first, last = min(days), max(days)
        total = sum(truth(d) for d in range(first, last + 1))
        rows.append(_row(provider, grain, MONTH + first * DAY, MONTH + (last + 1) * DAY, total))
    elif grain == "hour":
        for d in days:
            for h in range(24):
                start = MONTH + d * DAY + pd.Timedelta(hours=h)
                rows.append(
                    _row(provider, grain, start, start + pd.Timedelta(hours=1), truth(d) / 24)
                )
    else:
        for d in days:
            rows.append(_row(provider, grain, MONTH + d * DAY, MONTH + (d + 1) * DAY, truth(d)))
    frame = coerce_unified(pd.DataFrame(rows))
    frame["grain"] = grain
    return frame


def covered(grain: str, days: Sequence[int]) -> set[int]:
    if grain == "month":
        return set(range(DAYS))
    if grain == "summarized":
        return set(range(min(days), max(days) + 1))
    return set(days)


def expected(provider: str, reports: dict[str, set[int]]) -> float:
    """The reference model of the rule on day sets: most coverage first (ties: the
    provider's preference), then every grain not overlapping what is shown."""
    order = GRAINS[provider]
    ranked = sorted(reports, key=lambda g: (-len(reports[g]), order.index(g)))
    shown: set[int] = set()
    for i, g in enumerate(ranked):
        if i == 0 or not (reports[g] & shown):
            shown |= reports[g]
    return sum(truth(d) for d in shown)


# Coverage shapes: the whole month, its first or last k days, a stretch inside it.
def coverage(draw: st.DrawFn, grain: str) -> list[int]:
    if grain == "month":
        return list(range(DAYS))
    shape = draw(st.sampled_from(["full", "prefix", "suffix", "stretch"]))
    k = draw(st.integers(2, DAYS - 1))
    if shape == "full":
        return list(range(DAYS))
    if shape == "prefix":
        return list(range(k))
    if shape == "suffix":
        return list(range(DAYS - k, DAYS))
    first = draw(st.integers(0, DAYS - k))
    return list(range(first, first + k))


PAIRS = [(p, a, b) for p, grains in GRAINS.items() for a, b in itertools.combinations(grains, 2)]
# Job-level rows are events in another unit (no IPU): they are never a month's total.
PAIRS = [t for t in PAIRS if "JOB_LEVEL" not in t]


@st.composite
def pair_case(draw: st.DrawFn) -> tuple[str, dict[str, list[int]], bool]:
    provider, a, b = draw(st.sampled_from(PAIRS))
    return provider, {a: coverage(draw, a), b: coverage(draw, b)}, draw(st.booleans())


def _total(frame: pd.DataFrame) -> float:
    return float(frame["quantity"].sum())


@pytest.mark.slow
@settings(max_examples=30, deadline=None)
@given(pair_case())
def test_the_grain_rule_on_frames_counts_every_day_once(
    case: tuple[str, dict[str, list[int]], bool],
) -> None:
    provider, days, flip = case
    parts = [report(provider, g, d) for g, d in days.items()]
    frame = pd.concat(parts[::-1] if flip else parts, ignore_index=True)
    want = expected(provider, {g: covered(g, d) for g, d in days.items()})
    kept = one_grain_per_period(frame)
    assert _total(kept) == pytest.approx(want)
    assert _total(kept) <= sum(map(truth, range(DAYS))) + 1e-6  # never counted twice
    if any(covered(g, d) == set(range(DAYS)) for g, d in days.items()):
        assert _total(kept) == pytest.approx(sum(map(truth, range(DAYS))))
    # Every analysis entry point applies the same rule (check_frame).
    by = usage_by(frame.drop(columns=["grain"]).assign(grain=frame["grain"]), by=None)
    assert float(by["quantity"].sum()) == pytest.approx(want)


@pytest.mark.slow
def test_every_pair_of_grains_with_full_and_partial_coverage_exhaustively() -> None:
    for provider, a, b in PAIRS:
        for da, db in itertools.product(
            [list(range(DAYS)), list(range(15)), list(range(15, DAYS))], repeat=2
        ):
            days = {a: da if a != "month" else list(range(DAYS)), b: db}
            if b == "month":
                days[b] = list(range(DAYS))
            frame = pd.concat([report(provider, g, d) for g, d in days.items()], ignore_index=True)
            want = expected(provider, {g: covered(g, d) for g, d in days.items()})
            assert _total(one_grain_per_period(frame)) == pytest.approx(want), (provider, days)


@pytest.mark.slow
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(case=pair_case())
def test_the_archive_applies_the_same_rule_in_history_and_sql(
    tmp_path_factory: pytest.TempPathFactory, case: tuple[str, dict[str, list[int]], bool]
) -> None:
    provider, days, flip = case
    root = tmp_path_factory.mktemp("archive")
    items = list(days.items())
    for g, d in items[::-1] if flip else items:
        archive.archive_frame(report(provider, g, d), grain=g, archive=root)
    want = expected(provider, {g: covered(g, d) for g, d in days.items()})
    got = archive.sql("select sum(quantity) as q from usage", archive=root)["q"].iloc[0]
    assert got == pytest.approx(want)
    assert _total(archive.history(archive=root)) == pytest.approx(want)


@pytest.mark.slow
def test_here_days_1_to_15_then_a_month_report_shows_the_month(tmp_path: Path) -> None:
    """The issue's case: the month-level report covers October; the 15 days do not."""
    root = tmp_path / "archive"
    archive.archive_frame(report("here", "day", range(15)), grain="day", archive=root)
    archive.archive_frame(report("here", "month", range(DAYS)), grain="month", archive=root)
    whole = sum(map(truth, range(DAYS)))
    assert archive.sql("select sum(quantity) as q from usage", archive=root)["q"][0] == whole
    assert _total(archive.history(archive=root)) == whole
    assert set(archive.history(archive=root)["grain"]) == {"month"}
    # The rest of the days arrive: days cover the month as well, and are finer.
    archive.archive_frame(report("here", "day", range(DAYS)), grain="day", archive=root)
    assert set(archive.history(archive=root)["grain"]) == {"day"}
    assert _total(archive.history(archive=root)) == whole


@pytest.mark.slow
def test_summary_and_asset_exports_of_the_same_days_count_once_in_every_ipu_function() -> None:
    from usage_analysis import read_report
    from usage_analysis.analysis import costs, ipu_status, ipu_usage

    samples = Path(__file__).resolve().parents[1] / "sample_data"
    summary = read_report(samples / "informatica_summary_2026-10.zip", unified=True)
    asset = read_report(samples / "informatica_asset_2026-10.zip", unified=True)
    both = pd.concat([summary, asset], ignore_index=True)
    alone = float(summary["billable_quantity"].sum())
    assert float(ipu_usage(both, by=None)["billable_quantity"].sum()) == pytest.approx(alone)
    org = str(summary["account_id"].iloc[0])
    status = ipu_status(both[both["account_id"] == org], entitlement=1e9, account=org)
    solo = ipu_status(summary[summary["account_id"] == org], entitlement=1e9, account=org)
    assert status.used == pytest.approx(solo.used)
    assert costs(both).spend["cost"].sum() == pytest.approx(costs(summary).spend["cost"].sum())


# --- one snapshot, one order -----------------------------------------------------------


@pytest.mark.slow
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    devices=st.lists(
        st.text(alphabet="abcXYZ-é 1", min_size=1, max_size=6), min_size=1, max_size=6
    ),
    seed=st.integers(0, 2**16),
)
def test_history_and_sql_give_the_same_rows_and_categories_in_sorted_order(
    tmp_path_factory: pytest.TempPathFactory, devices: list[str], seed: int
) -> None:
    root = tmp_path_factory.mktemp("archive")
    rng = np.random.default_rng(seed)
    days = pd.date_range("2026-01-01", periods=int(rng.integers(1, 40)), freq="D", tz="UTC")
    rows = [
        {
            "provider": "particle",
            "account_id": "acct",
            "resource_id": dev,
            "product": f"P{rng.integers(0, 3)}",
            "category": "device",
            "period_start": d,
            "period_end": d + DAY,
            "quantity": float(rng.integers(0, 100)),
            "unit": "data operations",
        }
        for d in days
        for dev in sorted(set(devices))
    ]
    frame = coerce_unified(pd.DataFrame(rows).sample(frac=1.0, random_state=seed))
    archive.archive_frame(frame, archive=root)
    hist = archive.history(archive=root, sort=True)
    got = archive.sql(
        "select * from usage order by period_start, provider, account_id, resource_id, meter_id",
        archive=root,
    )
    for name in ("resource_id", "product", "provider", "account_id", "grain", "unit"):
        cats = list(hist[name].cat.categories)
        assert cats == sorted(cats)
        assert list(got[name].cat.categories) == cats, name
        assert hist[name].astype(object).tolist() == got[name].astype(object).tolist()
    assert hist["quantity"].tolist() == got["quantity"].tolist()


# --- the same file, without then with an account ------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("account_first", [False, True])
def test_a_file_imported_without_then_with_an_account_counts_once(
    tmp_path: Path, account_first: bool
) -> None:
    samples = Path(__file__).resolve().parents[1] / "sample_data"
    path = samples / "particle_devices_excel.csv"
    root = tmp_path / "archive"
    for account in ("acme", None) if account_first else (None, "acme"):
        archive.archive_file(path, account=account, archive=root)
    from usage_analysis import read_report

    once = float(read_report(path, unified=True)["quantity"].sum())
    assert _total(archive.history(archive=root)) == pytest.approx(once)
    got = archive.sql("select sum(quantity) as q from usage_all", archive=root)["q"][0]
    assert got == pytest.approx(once)


# --- round trip: every column the readers produce ----------------------------------

SAMPLES = sorted((Path(__file__).resolve().parents[1] / "sample_data").iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_read_archive_history_round_trip_keeps_every_column(tmp_path: Path, path: Path) -> None:
    from usage_analysis import read_report

    # A summarized HERE report has no dates of its own: the request's period says them.
    options = {"period": ("2026-10-01", "2026-11-01")} if "summarized" in path.name else {}
    read = read_report(path, unified=True, **options)
    root = tmp_path / "archive"
    account = "acct" if read["account_id"].isna().any() else None
    archive.archive_file(path, account=account, archive=root, **options)
    back = archive.history(archive=root, sort=True)
    if read["account_id"].isna().any():
        read["account_id"] = read["account_id"].astype("string").fillna("acct").astype("category")
    columns = list(read.columns)
    assert [
        c for c in back.columns if c not in ("grain", "report_id", "source", "archived_at")
    ] == columns
    order = ["period_start", "provider", "account_id", "resource_id", "meter_id"]
    want = read.sort_values(order, kind="stable", na_position="last", ignore_index=True)
    got = back[columns]
    for name in columns:
        a, b = want[name], got[name]
        if isinstance(a.dtype, pd.CategoricalDtype) or a.dtype == object:
            assert sorted(map(str, a.astype(object).where(a.notna(), None).tolist())) == sorted(
                map(str, b.astype(object).where(b.notna(), None).tolist())
            ), name
        else:
            assert str(a.dtype) == str(b.dtype), name
    assert float(got["quantity"].sum()) == pytest.approx(float(want["quantity"].sum()))
    assert len(got) == len(want)


def test_a_tag_monitor_on_the_archive_sees_the_tagged_rows_and_a_missing_column_is_named(
    tmp_path: Path,
) -> None:
    from usage_analysis.monitors.evaluate import evaluate
    from usage_analysis.monitors.spec import Monitor

    samples = Path(__file__).resolve().parents[1] / "sample_data"
    root = tmp_path / "archive"
    archive.archive_file(samples / "here_report_2026-10.csv", archive=root)
    rows = archive.history(archive=root)
    tagged = rows[rows["billing_tag"] == "team-logistics"]
    assert len(tagged) > 0
    watch = Monitor(
        name="logistics",
        kind="budget",
        provider="here",
        tag="team-logistics",
        allowance=1e12,
        unit="Transactions",
    )
    (state,) = evaluate([watch], rows, now="2026-10-20")
    assert state.status != "error", state.error
    # The same monitor on a frame without the column: refused naming it, never "no data"
    # (a misconfigured monitor fails before anything is evaluated: monitors.spec.check_columns).
    from usage_analysis.errors import InvalidParameter

    with pytest.raises(
        InvalidParameter, match=r"'billing_tag'.*logistics|logistics.*'billing_tag'"
    ):
        evaluate([watch], rows.drop(columns=["billing_tag"]), now="2026-10-20")


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(
    name=st.text(alphabet="abcdefgh_", min_size=1, max_size=10).filter(
        lambda n: n not in ("product", "meter", "unit", "category")
    )
)
def test_a_group_by_naming_a_missing_column_is_refused_by_name(name: str) -> None:
    from usage_analysis.errors import InvalidParameter

    frame = report("particle", "devices", range(3)).drop(columns=["grain"])
    if name in frame.columns:
        return
    with pytest.raises(InvalidParameter, match=name):
        usage_by(frame, by=name)
    with pytest.raises(InvalidParameter, match=name):
        usage_by(frame, by=["product", name])


def _reader_fixtures() -> list[tuple[str, str]]:
    """The hand-written reader fixtures of tests/test_readers_real_files.py."""
    import test_readers_real_files as fx

    return [
        ("informatica_documented.csv", fx.INFORMATICA_DOCUMENTED),
        ("particle_two_devices.csv", fx.PARTICLE),
        ("particle_european.csv", fx.EUROPEAN),
        ("here_zone.csv", fx._here(["2026-10-01T00:00:00Z"], ["12.5"]).decode()),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n, _ in _reader_fixtures()])
def test_reader_fixtures_round_trip_through_the_archive(tmp_path: Path, name: str) -> None:
    from usage_analysis import read_report

    path = tmp_path / name
    path.write_text(dict(_reader_fixtures())[name], encoding="utf-8")
    read = read_report(path, unified=True)
    root = tmp_path / "archive"
    account = "acct" if read["account_id"].isna().any() else None
    archive.archive_file(path, account=account, archive=root)
    back = archive.history(archive=root)
    columns = [c for c in back.columns if c not in ("grain", "report_id", "source", "archived_at")]
    # Every column read comes back; a HERE table always has HERE's added columns
    # (empty where the file had none).
    assert [c for c in columns if c in read.columns] == list(read.columns)
    assert all(back[c].isna().all() for c in columns if c not in read.columns)
    assert len(back) == len(read)
    assert float(back["quantity"].sum()) == pytest.approx(float(read["quantity"].sum()))
    for extra in list(read.columns)[15:]:
        assert sorted(map(str, back[extra].dropna())) == sorted(map(str, read[extra].dropna()))
