"""``usage-analysis allocate``: the finance CSV, the statements, from report files or the archive."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from test_allocation import HERE_CSV, INFORMATICA_CSV, PARTICLE_CSV, RULES_TOML
from test_monitors import HOOK_SECRET, Receiver

import usage_analysis as ua
from usage_analysis.analysis.allocation import AllocationWarning
from usage_analysis.charts.statement import statement, statement_html
from usage_analysis.cli import main

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"
BOOK_TOML = """\
[particle]
currency = "USD"
block_price = 299.0
blocks = 1
[informatica]
currency = "EUR"
ipu_price = 2.0
[here]
currency = "USD"
[[here.rates]]
feature = "Routing - Car"
price = 1.0
per = 1000
free = 0
"""


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, text in (
        ("here.csv", HERE_CSV),
        ("particle.csv", PARTICLE_CSV),
        ("informatica.csv", INFORMATICA_CSV),
        ("rules.toml", RULES_TOML),
        ("prices.toml", BOOK_TOML),
    ):
        out[name] = tmp_path / name
        out[name].write_text(text, encoding="utf-8")
    return out


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def _args(files: dict[str, Path]) -> list[str]:
    return [
        "allocate",
        "--rules",
        str(files["rules.toml"]),
        "--month",
        "2026-10",
        "--prices",
        str(files["prices.toml"]),
        *(
            a
            for f in ("here.csv", "particle.csv", "informatica.csv")
            for a in ("--report", str(files[f]))
        ),
    ]


@pytest.mark.slow
def test_csv_from_three_reports_has_the_hand_computed_team_costs(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.warns(AllocationWarning):
        assert main(_args(files)) == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out), keep_default_na=False)
    cost = frame.groupby(["team", "currency"])["cost"].sum().round(2).to_dict()
    # As computed by hand in test_allocation.test_three_reports_split_per_team_as_computed_by_hand.
    assert cost[("logistics", "USD")] == 12.50
    assert cost[("web", "USD")] == 5.00 + 39.87
    assert cost[("fleet", "USD")] == 139.53
    assert cost[("data", "EUR")] == 29.50
    assert cost[("unallocated", "USD")] == 119.60 + 1.23
    assert cost[("unallocated", "EUR")] == 6.67
    assert frame.groupby("currency")["cost"].sum().round(2).to_dict() == {
        "EUR": 36.17,
        "USD": 317.73,
    }


@pytest.mark.slow
def test_archive_gives_the_same_csv_as_the_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    particle = SAMPLES / "particle_devices_2026-09-01_2026-11-20.csv"
    infa = SAMPLES / "informatica_project_folder_2026-10.zip"
    archive = tmp_path / "archive"
    for f in (particle, infa):
        ua.archive_file(f, archive=archive)
    rules = tmp_path / "rules.toml"
    rules.write_text(
        "[[team]]\nname = 'fleet'\nmatch = { provider = 'particle', product = ['Cold-chain*', 'Fleet Gateway'] }\n"
        "[[team]]\nname = 'finance'\nmatch = { provider = 'informatica', project = 'Finance Mart' }\n"
        "[[shared]]\nmatch = { provider = 'particle', product = 'Smart Water Meter' }\nsplit = 'even'\n",
        encoding="utf-8",
    )
    base = ["allocate", "--rules", str(rules), "--month", "2026-10"]
    assert main([*base, "--archive", str(archive)]) == 0
    from_archive = pd.read_csv(io.StringIO(capsys.readouterr().out), keep_default_na=False)
    assert main([*base, "--report", str(particle), "--report", str(infa)]) == 0
    from_files = pd.read_csv(io.StringIO(capsys.readouterr().out), keep_default_na=False)
    cols = ["team", "provider", "currency", "cost"]
    pd.testing.assert_frame_equal(from_archive[cols], from_files[cols])
    bill = ua.costs(
        ua.concat([ua.read_report(particle, unified=True), ua.read_report(infa, unified=True)]),
        forecast=False,
    ).total(month="2026-10")
    assert round(from_archive["cost"].sum(), 2) == round(bill[0], 2)


@pytest.mark.slow
def test_rules_on_here_tags_and_projects_work_from_the_archive(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "archive"
    for name in ("here.csv", "particle.csv", "informatica.csv"):
        ua.archive_file(files[name], archive=archive)
    with pytest.warns(AllocationWarning):
        assert main(_args(files)) == 0
    from_files = pd.read_csv(io.StringIO(capsys.readouterr().out), keep_default_na=False)
    args = [a for a in _args(files) if a != "--report" and not a.endswith(".csv")]
    with pytest.warns(AllocationWarning):
        assert main([*args, "--archive", str(archive)]) == 0
    from_archive = pd.read_csv(io.StringIO(capsys.readouterr().out), keep_default_na=False)
    cost = from_archive.groupby(["team", "currency"])["cost"].sum().round(2).to_dict()
    # The HERE teams match on billing tag and project: the archive must keep both.
    assert cost[("logistics", "USD")] == 12.50
    assert cost[("web", "USD")] == round(5.00 + 39.87, 2)
    cols = ["team", "provider", "currency", "cost"]
    pd.testing.assert_frame_equal(from_archive[cols], from_files[cols])


@pytest.mark.slow
def test_html_statements_are_written_and_sent_once_per_team(
    files: dict[str, Path], receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "statements"
    with pytest.warns(AllocationWarning):
        code = main(
            [*_args(files), "--format", "html", "--out", str(out), "--notify", receiver.url]
        )
    assert code == 0
    pages = sorted(p.name for p in out.glob("*.html"))
    assert pages == sorted(
        f"{t}-2026-10.html" for t in ("logistics", "web", "fleet", "data", "unallocated")
    )
    web = (out / "web-2026-10.html").read_text(encoding="utf-8")
    assert "44.87 USD" in web and "shared #1" in web and "<script" not in web
    assert len(receiver.messages) == 5
    bodies = {m["title"]: m["message"] for m in receiver.messages}
    assert "Total 44.87 USD" in bodies["Chargeback web 2026-10"]
    text = capsys.readouterr()
    assert HOOK_SECRET not in text.out + text.err
    assert HOOK_SECRET not in json.dumps([m["message"] for m in receiver.messages])


def test_statement_compares_with_last_month_and_lists_top_resources() -> None:
    particle = ua.read_report(SAMPLES / "particle_devices_2026-09-01_2026-11-20.csv", unified=True)
    rules = {"team": [{"name": "fleet", "match": {"product": "Fleet Gateway"}}]}
    a = ua.allocate(particle, rules)
    s = statement(a, "fleet", month="2026-10")
    sep = a.table[
        (a.table["team"] == "fleet") & (a.table["month"] == pd.Timestamp("2026-09-01", tz="UTC"))
    ]
    assert s.summary["last_month"].sum() == pytest.approx(sep["cost"].sum())
    assert 0 < len(s.resources) <= 10
    assert s.resources["cost"].is_monotonic_decreasing
    page = statement_html(s)
    assert "2026-09" in page and "Top resources" in page
