"""Members of one archive that hold the same usage: a combined file beside the files it sums.

An export may hold one file per org *and* the combined file of all orgs
(Informatica's ``MeteringSummary_AllOrgs.csv`` beside ``MeteringSummary_<org>.csv``),
or one report saved twice in different forms. Reading every member would count
that usage twice. The rule, for the members of one report kind:

A row's **key** is its identifying values: every column that is not a number
(ids, names, dates, times; the columns the members share). When two members share
keys:

- if every key of one member is also a key of the other, the smaller member is
  covered (the per-org file inside the all-orgs file, or an exact copy): it is
  left out with a :class:`DuplicateMemberWarning` and named in
  ``df.attrs["skipped_members"]``;
- otherwise (each has rows the other lacks, and some rows in common) the archive
  is refused with :class:`ReportParseError` naming both members: which copy of the
  shared rows is right cannot be told.

Members without keys in common (one org each, one month each) are all read.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import ReportParseError
from ._parse import _caller_level
from ._source import DuplicateMemberWarning

__all__ = ["drop_covered"]


def _keys(table: pa.Table, columns: Sequence[str]) -> np.ndarray:
    """The distinct row keys of ``table`` over ``columns``, as sorted 64-bit hashes."""
    frame = table.select(list(columns)).to_pandas()
    for c in frame.columns:
        if isinstance(frame[c].dtype, pd.CategoricalDtype):
            frame[c] = frame[c].astype("object")
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return np.unique(hashed)


def drop_covered(
    tables: Sequence[pa.Table],
    names: Sequence[str | None],
    *,
    label: str,
    skipped: list[str],
) -> list[int]:
    """Indices of the tables to read: members covered by another member are left out."""
    if len(tables) < 2:
        return list(range(len(tables)))
    shared = set(tables[0].column_names)
    for t in tables[1:]:
        shared &= set(t.column_names)
    columns = [
        c
        for c in tables[0].column_names
        if c in shared and not pa.types.is_floating(tables[0].schema.field(c).type)
    ]
    if not columns:
        return list(range(len(tables)))
    keys = [_keys(t, columns) for t in tables]
    # Which members share a key at all (one sort, not a comparison of every pair).
    flat = np.concatenate(keys)
    owner = np.repeat(np.arange(len(keys)), [len(k) for k in keys])
    order = np.argsort(flat, kind="stable")
    flat, owner = flat[order], owner[order]
    same = np.flatnonzero(flat[1:] == flat[:-1])
    pairs = sorted({(int(owner[k]), int(owner[k + 1])) for k in same.tolist()})
    if not pairs:
        return list(range(len(tables)))
    alive = set(range(len(tables)))
    # Larger members first: a combined file covers the per-org ones.
    for a_, b_ in sorted(pairs, key=lambda p: -max(len(keys[p[0]]), len(keys[p[1]]))):
        if a_ not in alive or b_ not in alive:
            continue
        i, j = (a_, b_) if len(keys[a_]) >= len(keys[b_]) else (b_, a_)
        common = np.intersect1d(keys[i], keys[j], assume_unique=True)
        if len(common) == len(keys[j]):
            alive.discard(j)
            name = names[j] or f"member {j + 1}"
            skipped.append(name)
            warnings.warn(
                DuplicateMemberWarning(
                    f"{label}: every row of {name!r} is also in {names[i]!r} (the same "
                    f"{', '.join(columns[:4])}...): it is covered and read once"
                ),
                stacklevel=_caller_level(),
            )
            continue
        raise ReportParseError(
            f"members {names[i]!r} and {names[j]!r} share {len(common)} row key(s) "
            f"({', '.join(columns[:4])}...) but each has rows the other lacks: reading "
            "both would count the shared rows twice",
            file=label,
            member=names[j],
            expected="members with no rows in common, or one member covering the other",
            candidates=[str(names[i]), str(names[j])],
        )
    return sorted(alive)
