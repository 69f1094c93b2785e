"""Whatever bytes arrive, the readers answer with a frame or a ReportParseError, nothing else."""

from __future__ import annotations

import gzip
import io
import json
import warnings
import zipfile

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usage_analysis.errors import ReportParseError
from usage_analysis.readers import CoercedValuesWarning, detect, read_report

HERE_CSV = (
    '"Date and time (usageDateTime)","Org ID (realmId)","Item (featureId)",'
    '"Item description (name)","Unit (valueDriver)","Usage Amount (billableValue)"\n'
    '"2026-10-01T00:00:00Z","org1","hrn:here:service::org1:routing-car-8","Routing","Transactions",'
    '"12.0000"\n'
    '"2026-10-02T00:00:00Z","org1","hrn:here:service::org1:routing-car-8","Routing","Transactions",'
    '"3.5000"\n'
)
INFORMATICA_CSV = (
    "OrgId,MeterId,MeterName,Date,BillingPeriodStartDate,BillingPeriodEndDate,MeterUsage,IPU,"
    "Scalar,MetricCategory,OrgName,OrgType,IPURate\n"
    "orgA,a2nB20h1o0lc7k3P9xtWS8,Data Integration,2026-10-01,2026-10-01,2026-10-31,10,1.6,1,"
    "Compute Units,Acme,Production,0.16\n"
)
PARTICLE_CSV = (
    "Date,Device ID,Device Name,Product ID,Product Name,Publishes,Subscribes,Function Calls,"
    "Variable Reads,Total Data Operations\n"
    "2026-10-01,e00fce68a1b2c3d4e5f60718,tracker-1,31021,Tracker,70,10,5,15,100\n"
    "2026-10-02,e00fce68a1b2c3d4e5f60718,tracker-1,31021,Tracker,7,1,1,1,10\n"
)
PARTICLE_WIDE = (
    "Device ID,Device Name,Product Name,2026-10-01,2026-10-02\n"
    "e00fce68a1b2c3d4e5f60718,tracker-1,Tracker,100,200\n"
)
HERE_JSON = json.dumps(
    {
        "total": 1,
        "limit": 100,
        "items": [
            {
                "usageDateTime": "2026-10-01T00:00:00Z",
                "featureId": "f",
                "billableValue": "1.0000",
                "valueDriver": "GB",
            }
        ],
    }
)
BASES = [HERE_CSV, INFORMATICA_CSV, PARTICLE_CSV, PARTICLE_WIDE, HERE_JSON]
# Bytes that break CSVs in interesting ways: quotes, separators, line ends, NUL,
# invalid UTF-8, a BOM, and a digit and letter to turn numbers into words.
NASTY = [b'"', b",", b";", b"\n", b"\r", b"\x00", b"\xff", b"\xef\xbb\xbf", b"1", b"x", b"{", b"]"]


def _outcome(call) -> pd.DataFrame | None:
    """Run ``call``; a ReportParseError is an acceptable answer, anything else fails."""
    try:
        return call()
    except ReportParseError as exc:
        assert str(exc)  # every error carries a message for the notebook user
        return None


def _check(data: bytes) -> None:
    df = _outcome(lambda: read_report(data))
    if df is not None:
        assert isinstance(df, pd.DataFrame)
        assert df.attrs["provider"] in ("particle", "here", "informatica")
    _outcome(lambda: read_report(data, unified=True))
    with warnings.catch_warnings():
        # Coercing is what was asked for here; the warning saying so is expected.
        warnings.simplefilter("ignore", CoercedValuesWarning)
        _outcome(lambda: read_report(data, errors="coerce", unified=True))
    _outcome(lambda: detect(data))


@st.composite
def mangled(draw: st.DrawFn, bases: list[str] = BASES) -> bytes:
    data = bytearray(draw(st.sampled_from(bases)).encode())
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["delete", "insert", "replace", "truncate", "duplicate"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "delete":
            del data[pos : pos + draw(st.integers(1, 20))]
        elif op == "insert":
            data[pos:pos] = draw(st.sampled_from(NASTY)) * draw(st.integers(1, 3))
        elif op == "replace" and data:
            data[pos : pos + 1] = draw(st.sampled_from(NASTY))
        elif op == "truncate":
            del data[pos:]
        else:
            line_end = data.find(b"\n", pos)
            if line_end >= 0:
                data[line_end:line_end] = data[pos:line_end]
    return bytes(data)


FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)


@pytest.mark.slow
@FUZZ
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_raise_report_parse_error_or_read(data: bytes) -> None:
    _check(data)


@pytest.mark.slow
@FUZZ
@given(mangled())
def test_mangled_reports_raise_report_parse_error_or_read(data: bytes) -> None:
    _check(data)


@pytest.mark.slow
@FUZZ
@given(mangled(), st.sampled_from(["gzip", "zip"]), st.integers(0, 400), st.binary(max_size=8))
def test_damaged_archives_raise_report_parse_error_or_read(
    data: bytes, container: str, pos: int, noise: bytes
) -> None:
    if container == "gzip":
        packed = bytearray(gzip.compress(data))
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("MeteringSummary_x.csv", data)
        packed = bytearray(buf.getvalue())
    pos = min(pos, len(packed))
    packed[pos : pos + len(noise)] = noise
    _check(bytes(packed))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\n\n\n", "empty"),
        (b'"', "cannot tell which report"),
        (b"a,b\n1,2\n", "cannot tell which report"),
        (b"null", "cannot tell which report"),
        (b"[]", "empty list"),
        (b"[1, 2]", "not a search page"),
        (b'{"items": "no"}', "not a search page"),
        (b'{"items": [1]}', "not an object"),
        (b"[" * 100_000, "nested too deeply"),
        (b"\xff\xfe", "empty"),
        (b"\xfe\xff\x00", "invalid utf-16"),
        (b"\x1f\x8b", "gzip data ends early"),
        (b"PK\x05\x06" + b"\0" * 18, "no report files"),
        (b"PK\x03\x04garbage", "not a readable ZIP"),
        ("Date,Device ID\n".encode("utf-16"), "cannot tell which report"),
        (HERE_CSV.replace("12.0000", "1e999999").encode(), "do not convert"),
        (HERE_CSV.replace("2026-10-01T00:00:00Z", "9999-99-99T99:99:99Z").encode(), "convert"),
        (HERE_CSV.replace('"12.0000"', '"12.0000","extra"').encode(), "number of fields"),
        (HERE_CSV.replace('"Routing"', '"Rou\xe9ting"').encode("latin-1"), "not valid UTF-8"),
        (HERE_JSON.replace('"1.0000"', "1e999").encode(), "do not convert"),
    ],
)
def test_known_nasty_inputs_raise_report_parse_error(data: bytes, message: str) -> None:
    with pytest.raises(ReportParseError, match=message):
        read_report(data)
