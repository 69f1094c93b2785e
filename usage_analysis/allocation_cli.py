"""``usage-analysis allocate``: who pays, per team, from the archive (or report files).

The archive holds a row per device (app, asset) and day; allocation needs a row
per resource and month. DuckDB sums the days of the month in the scan
(:func:`month_rows`), so pandas only prices and splits the small table.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .analysis._common import timestamp
from .analysis.allocation import UNALLOCATED, Allocation, AllocationRules, allocate
from .analysis.costs import costs as price
from .errors import InvalidParameter
from .schema import coerce_unified

__all__ = ["month_rows", "register", "run_allocate"]

# Grouping keys: every string column pricing or a rule may need, except the two
# names (any value of the id's group will do, and grouping on them costs time).
_KEYS = (
    "provider",
    "account_id",
    "product",
    "resource_id",
    "meter_id",
    "category",
    "unit",
    "billable_unit",
)


# Dimension columns the archive keeps when some report carried them.
_EXTRA_KEYS = ("project", "billing_tag")


def month_rows(
    months: Sequence[Any],
    *,
    archive: str | Path | None = None,
) -> pd.DataFrame:
    """Archived usage of ``months`` summed per resource, meter and month (a unified frame).

    ``attrs["as_of"]`` is when the newest of those rows was archived.
    """
    from .archive import sql

    labels = [f"{timestamp(m, 'month'):%Y-%m}" for m in months]
    # The archive keeps the columns readers add beyond the unified ones (HERE's
    # project and billing_tag): rules may match on them, so they are keys too.
    present = set(sql("SELECT * FROM usage LIMIT 0", archive=archive).columns)
    extra = tuple(c for c in _EXTRA_KEYS if c in present)
    keys = ", ".join(_KEYS + extra)
    query = f"""
        SELECT {keys}, month,
            any_value(account_name) AS account_name,
            any_value(resource_name) AS resource_name,
            any_value(meter) AS meter,
            sum(quantity) AS quantity,
            sum(billable_quantity) AS billable_quantity,
            max(archived_at) AS archived_at
        FROM usage
        WHERE month IN ({", ".join("?" for _ in labels)})
        GROUP BY {keys}, month
    """
    grouped = sql(query, params=labels, archive=archive)
    start = pd.to_datetime(grouped["month"].astype(str) + "-01", utc=True)
    grouped = grouped.assign(
        period_start=start,
        period_end=start + pd.DateOffset(months=1),
    )
    as_of = grouped["archived_at"].max() if len(grouped) else None
    frame = coerce_unified(grouped.drop(columns=["month", "archived_at"]))
    frame.attrs["as_of"] = None if as_of is None or pd.isna(as_of) else pd.Timestamp(as_of)
    return frame


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "allocate",
        help="split a month's cost between teams (CSV for finance, HTML statements)",
        description=(
            "Split the month's cost between the teams of an allocation rules file "
            "(docs/allocation.md). Per currency the teams' amounts, unallocated "
            "included, add up to the month's bill to the cent."
        ),
    )
    p.add_argument("--rules", required=True, help="allocation rules TOML file")
    p.add_argument("--month", required=True, help="the month to allocate, YYYY-MM")
    p.add_argument("--archive", help="archive root (default: the data directory's archive)")
    p.add_argument(
        "--report",
        action="append",
        default=[],
        metavar="FILE",
        help="read these report files instead of the archive (repeat the flag)",
    )
    p.add_argument("--prices", help="price book TOML (default: the EXAMPLE prices)")
    p.add_argument(
        "--format",
        choices=("csv", "html"),
        default="csv",
        help="csv: one table of every team; html: one statement page per team (default: csv)",
    )
    p.add_argument(
        "--out",
        help="csv: the file (default: standard output); html: a directory, one page per team",
    )
    p.add_argument("--team", action="append", help="only this team's statement (repeat the flag)")
    p.add_argument(
        "--notify",
        nargs="*",
        metavar="URL",
        help="send each team's statement (html) through apprise: to the team's notify "
        "in the rules file, else to these URLs",
    )
    p.set_defaults(func=run_allocate)


def _allocation(args: argparse.Namespace, rules: AllocationRules) -> Allocation:
    month = timestamp(args.month, "month").normalize().replace(day=1)
    last = month - pd.DateOffset(months=1)
    if args.report:
        from .readers import read_report
        from .schema import concat

        rows = concat([read_report(Path(f), unified=True) for f in args.report])
        as_of = None
    else:
        rows = month_rows([last, month], archive=args.archive)
        as_of = rows.attrs.get("as_of")
    if not len(rows):
        raise InvalidParameter("month", f"no usage for {month:%Y-%m} or {last:%Y-%m}")
    starts = rows["period_start"]
    keep = ((starts >= last) & (starts < month + pd.DateOffset(months=1))).to_numpy()
    rows = rows.loc[keep]
    result = allocate(price(rows, args.prices, forecast=False), rules)
    if as_of is not None:
        result = Allocation(**{**result.__dict__, "as_of": as_of})
    return result


def run_allocate(args: argparse.Namespace) -> int:
    from .charts.statement import statement, statement_html, statement_text

    rules = AllocationRules.coerce(Path(args.rules))
    result = _allocation(args, rules)
    month = timestamp(args.month, "month").normalize().replace(day=1)
    if args.format == "csv":
        table = result.table[result.table["month"] == month].reset_index(drop=True)
        now = Allocation(**{**result.__dict__, "table": table})
        text = now.to_csv(args.out)
        if args.out is None:
            sys.stdout.write(text)
        return 0
    teams = args.team or list(rules.names)
    for team in teams:
        if team != UNALLOCATED:
            rules.team(team)
    out = Path(args.out or f"chargeback-{month:%Y-%m}")
    out.mkdir(parents=True, exist_ok=True)
    failures = 0
    for team in teams:
        s = statement(result, team, month=month)
        path = out / f"{_file_name(team)}-{month:%Y-%m}.html"
        path.write_text(statement_html(s), encoding="utf-8")
        (out / f"{_file_name(team)}-{month:%Y-%m}.csv").write_text(s.to_csv(), encoding="utf-8")
        print(f"{team}: {path}")
        if args.notify is not None:
            failures += _send(rules, team, statement_text(s), s, args.notify)
    return 1 if failures else 0


def _send(rules: AllocationRules, team: str, body: str, s: Any, urls: Sequence[str]) -> int:
    from .errors import UsageAnalysisError
    from .monitors.notify import Notifier

    own = rules.team(team).notify if team != UNALLOCATED else ()
    destinations: list[Any] = list(own) or list(urls)
    if not destinations:
        print(f"{team}: no notify destination, statement not sent", file=sys.stderr)
        return 0
    try:
        ok = Notifier(destinations).send(f"Chargeback {team} {s.month:%Y-%m}", body)
    except UsageAnalysisError as exc:
        print(f"{team}: {exc}", file=sys.stderr)
        return 1
    if not ok:
        print(f"{team}: a destination did not accept the statement", file=sys.stderr)
        return 1
    return 0


def _file_name(team: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in team)
