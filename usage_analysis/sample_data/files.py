"""Write sample files: the small set in ``sample_data/`` and large ones for scale tests."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from .generate import here_usage, informatica_usage, particle_usage
from .render import (
    gzip_bytes,
    here_csv,
    here_json_pages,
    informatica_csv,
    informatica_zip,
    particle_csv,
)
from .world import make_world

__all__ = ["SAMPLE_END", "generate_file", "write_samples"]

# The sample files end on this day; the current month is then partly reported,
# which is what a burn-down chart needs.
SAMPLE_END = date(2026, 11, 20)
_OCT = (date(2026, 10, 1), date(2026, 10, 31))


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def write_samples(directory: str | Path, *, seed: int = 7) -> list[Path]:
    """(Re)write the small sample files of every kind into ``directory``."""
    d = Path(directory)
    w = make_world(seed)
    out: list[Path] = []
    # Particle: an org devices report over three months, the same as products,
    # a console-style wide export, and an Excel re-save (UTF-8 BOM, CRLF).
    p_start = date(2026, 9, 1)
    devices = particle_usage(w, p_start, SAMPLE_END, report_type="devices")
    out.append(_write(d / "particle_devices_2026-09-01_2026-11-20.csv", particle_csv(devices)))
    products = particle_usage(w, p_start, SAMPLE_END, report_type="products")
    out.append(_write(d / "particle_products_2026-09-01_2026-11-20.csv", particle_csv(products)))
    october = devices[devices["Date"].between(pd.Timestamp(_OCT[0]), pd.Timestamp(_OCT[1]))]
    out.append(
        _write(d / "particle_devices_wide_2026-10.csv", particle_csv(october, layout="wide"))
    )
    excel = particle_csv(october.head(400)).decode().replace("\n", "\r\n")
    out.append(_write(d / "particle_devices_excel.csv", b"\xef\xbb\xbf" + excel.encode() + b"\r\n"))

    # HERE: the report as /output sends it (gzip), the same plain, the header
    # variants, a month-level and a summarized report, and JSON search pages.
    day = here_usage(w, *_OCT, detail_level="day")
    out.append(_write(d / "here_report_2026-10.csv.gz", gzip_bytes(here_csv(day))))
    out.append(_write(d / "here_report_2026-10.csv", here_csv(day)))
    out.append(_write(d / "here_report_camelcase.csv", here_csv(day.head(300), header="camel")))
    out.append(_write(d / "here_report_legacy.csv", here_csv(day.head(300), header="legacy")))
    partner = here_usage(w, *_OCT, detail_level="month", sub_accounts=list(w.here.orgs["realm_id"]))
    out.append(_write(d / "here_partner_report_2026-10.csv", here_csv(partner, header="partner")))
    month = here_usage(w, date(2026, 8, 1), _OCT[1], detail_level="month")
    out.append(
        _write(d / "here_report_monthly_2026-08_2026-10.csv.gz", gzip_bytes(here_csv(month)))
    )
    summ = here_usage(w, *_OCT, detail_level="summarized", group_by=["appId"])
    out.append(_write(d / "here_report_summarized_2026-10.csv", here_csv(summ)))
    utf16 = here_csv(day.head(200)).decode().replace("\n", "\r\n").encode("utf-16")
    out.append(_write(d / "here_report_excel_utf16.csv", utf16))
    search = here_usage(w, date(2026, 11, 1), date(2026, 11, 3), detail_level="day")
    pages = here_json_pages(search, limit=100)
    # A whole search saved as one page (its total equals its items); the pages of
    # a longer search are only complete together (here_search_pages.json).
    (whole,) = here_json_pages(search, limit=1000)
    out.append(_write(d / "here_search_page.json", json.dumps(whole, indent=1).encode()))
    out.append(_write(d / "here_search_pages.json", json.dumps(pages).encode()))

    # Informatica: every export kind as its ZIP, one combined, and bare CSVs.
    for job_type, name in (
        ("SUMMARY", "informatica_summary_2026-10.zip"),
        ("PROJECT_FOLDER", "informatica_project_folder_2026-10.zip"),
        ("ASSET", "informatica_asset_2026-10.zip"),
        ("JOB_LEVEL", "informatica_job_level_2026-10.zip"),
    ):
        members = informatica_usage(
            w, *_OCT, job_type=job_type, all_linked_orgs=job_type != "JOB_LEVEL"
        )
        out.append(_write(d / name, informatica_zip(members)))
    combined = informatica_usage(w, *_OCT, job_type="SUMMARY", all_linked_orgs=True, combined=True)
    out.append(_write(d / "informatica_summary_combined_2026-10.zip", informatica_zip(combined)))
    (summary,) = combined.values()
    out.append(_write(d / "informatica_summary_2026-10.csv", informatica_csv(summary)))
    asset = informatica_usage(w, date(2026, 11, 1), date(2026, 11, 7), job_type="ASSET")
    out.append(
        _write(
            d / "informatica_asset_2026-11-01_07.csv", informatica_csv(next(iter(asset.values())))
        )
    )
    return out


def generate_file(
    provider: str,
    kind: str,
    *,
    rows: int,
    out: str | Path,
    seed: int = 7,
    end: date = SAMPLE_END,
    members: int = 1,
) -> Path:
    """Write one large file of ``rows`` rows (per member, for Informatica ZIPs).

    The format follows the suffix of ``out``: ``.gz`` gzips, ``.zip`` zips,
    ``.json`` writes HERE search pages.
    """
    out = Path(out)
    if provider == "here":
        days = 95 if rows > 20_000 else 31
        start = end - timedelta(days=days - 1)
        apps = max(4, math.ceil(rows / (days * 4.0)))
        while True:
            world = make_world(seed, here_apps=apps, here_sub_accounts=0)
            df = here_usage(world, start, end, detail_level="day")
            if len(df) >= rows:
                break
            apps = math.ceil(apps * rows / max(len(df), 1) * 1.05)
        df = df.iloc[:rows]
        if out.suffix == ".json":
            return _write(out, json.dumps(here_json_pages(df)).encode())
        data = here_csv(df)
    elif provider == "particle":
        days = 90 if rows > 5_000 else 30
        start = end - timedelta(days=days - 1)
        world = make_world(seed, particle_devices=math.ceil(rows / days * 1.2) + 5)
        report_type = "products" if kind == "products" else "devices"
        df = particle_usage(world, start, end, report_type=report_type).iloc[:rows]
        data = particle_csv(df, layout="wide" if kind == "wide" else "long")
    elif provider == "informatica":
        job_type = kind.upper()
        days = 30
        start = end - timedelta(days=days - 1)
        per_asset = {"SUMMARY": 0.15, "PROJECT_FOLDER": 0.5, "ASSET": 1.0, "JOB_LEVEL": 2.0}.get(
            job_type, 1.0
        )
        assets = max(10, math.ceil(rows * members / (days * 0.88 * per_asset) * 1.1))
        while True:
            world = make_world(seed, informatica_orgs=members, informatica_assets=assets)
            parts = informatica_usage(world, start, end, job_type=job_type, all_linked_orgs=True)
            smallest = min(len(f) for f in parts.values())
            if smallest >= rows:
                break
            assets = math.ceil(assets * rows / max(smallest, 1) * 1.1)
        trimmed = {name: f.iloc[:rows] for name, f in parts.items()}
        if out.suffix == ".zip":
            return _write(out, informatica_zip(trimmed))
        data = informatica_csv(next(iter(trimmed.values())))
    else:
        raise ValueError(f"provider must be particle, here or informatica, not {provider!r}")
    return _write(out, gzip_bytes(data) if out.suffix == ".gz" else data)
