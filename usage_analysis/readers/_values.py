"""Converting text cells the way a spreadsheet wrote them: numbers, dates, missing markers.

Used on the slow path of :mod:`._csv` (a value the fast Arrow parse could not
convert, or a file not separated by commas, where decimal commas are common):

- **Number conventions.** ``1.234,50`` (European) and ``1,234.50`` (US) are told
  apart from the values of every number column of the file together; a file mixing
  both, or whose only hints are ambiguous (``1.234`` in a ``;``-separated file with
  no decimal comma anywhere, ``"1,234"`` anywhere) raises, asking for
  ``decimal=``/``thousands=``.
- **Missing markers.** ``NaN``, ``null``, ``N/A``, ``#N/A``, ``None`` in a number
  are missing values that are *counted and warned about* (with ``errors="raise"``
  too), never silently dropped from a total.
- **Day/month order.** ``10/01/2026`` reads when the order is unambiguous across
  the file (some first part above 12, or some second part above 12), else raises
  asking for ``dayfirst=``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import InvalidParameter, ReportParseError

__all__ = [
    "MISSING_MARKERS",
    "check_options",
    "number_convention",
    "to_float",
    "to_time",
]

UTC_NS = "datetime64[ns, UTC]"
# Words spreadsheets and exporters write for "no value". In a quantity they are
# counted and reported; "NA" is left out on purpose (a device may be called "NA").
MISSING_MARKERS = frozenset({"nan", "null", "n/a", "#n/a", "none", "nil", "-nan"})

_SIGN = r"^[-+]?"
_EU_CERTAIN = re.compile(
    _SIGN + r"(?:\d{1,3}(?:\.\d{3})+,\d*|\d+,\d{1,2}|\d+,\d{4,}|0,\d+|\d{4,},\d{3}"
    r"|\d{1,3}(?:\.\d{3}){2,}|,\d+)$"
)
_US_CERTAIN = re.compile(
    _SIGN + r"(?:\d{1,3}(?:,\d{3})+\.\d*|\d+\.\d{1,2}|\d+\.\d{4,}|0\.\d+|\d{4,}\.\d{3}"
    r"|\d{1,3}(?:,\d{3}){2,}|\.\d+)$"
)
# Scientific notation: the exponent says nothing about the decimal separator, so
# only the mantissa is looked at ("1,2E-01" has a decimal comma; "1E-07" has none).
_EXPONENT = re.compile(r"[eE][-+]?\d+$")
_AMBIGUOUS_DOT = re.compile(_SIGN + r"\d{1,3}\.\d{3}$")
_AMBIGUOUS_COMMA = re.compile(_SIGN + r"\d{1,3},\d{3}$")
_SLASH_DATE = re.compile(r"^\s*(\d{1,2})[/.](\d{1,2})[/.](\d{4})(?=$|[ T])")


def check_options(decimal: str | None, thousands: str | None) -> tuple[str | None, str | None]:
    """Validate ``decimal=``/``thousands=``; a decimal comma implies ``.`` thousands."""
    if decimal is not None and decimal not in (".", ","):
        raise InvalidParameter("decimal", f"must be '.' or ',', not {decimal!r}")
    if thousands is not None and thousands not in (".", ",", " ", "'", ""):
        raise InvalidParameter(
            "thousands", f"must be '.', ',', ' ', \"'\" or '', not {thousands!r}"
        )
    if decimal is not None and thousands is not None and decimal == thousands:
        raise InvalidParameter("thousands", f"cannot be the decimal separator {decimal!r} too")
    if decimal is not None and thousands is None:
        thousands = "." if decimal == "," else ","
    if thousands is not None and decimal is None:
        decimal = "," if thousands == "." else "."
    return decimal, thousands


def number_convention(
    columns: Sequence[pd.Series], *, delimiter: str, label: str, member: str | None
) -> tuple[str, str | None]:
    """(decimal, thousands) of the number columns' text, or ReportParseError when unclear."""
    uniques = pd.unique(
        pd.concat([c.dropna().astype("str").str.strip() for c in columns], ignore_index=True)
    )
    values = [
        _EXPONENT.sub("", v) for v in uniques.tolist() if v and v.casefold() not in MISSING_MARKERS
    ]
    eu = next((v for v in values if _EU_CERTAIN.match(v)), None)
    us = next((v for v in values if _US_CERTAIN.match(v)), None)
    ask = "pass decimal=',' (thousands='.') or decimal='.' (thousands=',') to say which"
    if eu is not None and us is not None:
        raise ReportParseError(
            f"the numbers mix conventions: {eu!r} has a decimal comma, {us!r} a decimal point; "
            + ask,
            file=label,
            member=member,
            expected="one number convention in the whole file",
        )
    if eu is not None:
        return ",", "."
    if us is not None:
        return ".", ","
    ambiguous = next((v for v in values if _AMBIGUOUS_COMMA.match(v)), None)
    if ambiguous is None and delimiter != ",":
        ambiguous = next((v for v in values if _AMBIGUOUS_DOT.match(v)), None)
    if ambiguous is not None:
        raise ReportParseError(
            f"the number {ambiguous!r} reads as {_both(ambiguous)} depending on the "
            "convention, and no other number in the file settles it; " + ask,
            file=label,
            member=member,
            expected="numbers whose decimal separator is clear, or decimal=/thousands=",
        )
    return ".", None


def _both(value: str) -> str:
    sep = "," if "," in value else "."
    whole, frac = value.split(sep)
    return f"{whole}{frac} or {whole}.{frac}"


def to_float(
    values: pd.Series, *, decimal: str, thousands: str | None
) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """(float64 values, bad mask, missing-marker mask) of a text column."""
    text = values.astype("str").str.strip()
    blank = (values.isna() | (text == "")).to_numpy()
    marker = text.str.casefold().isin(MISSING_MARKERS).to_numpy() & ~blank
    norm = text
    if thousands == " ":
        norm = norm.str.replace("\u00a0", " ", regex=False)
    misgrouped = np.zeros(len(text), dtype=bool)
    if thousands:
        # A thousands separator only between groups of three digits of the whole
        # part, never in a number with an exponent: "1,2E-01" read with ","
        # thousands is refused, not read as 12E-01.
        has_sep = norm.str.contains(thousands, regex=False).to_numpy(dtype=bool, na_value=False)
        if has_sep.any():
            grouped = norm.str.fullmatch(_grouped(thousands, decimal)).to_numpy(
                dtype=bool, na_value=False
            )
            misgrouped = has_sep & ~grouped
        norm = norm.str.replace(thousands, "", regex=False)
    if decimal == ",":
        norm = norm.str.replace(",", ".", regex=False)
    numbers = pd.to_numeric(norm.where(~(blank | marker)), errors="coerce").astype("float64")
    numbers = numbers.where(np.isfinite(numbers) & ~misgrouped)
    bad = numbers.isna().to_numpy() & ~blank & ~marker
    return numbers, bad, marker


def _grouped(thousands: str, decimal: str) -> str:
    """A number whose whole part is grouped by ``thousands`` in threes (no exponent)."""
    t, d = re.escape(thousands), re.escape(decimal)
    return rf"[-+]?\d{{1,3}}(?:{t}\d{{3}})+(?:{d}\d*)?"


def to_time(
    values: pd.Series, *, dayfirst: bool | None, label: str, member: str | None, column: str
) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """(UTC timestamps, bad mask, missing-marker mask) of a text column of date-times."""
    text = values.astype("str").str.strip()
    blank = (values.isna() | (text == "")).to_numpy()
    marker = text.str.casefold().isin(MISSING_MARKERS).to_numpy() & ~blank
    iso = text.str.replace("'T'", "T", regex=False).where(~(blank | marker))
    out = pd.to_datetime(iso, utc=True, errors="coerce", format="ISO8601").astype(UTC_NS)
    failed = out.isna().to_numpy() & ~blank & ~marker
    if failed.any():
        rest = text[failed]
        parts = rest.str.extract(_SLASH_DATE)
        slashed = parts[0].notna().to_numpy()
        if slashed.any():
            first = parts[0].dropna().astype(int)
            second = parts[1].dropna().astype(int)
            order = dayfirst
            if order is None:
                day_first, month_first = bool((first > 12).any()), bool((second > 12).any())
                if day_first == month_first:
                    why = (
                        "some read day-first and some month-first"
                        if day_first
                        else ("every value reads either way")
                    )
                    example = rest[slashed].iloc[0]
                    raise ReportParseError(
                        f"the dates are ambiguous ({example!r}: {why}); pass dayfirst=True "
                        "for DD/MM/YYYY or dayfirst=False for MM/DD/YYYY",
                        file=label,
                        member=member,
                        column=column,
                        expected="dates whose day/month order is clear, or dayfirst=",
                    )
                order = day_first
            idx = rest.index[slashed]
            fixed = pd.to_datetime(
                rest.loc[idx].str.replace(".", "/", regex=False),
                dayfirst=order,
                format="mixed",
                utc=True,
                errors="coerce",
            ).astype(UTC_NS)
            out.loc[idx] = fixed
    bad = out.isna().to_numpy() & ~blank & ~marker
    return out, bad, marker
