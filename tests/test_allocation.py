"""Who pays: allocation rules and the month's bill split between teams, known answers by hand."""

from __future__ import annotations

import io
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import usage_analysis as ua
from usage_analysis.analysis.allocation import (
    AllocationWarning,
    allocate,
    load_rules,
    split_cents,
    team_frame,
)
from usage_analysis.errors import InvalidParameter

# --- three hand-written reports --------------------------------------------------

HERE_CSV = """\
"Date and time (usageDateTime)","Org ID (realmId)","Category (category)","App ID (appId)","App Name (appName)","App Hrn (appHrn)","Item (featureId)","Subscription ID (billingSubscriptionId)","Item description (name)","Unit (valueDriver)","Project ID (projectHrn)","Billing tag (billingTag)","Usage Amount (billableValue)"
"2026-10-01T00:00:00","org1","Location Services","app1","One","hrn:here:account::org1:app/app1","hrn:here:feature::routing-car","sub1","Routing - Car","Transactions","hrn:here:authorization::org1:project/storefront","team-logistics","6000.0000"
"2026-10-02T00:00:00","org1","Location Services","app1","One","hrn:here:account::org1:app/app1","hrn:here:feature::routing-car","sub1","Routing - Car","Transactions","hrn:here:authorization::org1:project/storefront","team-logistics","4000.0000"
"2026-10-01T00:00:00","org1","Location Services","app2","Two","hrn:here:account::org1:app/app2","hrn:here:feature::routing-car","sub1","Routing - Car","Transactions","hrn:here:authorization::org1:project/storefront","","5000.0000"
"2026-10-01T00:00:00","org1","Location Services","app3","Three","hrn:here:account::org1:app/app3","hrn:here:feature::routing-car","sub1","Routing - Car","Transactions","","team-logistics","2500.0000"
"2026-10-01T00:00:00","org1","Location Services","app4","Four","hrn:here:account::org1:app/app4","hrn:here:feature::routing-car","sub1","Routing - Car","Transactions","","","1234.0000"
"""

_D = ["aaaaaaaaaaaaaaaaaaaaaa01", "aaaaaaaaaaaaaaaaaaaaaa02", "aaaaaaaaaaaaaaaaaaaaaa03"]
_D += ["aaaaaaaaaaaaaaaaaaaaaa04", "aaaaaaaaaaaaaaaaaaaaaa05"]
PARTICLE_CSV = f"""\
Date,Device ID,Device Name,Product ID,Product Name,Publishes,Subscribes,Function Calls,Variable Reads,Total Data Operations
2026-10-01,{_D[0]},t1,101,Trackers,100,0,0,0,100
2026-10-01,{_D[1]},t2,101,Trackers,200,0,0,0,200
2026-10-01,{_D[2]},g1,102,Gateways,100,0,0,0,100
2026-10-01,{_D[3]},l1,103,Lab,200,0,0,0,200
2026-10-01,{_D[4]},s1,104,Spare,400,0,0,0,400
"""

INFORMATICA_CSV = """\
Date,Project,Folder,Org ID,Org Type,Consumption (IPUs)
2026-10-01,Analytics,Ingest,orgA,Production,10.5
2026-10-02,Analytics,Publish,orgA,Production,4.25
2026-10-01,Marketing,Ingest,orgA,Production,3.3333
"""

BOOK: dict[str, Any] = {
    "particle": {"currency": "USD", "block_price": 299.0, "blocks": 1},
    "informatica": {"currency": "EUR", "ipu_price": 2.0},
    "here": {
        "currency": "USD",
        "rates": [{"feature": "Routing - Car", "price": 1.0, "per": 1000, "free": 0}],
    },
}

RULES_TOML = """\
[[team]]
name = "logistics"
match = { provider = "here", tag = "team-logistics" }
[[team]]
name = "web"
match = { provider = "here", project = "storefront" }     # a project's name or its HRN
[[team]]
name = "fleet"
match = { provider = "particle", product = ["Trackers", "Gateways"] }
[[team]]
name = "data"
match = { provider = "informatica", project = "Analytics" }
[[shared]]
match = { provider = "particle", product = "Lab" }
split = { fleet = 1, web = 2 }
"""


def _read(text: str) -> pd.DataFrame:
    return ua.to_unified(ua.read_report(io.BytesIO(text.encode())))


@pytest.fixture
def three() -> pd.DataFrame:
    return ua.concat([_read(HERE_CSV), _read(PARTICLE_CSV), _read(INFORMATICA_CSV)])


@pytest.fixture
def rules_file(tmp_path: Any) -> Any:
    path = tmp_path / "allocation.toml"
    path.write_text(RULES_TOML, encoding="utf-8")
    return path


def _cell(a: Any, team: str, provider: str, currency: str) -> float:
    t = a.table
    rows = t[(t["team"] == team) & (t["provider"] == provider) & (t["currency"] == currency)]
    return float(rows["cost"].sum())


@pytest.mark.slow
def test_three_reports_split_per_team_as_computed_by_hand(
    three: pd.DataFrame, rules_file: Any
) -> None:
    with pytest.warns(AllocationWarning, match="'logistics' and 'web'"):
        a = allocate(three, rules_file, prices=BOOK, month="2026-10")
    # HERE at US$1 per 1,000: app1 10,000 (tag and project: logistics, listed first),
    # app2 5,000 (project storefront: web), app3 2,500 (tag: logistics), app4 1,234.
    assert _cell(a, "logistics", "here", "USD") == 12.50
    assert _cell(a, "web", "here", "USD") == 5.00
    # Particle: one block, US$299 for 1,000 ops: Trackers 300 + Gateways 100 -> 119.60;
    # Lab 200 -> 59.80 split 1:2 -> fleet 19.9333, web 39.8667; Spare 400 -> 119.60.
    # USD bill 317.734 -> 317.73: floors add to 317.72, the cent goes to the largest
    # fraction (web's .67 cents).
    assert _cell(a, "fleet", "particle", "USD") == 139.53
    assert _cell(a, "web", "particle", "USD") == 39.87
    assert _cell(a, "unallocated", "particle", "USD") == 119.60
    assert _cell(a, "unallocated", "here", "USD") == 1.23
    # Informatica at EUR 2 per IPU: Analytics 14.75 IPU -> 29.50; Marketing 3.3333 -> 6.6666,
    # bill 36.1666 -> 36.17, so unallocated rounds up to 6.67.
    assert _cell(a, "data", "informatica", "EUR") == 29.50
    assert _cell(a, "unallocated", "informatica", "EUR") == 6.67
    sums = a.table.groupby("currency")["cost"].sum().round(2).to_dict()
    assert sums == {"EUR": 36.17, "USD": 317.73}
    bill = ua.costs(three, BOOK, forecast=False).combined
    for r in bill.itertuples():
        assert math.isclose(sums[r.currency], round(r.cost, 2), abs_tol=1e-9)
    # The shared rule and its share are reported.
    lab = a.shares[a.shares["team"] == "web"].iloc[0]
    assert lab["rule"] == "shared #1" and math.isclose(lab["share"], 2 / 3)
    assert math.isclose(_shared(a, "web", "particle"), 39.87)


def _shared(a: Any, team: str, provider: str) -> float:
    t = a.table
    return float(t.loc[(t["team"] == team) & (t["provider"] == provider), "shared_cost"].sum())


@pytest.mark.slow
def test_csv_has_one_row_per_team_provider_and_currency(
    three: pd.DataFrame, rules_file: Any
) -> None:
    with pytest.warns(AllocationWarning):
        a = allocate(three, rules_file, prices=BOOK, month="2026-10")
    frame = pd.read_csv(io.StringIO(a.to_csv()))
    assert list(frame.columns[:6]) == ["team", "provider", "currency", "cost", "quantity", "unit"]
    assert not frame.duplicated(["team", "provider", "currency"]).any()
    assert set(frame.loc[frame["currency"] == "EUR", "team"]) == {"data", "unallocated"}
    fleet = frame[(frame["team"] == "fleet") & (frame["provider"] == "particle")].iloc[0]
    # 400 own ops + a third of the Lab's 200.
    assert math.isclose(fleet["quantity"], 400 + 200 / 3)
    assert fleet["unit"] == "data operations"


def _particle(products: dict[str, list[float]], *, month: str = "2026-10-01") -> pd.DataFrame:
    lines = ["Date,Device ID,Device Name,Product ID,Product Name,Total Data Operations"]
    n = 0
    for pid, (name, ops) in enumerate(products.items()):
        for op in ops:
            n += 1
            lines.append(f"{month},{n:024x},d{n},{200 + pid},{name},{op:g}")
    return _read("\n".join(lines) + "\n")


def test_proportional_split_whose_rounding_needs_the_remainder() -> None:
    df = _particle({"A": [100], "B": [200], "Lab": [300]})
    rules = {
        "team": [
            {"name": "a", "match": {"product": "A"}},
            {"name": "b", "match": {"product": "B"}},
        ],
        "shared": [{"match": {"product": "Lab"}, "split": "proportional"}],
    }
    a = allocate(df, rules, prices=BOOK)
    # 299 over 600 ops: A 49.8333, B 99.6667, Lab 149.50 split 1:2 (their own costs):
    # A 99.6667, B 199.3333; floors 99.66 + 199.33 = 298.99, the cent goes to A (.67).
    assert _cell(a, "a", "particle", "USD") == 99.67
    assert _cell(a, "b", "particle", "USD") == 199.33
    assert _cell(a, "unallocated", "", "USD") == 0.0
    assert a.table["cost"].sum().round(2) == 299.00


def test_even_split_ties_go_to_the_first_team() -> None:
    df = _particle({"A": [1], "B": [1], "C": [1], "Lab": [1]})
    rules = {
        "team": [{"name": n, "match": {"product": n.upper()}} for n in ("a", "b", "c")],
        "shared": [{"name": "lab", "match": {"product": "Lab"}, "split": "even"}],
    }
    a = allocate(df, rules, prices=BOOK)
    # 299 / 4 = 74.75 each; the lab's 74.75 / 3 = 24.9166...: 99.6666 each.
    costs = [_cell(a, n, "particle", "USD") for n in ("a", "b", "c")]
    assert costs == [99.67, 99.67, 99.66]


@pytest.mark.slow
def test_team_with_no_usage_is_listed_with_zero() -> None:
    df = _particle({"A": [500], "Idle": [0]})
    rules = {
        "team": [
            {"name": "a", "match": {"product": "A"}},
            {"name": "idle", "match": {"product": "Idle"}},
            {"name": "later", "match": {"provider": "particle"}},
        ]
    }
    with pytest.warns(AllocationWarning) as caught:
        a = allocate(df, rules, prices=BOOK)
    said = sorted(str(w.message).split(" both")[0] for w in caught)
    assert said == ["teams 'a' and 'later'", "teams 'idle' and 'later'"]
    assert _cell(a, "a", "particle", "USD") == 299.0
    assert _cell(a, "idle", "particle", "USD") == 0.0
    # "later" matches rows but owns none of them (a and idle come first).
    assert list(a.table["team"]) == ["a", "idle", "later", "unallocated"]
    assert a.table.set_index("team").loc["later", "cost"] == 0.0


@pytest.mark.slow
def test_unallocated_tail_holds_what_no_rule_matches() -> None:
    df = _particle({"A": [100], "B": [50], "C": [25]})
    a = allocate(df, {"team": [{"name": "a", "match": {"product": "A"}}]}, prices=BOOK)
    # 299 x 100/175 = 170.857 -> 170.86; the rest 128.142 -> 128.14.
    assert _cell(a, "a", "particle", "USD") == 170.86
    assert _cell(a, "unallocated", "particle", "USD") == 128.14


def test_two_currencies_are_each_split_to_their_own_bill() -> None:
    df = ua.concat([_particle({"A": [1], "B": [2]}), _read(INFORMATICA_CSV)])
    rules = {
        "team": [
            {"name": "a", "match": {"provider": "particle", "product": "A"}},
            {"name": "data", "match": {"provider": "informatica", "project": "Anal*"}},
        ]
    }
    a = allocate(df, rules, prices=BOOK)
    sums = a.table.groupby("currency")["cost"].sum().round(2).to_dict()
    assert sums == {"EUR": 36.17, "USD": 299.0}
    assert _cell(a, "a", "particle", "USD") == 99.67  # 299 / 3
    assert _cell(a, "data", "informatica", "EUR") == 29.50
    assert set(a.table.loc[a.table["currency"] == "EUR", "team"]) == {"data", "unallocated"}


def test_rules_currency_allocates_that_currency_only() -> None:
    df = ua.concat([_particle({"A": [1]}), _read(INFORMATICA_CSV)])
    rules = {"currency": "USD", "team": [{"name": "a", "match": {"product": "A"}}]}
    with pytest.warns(AllocationWarning, match="left out: 36.17 EUR"):
        a = allocate(df, rules, prices=BOOK)
    assert set(a.table["currency"]) == {"USD"}


@pytest.mark.parametrize(
    ("match", "named"),
    [
        ({"product": "Trackerz"}, "'Trackerz'"),
        ({"colour": "red"}, "'colour'"),
        ({"tag": "team-x"}, "'tag'"),
    ],
)
def test_rule_naming_a_column_or_value_that_never_occurs_is_an_error(
    match: dict[str, str], named: str
) -> None:
    df = _particle({"Trackers": [1]})
    with pytest.raises(InvalidParameter, match=named):
        allocate(df, {"team": [{"name": "t", "match": match}]}, prices=BOOK)


def test_close_value_is_suggested() -> None:
    df = _particle({"Trackers": [1]})
    with pytest.raises(InvalidParameter, match="did you mean 'Trackers'"):
        allocate(df, {"team": [{"name": "t", "match": {"product": "Trackerz"}}]}, prices=BOOK)


@pytest.mark.slow
def test_here_project_matches_its_name_or_its_hrn() -> None:
    df = _read(HERE_CSV)
    for value in ("storefront", "hrn:here:authorization::org1:project/storefront", "store*"):
        a = allocate(df, {"team": [{"name": "web", "match": {"project": value}}]}, prices=BOOK)
        assert _cell(a, "web", "here", "USD") == 15.00


def test_folder_meter_account_and_resource_can_be_matched() -> None:
    df = ua.concat([_read(INFORMATICA_CSV), _read(HERE_CSV)])
    rules = {
        "team": [
            {"name": "ingest", "match": {"folder": "Ingest"}},
            {"name": "app4", "match": {"resource": "app4", "meter": "Routing*", "account": "org1"}},
        ]
    }
    a = allocate(df, rules, prices=BOOK)
    assert _cell(a, "ingest", "informatica", "EUR") == round((10.5 + 3.3333) * 2, 2)
    assert _cell(a, "app4", "here", "USD") == 1.23


def test_bad_rules_files_name_the_problem(tmp_path: Any) -> None:
    cases = {
        "[[team]]\nname = 'x'\n": "needs a match table",
        "[[team]]\nname = 'unallocated'\nmatch = {provider='here'}\n": "reserved",
        "[[team]]\nname='a'\nmatch={provider='here'}\n[[shared]]\nmatch={provider='here'}\n"
        "split={b=1}\n": "unknown team 'b'",
        "[[team]]\nname='a'\nmatch={provider='here'}\ncolour='red'\n": "unknown key 'colour'",
        "[[team]]\nname='a'\nmatch={provider='here'}\n[[shared]]\nmatch={provider='here'}\n"
        "split='random'\n": "split is",
    }
    for text, message in cases.items():
        path = tmp_path / "r.toml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(InvalidParameter, match=message):
            load_rules(path)


def test_split_cents_uses_largest_remainder() -> None:
    cents = split_cents(
        np.array([1 / 3, 1 / 3, 1 / 3, 0.5, 0.25]), np.array([0, 0, 0, 1, 1]), np.array([100, 75])
    )
    assert cents.tolist() == [34, 33, 33, 50, 25]


@pytest.mark.slow
def test_team_frame_keeps_owned_rows_and_its_share_of_shared_rows(
    three: pd.DataFrame, rules_file: Any
) -> None:
    with pytest.warns(AllocationWarning):
        rows = team_frame(three, rules_file, "web", prices=BOOK)
    particle = rows[rows["provider"] == "particle"]
    assert math.isclose(particle["billable_quantity"].sum(), 200 * 2 / 3)
    assert math.isclose(rows["allocated_cost"].sum(), 5.0 + 59.8 * 2 / 3)


# --- the property: nothing is lost or made up ------------------------------------

_PROJECTS = ["P0", "P1", "P2", "P3", "P4"]


@pytest.mark.slow
@settings(max_examples=30, deadline=None)
@given(
    ipus=st.lists(
        st.tuples(
            st.sampled_from(_PROJECTS),
            st.sampled_from(["orgA", "orgB"]),
            st.floats(min_value=0, max_value=5000, allow_nan=False).map(lambda x: round(x, 4)),
        ),
        min_size=1,
        max_size=25,
    ),
    owned=st.lists(
        st.lists(st.sampled_from(_PROJECTS), min_size=1, max_size=3), min_size=1, max_size=4
    ),
    shared=st.lists(st.sampled_from(_PROJECTS), max_size=2),
    split=st.sampled_from(["proportional", "even", "weights"]),
    price=st.floats(min_value=0.01, max_value=7.77).map(lambda x: round(x, 4)),
)
def test_allocated_plus_unallocated_is_the_bill_to_the_cent(
    ipus: list[tuple[str, str, float]],
    owned: list[list[str]],
    shared: list[str],
    split: str,
    price: float,
) -> None:
    lines = ["Date,Project,Folder,Org ID,Org Type,Consumption (IPUs)"]
    lines += [f"2026-10-0{1 + i % 9},{p},F,{o},Production,{q}" for i, (p, o, q) in enumerate(ipus)]
    df = _read("\n".join(lines) + "\n")
    present = set(df["product"].astype(str))
    teams = []
    for i, projects in enumerate(owned):
        values = [p for p in projects if p in present]
        if values:
            teams.append({"name": f"t{i}", "match": {"project": values}})
    if not teams:
        teams = [{"name": "t", "match": {"provider": "informatica"}}]
    rules: dict[str, Any] = {"team": teams}
    pool = [p for p in shared if p in present]
    if pool:
        how: Any = {t["name"]: k + 1 for k, t in enumerate(teams)} if split == "weights" else split
        rules["shared"] = [{"match": {"project": pool}, "split": how}]
    book = {
        "informatica": {
            "currency": "USD",
            "ipu_price": price,
            "accounts": {"orgB": {"currency": "EUR"}},
        }
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AllocationWarning)  # overlapping random teams
        a = allocate(df, rules, prices=book)
    bill = ua.costs(df, book, forecast=False).combined
    got = (a.table.groupby("currency")["cost"].sum() * 100).round().astype(int).to_dict()
    want = {r.currency: round(r.cost * 100) for r in bill.itertuples()}
    assert got == want
    assert (a.table["cost"] >= 0).all()
    assert {UNALLOCATED} <= set(a.table["team"])


UNALLOCATED = "unallocated"


@pytest.mark.slow
def test_focus_tags_carry_tags_project_and_the_allocated_team(
    three: pd.DataFrame, rules_file: Any
) -> None:
    import json

    from usage_analysis.focus import to_focus

    focus = to_focus(three, BOOK, rules=rules_file)
    tags = [json.loads(t) for t in focus["Tags"]]
    by_tag = [t for t in tags if t.get("billingTag") == "team-logistics"]
    assert by_tag and all(t["team"] == "logistics" for t in by_tag)
    web = [t for t in tags if t.get("team") == "web"]
    assert web == [{"project": "hrn:here:authorization::org1:project/storefront", "team": "web"}]
    lab = [t for t in tags if t.get("product") == "Lab"]
    assert lab == [{"product": "Lab", "sharedCost": "shared #1"}]
    infa = [t for t in tags if t.get("folder") == "Publish"]
    assert infa == [{"folder": "Publish", "project": "Analytics", "team": "data"}]
    assert {"team": "unallocated", "product": "Spare"} in tags
