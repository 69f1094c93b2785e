"""Allocation rules: the TOML file that says which team owns which usage, and matching rows.

Format (docs/allocation.md)::

    currency = "USD"                     # optional: allocate this currency only
    [[team]]
    name = "logistics"
    match = { provider = "here", tag = "team-logistics" }
    notify = ["mailto://..."]            # optional: where the team's statement goes
    [[shared]]
    name = "particle lab"                # optional label (default "shared #N")
    match = { provider = "particle", product = "Lab" }
    split = "proportional"               # or "even", or { fleet = 70, web = 30 }
    teams = ["fleet", "web"]             # optional: who shares it (default: every team)

A ``match`` names columns of the unified frame (or extra columns such as HERE's
``billing_tag``) or one of the friendly keys in :data:`MATCH_KEYS`; a value is a
string or a list of strings, each may hold ``*``/``?`` globs. All keys of a match
must fit (and); any value of a key may (or).
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._secrets import Secret
from ..errors import InvalidParameter
from ..schema import UNIFIED_COLUMNS

__all__ = [
    "MATCH_KEYS",
    "UNALLOCATED",
    "AllocationRules",
    "SharedRule",
    "Team",
    "example_rules",
    "key_frame",
    "load_rules",
    "match_mask",
    "rule_columns",
]

UNALLOCATED = "unallocated"
SPLITS = ("proportional", "even")

# Friendly key -> the columns it looks in (a row fits when any of them fits).
# ``project``: HERE's project HRN (its name, the part after ``project/``, fits too)
# or an Informatica project (the unified ``product``); ``folder``: an Informatica
# folder (``resource_name`` of project/folder rows, or a ``folder`` column).
MATCH_KEYS: dict[str, tuple[str, ...]] = {
    "tag": ("billing_tag",),
    "billing_tag": ("billing_tag",),
    "project": ("project",),
    "folder": ("folder",),
    "meter": ("meter", "meter_id"),
    "account": ("account_id", "account_name"),
    "resource": ("resource_id", "resource_name"),
    "device": ("resource_id", "resource_name"),
}
_DERIVED = ("project", "folder")
_FILE_KEYS = {"currency", "team", "shared"}
_TEAM_KEYS = {"name", "match", "notify", "description"}
_SHARED_KEYS = {"name", "match", "split", "teams"}


@dataclass(frozen=True)
class Team:
    """A team and the rows it owns."""

    name: str
    match: Mapping[str, tuple[str, ...]]
    notify: tuple[Secret, ...] = ()
    description: str | None = None

    def describe(self) -> str:
        return describe_match(self.match)


@dataclass(frozen=True)
class SharedRule:
    """A cost no single team owns, split between ``teams`` (default: every team)."""

    name: str
    match: Mapping[str, tuple[str, ...]]
    split: str | Mapping[str, float] = "proportional"
    teams: tuple[str, ...] = ()

    def describe(self) -> str:
        if isinstance(self.split, str):
            how = self.split
        else:
            how = ", ".join(f"{t} {w:g}" for t, w in self.split.items())
        return f"{self.name}: {describe_match(self.match)}, split {how}"


@dataclass(frozen=True)
class AllocationRules:
    """The teams (first match owns a row) and the shared rules, from a file or Python."""

    teams: tuple[Team, ...]
    shared: tuple[SharedRule, ...] = ()
    currency: str | None = None
    source: str = "<python>"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [t.name for t in self.teams]
        if not names:
            raise InvalidParameter("rules", f"{self.source}: no [[team]] tables")
        for name in names:
            if not isinstance(name, str) or not name.strip():
                raise InvalidParameter("rules", f"{self.source}: every team needs a name")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InvalidParameter("rules", f"{self.source}: team {dup[0]!r} is named twice")
        if UNALLOCATED in names:
            raise InvalidParameter(
                "rules", f"{self.source}: {UNALLOCATED!r} is reserved for rows no rule matches"
            )
        known = set(names)
        for rule in self.shared:
            if isinstance(rule.split, str):
                if rule.split not in SPLITS:
                    raise InvalidParameter(
                        "rules",
                        f"{self.source}: shared {rule.name!r}: split is 'proportional', "
                        f"'even' or a table of team weights, not {rule.split!r}",
                    )
            else:
                for team, weight in rule.split.items():
                    if team not in known:
                        raise InvalidParameter(
                            "rules",
                            f"{self.source}: shared {rule.name!r} names unknown team "
                            f"{team!r} in split; teams: {', '.join(names)}",
                        )
                    if (
                        isinstance(weight, bool)
                        or not isinstance(weight, int | float)
                        or weight < 0
                    ):
                        raise InvalidParameter(
                            "rules",
                            f"{self.source}: shared {rule.name!r}: weight of {team!r} must be a "
                            f"number >= 0, not {weight!r}",
                        )
                if not sum(rule.split.values()) > 0:
                    raise InvalidParameter(
                        "rules", f"{self.source}: shared {rule.name!r}: the weights add up to 0"
                    )
            for team in rule.teams:
                if team not in known:
                    raise InvalidParameter(
                        "rules",
                        f"{self.source}: shared {rule.name!r} names unknown team {team!r}; "
                        f"teams: {', '.join(names)}",
                    )

    @property
    def names(self) -> tuple[str, ...]:
        """The team names in rule order, then ``unallocated``."""
        return (*(t.name for t in self.teams), UNALLOCATED)

    def team(self, name: str) -> Team:
        for t in self.teams:
            if t.name == name:
                return t
        raise InvalidParameter("team", f"no team {name!r}; teams: {', '.join(self.names)}")

    def recipients(self, rule: SharedRule) -> tuple[str, ...]:
        if not isinstance(rule.split, str):
            return tuple(rule.split)
        return rule.teams or tuple(t.name for t in self.teams)

    @classmethod
    def load(cls, path: str | Path) -> AllocationRules:
        """Read a rules TOML file (format in docs/allocation.md)."""
        return load_rules(path)

    @classmethod
    def coerce(cls, value: AllocationRules | Mapping[str, Any] | str | Path) -> AllocationRules:
        if isinstance(value, AllocationRules):
            return value
        if isinstance(value, str | Path):
            return load_rules(value)
        if isinstance(value, Mapping):
            return parse_rules(value, source="<mapping>")
        raise InvalidParameter(
            "rules",
            f"expected AllocationRules, a mapping or a TOML file, got {type(value).__name__}",
        )

    def __repr__(self) -> str:
        return (
            f"<AllocationRules {len(self.teams)} team(s), {len(self.shared)} shared rule(s) "
            f"from {self.source}>"
        )


def example_rules() -> AllocationRules:
    """The shipped EXAMPLE rules (``usage_analysis/data/allocation.example.toml``), for the demo data."""
    return load_rules(Path(__file__).resolve().parent.parent / "data" / "allocation.example.toml")


def describe_match(match: Mapping[str, tuple[str, ...]]) -> str:
    parts = []
    for key, values in match.items():
        shown = values[0] if len(values) == 1 else "[" + ", ".join(values) + "]"
        parts.append(f"{key} = {shown}")
    return ", ".join(parts)


def load_rules(path: str | Path) -> AllocationRules:
    """Read an allocation rules TOML file; errors name the file and the rule."""
    p = Path(path).expanduser()
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidParameter("rules", f"no allocation rules file at {p}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidParameter("rules", f"{p} is not valid TOML: {exc}") from None
    return parse_rules(data, source=str(p))


def parse_rules(data: Mapping[str, Any], *, source: str) -> AllocationRules:
    unknown = set(data) - _FILE_KEYS
    if unknown:
        raise InvalidParameter(
            "rules",
            f"{source}: unknown key {sorted(unknown)[0]!r}; expected {', '.join(sorted(_FILE_KEYS))}",
        )
    teams = []
    for i, entry in enumerate(_tables(data.get("team", []), "team", source)):
        label = str(entry.get("name", f"#{i + 1}"))
        _no_unknown(entry, _TEAM_KEYS, f"team {label!r}", source)
        teams.append(
            Team(
                name=label if "name" in entry else "",
                match=_match(entry.get("match"), f"team {label!r}", source),
                notify=tuple(
                    Secret(u) for u in _strings(entry.get("notify", []), "notify", label, source)
                ),
                description=entry.get("description"),
            )
        )
    shared = []
    for i, entry in enumerate(_tables(data.get("shared", []), "shared", source)):
        label = str(entry.get("name", f"shared #{i + 1}"))
        _no_unknown(entry, _SHARED_KEYS, f"shared {label!r}", source)
        split = entry.get("split", "proportional")
        if isinstance(split, Mapping):
            split = {str(k): v for k, v in split.items()}
        elif not isinstance(split, str):
            raise InvalidParameter(
                "rules", f"{source}: shared {label!r}: split must be a word or a table of weights"
            )
        shared.append(
            SharedRule(
                name=label,
                match=_match(entry.get("match"), f"shared {label!r}", source),
                split=split,
                teams=tuple(_strings(entry.get("teams", []), "teams", label, source)),
            )
        )
    currency = data.get("currency")
    if currency is not None and (not isinstance(currency, str) or not currency.strip()):
        raise InvalidParameter("rules", f"{source}: currency must be a code such as 'USD'")
    return AllocationRules(
        teams=tuple(teams), shared=tuple(shared), currency=currency, source=source
    )


def _tables(value: Any, kind: str, source: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise InvalidParameter("rules", f"{source}: expected [[{kind}]] tables")
    return value


def _no_unknown(entry: Mapping[str, Any], allowed: set[str], label: str, source: str) -> None:
    bad = set(entry) - allowed
    if bad:
        raise InvalidParameter(
            "rules",
            f"{source}: {label}: unknown key {sorted(bad)[0]!r}; expected some of "
            f"{', '.join(sorted(allowed))}",
        )


def _strings(value: Any, key: str, label: str, source: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParameter("rules", f"{source}: {label!r}: {key} must be a string or a list")
    return list(value)


def _match(value: Any, label: str, source: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping) or not value:
        raise InvalidParameter(
            "rules", f'{source}: {label}: needs a match table such as {{ provider = "here" }}'
        )
    out: dict[str, tuple[str, ...]] = {}
    for key, raw in value.items():
        values = raw if isinstance(raw, list) else [raw]
        if not values or not all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in values
        ):
            raise InvalidParameter(
                "rules", f"{source}: {label}: {key} must be a value or a list of values"
            )
        out[str(key)] = tuple(str(v) for v in values)
    return out


# --- matching -------------------------------------------------------------------


def rule_columns(rules: AllocationRules) -> list[str]:
    """The frame columns the rules look in (derived ``project``/``folder`` included)."""
    cols: list[str] = []
    matches = [r.match for r in rules.teams] + [r.match for r in rules.shared]
    for match in matches:
        for key in match:
            for c in MATCH_KEYS.get(key, (key,)):
                if c not in cols:
                    cols.append(c)
    return cols


def key_frame(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The columns rules look in, as categoricals (``project`` and ``folder`` derived)."""
    out: dict[str, pd.Series] = {}
    is_infa = (df["provider"].astype(object) == "informatica").to_numpy(dtype=bool)
    for col in columns:
        if col == "project":
            here = df["project"] if "project" in df.columns else None
            infa = df["product"].where(is_infa)
            s = (
                infa.astype(object)
                if here is None
                else here.astype(object).where(here.notna(), infa.astype(object))
            )
            out[col] = s.astype("category")
        elif col == "folder":
            if "folder" in df.columns:
                out[col] = df["folder"].astype("category")
            else:
                folders = is_infa & df["meter_id"].isna().to_numpy()
                out[col] = df["resource_name"].astype(object).where(folders).astype("category")
        elif col in df.columns:
            s = df[col]
            out[col] = (
                s if isinstance(s.dtype, pd.CategoricalDtype) else s.astype(str).astype("category")
            )
        else:
            out[col] = pd.Series(pd.Categorical([None] * len(df)), index=df.index)
    return pd.DataFrame(out, index=df.index)


def _candidates(value: str, column: str) -> tuple[str, ...]:
    """The texts a pattern is tried on: HERE project HRNs also by their name."""
    if column == "project" and ":project/" in value:
        return (value, value.rsplit(":project/", 1)[1])
    return (value,)


def _fits(patterns: tuple[str, ...], texts: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(t, p) for p in patterns for t in texts)


def match_mask(
    keys: pd.DataFrame, match: Mapping[str, tuple[str, ...]], *, label: str, check: bool = True
) -> np.ndarray:
    """Rows of ``keys`` (from :func:`key_frame`) a match fits; with ``check`` a key or value
    that fits no row raises :class:`InvalidParameter` naming it."""
    mask = np.ones(len(keys), dtype=bool)
    for key, patterns in match.items():
        columns = MATCH_KEYS.get(key, (key,))
        if key not in MATCH_KEYS and key not in UNIFIED_COLUMNS and key not in keys.columns:
            raise InvalidParameter("rules", f"{label}: unknown column {key!r}")
        fits = np.zeros(len(keys), dtype=bool)
        seen = set()
        for col in columns:
            s = keys[col]
            cats = s.cat.categories
            codes = s.cat.codes.to_numpy()
            ok = np.array([_fits(patterns, _candidates(str(c), col)) for c in cats], dtype=bool)
            if check:
                present = np.zeros(len(cats), dtype=bool)
                present[np.unique(codes[codes >= 0])] = True
                for p in patterns:
                    if any(
                        present[i] and _fits((p,), _candidates(str(c), col))
                        for i, c in enumerate(cats)
                    ):
                        seen.add(p)
            if len(cats):
                fits |= np.where(codes >= 0, ok[np.maximum(codes, 0)], False)
        if check:
            values = sorted({str(c) for col in columns for c in keys[col].dropna().unique()})
            if not values:
                raise InvalidParameter(
                    "rules", f"{label}: column {key!r} never occurs in the data (no values)"
                )
            for p in patterns:
                if p not in seen:
                    near = get_close_matches(p, values, n=3)
                    hint = f"; did you mean {', '.join(map(repr, near))}?" if near else ""
                    raise InvalidParameter(
                        "rules", f"{label}: value {p!r} of {key!r} never occurs in the data{hint}"
                    )
        mask &= fits
    return mask
