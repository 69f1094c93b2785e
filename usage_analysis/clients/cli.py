"""``usage-analysis fetch particle|here|informatica ...`` and ``usage-analysis jobs``.

``fetch`` requests a report, waits for it with a progress bar, downloads it into the
data directory (where it stays, recorded in the journal) and copies it to ``--out``.
Credentials and URLs come from the environment or config files, as for the clients.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path
from typing import Any

from ..defaults import PARTICLE_ORG_ENV
from ._base import BaseClient
from .journal import jobs

__all__ = ["register"]


def _common(parser: argparse.ArgumentParser, *, dates_required: bool = True) -> None:
    parser.add_argument("--start", required=dates_required, help="first day, YYYY-MM-DD")
    parser.add_argument("--end", required=dates_required, help="last day (included), YYYY-MM-DD")
    parser.add_argument("--out", required=True, type=Path, help="where to copy the report file")
    parser.add_argument(
        "--refresh", action="store_true", help="ask again even if already downloaded"
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="give up waiting after N seconds"
    )
    parser.add_argument(
        "--schedule",
        default=None,
        help="seconds between status checks, e.g. '15,30,60' (last repeats)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def register(subparsers: Any) -> None:
    """Add ``fetch`` and ``jobs`` to the ``usage-analysis`` command."""
    fetch = subparsers.add_parser("fetch", help="request, wait for and download a usage report")
    providers = fetch.add_subparsers(dest="provider", required=True)

    particle = providers.add_parser("particle", help="a Particle data operations report")
    _common(particle, dates_required=False)
    particle.add_argument(
        "--org",
        default=os.environ.get(PARTICLE_ORG_ENV) or None,
        help=f"organization slug or id (default: ${PARTICLE_ORG_ENV}, else your sandbox)",
    )
    particle.add_argument("--report-type", default="devices", choices=("devices", "products"))
    particle.add_argument(
        "--device", action="append", dest="devices", help="a device id (repeatable)"
    )
    particle.add_argument(
        "--product", action="append", dest="products", help="a product id (repeatable)"
    )
    particle.add_argument("--agreement", help="service agreement id (default: the first)")

    here = providers.add_parser("here", help="a HERE usage report")
    _common(here)
    here.add_argument("--realm-id", help="your org id (default: $HERE_REALM_ID)")
    here.add_argument("--detail-level", default="day", choices=("summarized", "day", "month"))
    here.add_argument("--group-by", help="comma list of project, billingTag, appId")
    for name in ("feature-id", "app-id", "charge-type", "project-hrn", "billing-tag", "category"):
        here.add_argument(f"--{name}")
    here.add_argument(
        "--sub-account", action="append", dest="sub_accounts", help="org id (repeatable)"
    )

    informatica = providers.add_parser("informatica", help="an Informatica metering export")
    _common(informatica)
    informatica.add_argument(
        "--job-type", default="SUMMARY", choices=("SUMMARY", "PROJECT_FOLDER", "ASSET", "JOB_LEVEL")
    )
    informatica.add_argument("--meter-id")
    informatica.add_argument("--all-linked-orgs", action="store_true")
    informatica.add_argument("--combined-meter-usage", action="store_true")
    fetch.set_defaults(func=_fetch)

    listing = subparsers.add_parser("jobs", help="list the report jobs in the journal")
    listing.add_argument("--provider", choices=("particle", "here", "informatica"))
    listing.set_defaults(func=_jobs)


def _client(args: argparse.Namespace) -> tuple[BaseClient, dict[str, Any]]:
    common = {"schedule": args.schedule}
    if args.provider == "particle":
        from .particle import ParticleClient

        params = {
            "report_type": args.report_type,
            "devices": args.devices,
            "products": args.products,
            "agreement": args.agreement,
        }
        return ParticleClient(org=args.org, **common), params
    if args.provider == "here":
        from .here import HereClient

        params = {
            "detail_level": args.detail_level,
            "group_by": args.group_by,
            "feature_id": args.feature_id,
            "app_id": args.app_id,
            "charge_type": args.charge_type,
            "project_hrn": args.project_hrn,
            "billing_tag": args.billing_tag,
            "category": args.category,
            "sub_accounts": args.sub_accounts,
        }
        return HereClient(realm_id=args.realm_id, **common), params
    from .informatica import InformaticaClient

    params = {
        "job_type": args.job_type,
        "meter_id": args.meter_id,
        "all_linked_orgs": args.all_linked_orgs,
        "combined_meter_usage": args.combined_meter_usage,
    }
    return InformaticaClient(**common), params


def _fetch(args: argparse.Namespace) -> int:
    client, params = _client(args)
    with client:
        job = client.request(args.start, args.end, refresh=args.refresh, **params)
        saved = job.download(progress=not args.no_progress, timeout=args.timeout)
    out = args.out.expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    # The raw file stays in the data directory (the journal points at it); --out gets a copy,
    # written beside it first so the final name only ever holds a whole file.
    partial = out.with_name(f".{out.name}.part")
    shutil.copyfile(saved, partial)
    os.replace(partial, out)
    print(f"{out} ({job.size} bytes, sha256 {job.sha256}; {job.provider} job {job.id})")
    for warning in job.warnings:
        print(f"warning: {warning}")
    return 0


def _jobs(args: argparse.Namespace) -> int:
    df = jobs(provider=args.provider)
    if df.empty:
        print("no report jobs yet")
        return 0
    columns = ["provider", "account", "id", "state", "requested_at", "size", "path"]
    print(df[columns].to_string(index=False))
    return 0
