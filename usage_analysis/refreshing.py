"""``refresh``: fetch the reports an archive is missing and archive them.

``archive_report(job)`` keeps one fetched report in the archive: clients only
fetch and read (``ReportJob.to_dataframe`` never archives), so whoever asks for
a report and wants it kept (``refresh``, the request widget, a notebook) calls it.

Orchestration, above both layers it drives: the clients (``usage_analysis.clients``)
request and download reports, the archive (``usage_analysis.archive``) stores
them. Neither of those imports this module.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import pandas as pd

from . import providers
from .archive import ArchiveWrite, archive_frame, last_archived
from .archive._read import _timestamp
from .defaults import HERE_DATA_LAG
from .errors import InvalidParameter

__all__ = ["ArchiveWarning", "archive_report", "refresh"]

log = logging.getLogger(__name__)


class ArchiveWarning(UserWarning):
    """A report was read but could not be written to the usage archive."""


def archive_report(
    job: Any,
    frame: pd.DataFrame | None = None,
    *,
    archive: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> ArchiveWrite:
    """Write a fetched report's unified rows to the archive, as report ``provider:id``.

    ``job`` is a :class:`~usage_analysis.clients.ReportJob` (downloaded first when
    needed); ``frame`` its unified rows when already read (``job.to_dataframe(
    unified=True)``), else they are read here. Providers delete reports after a few
    days: this keeps them (``usage_analysis.history()``).
    """
    if frame is None:
        frame = job.to_dataframe(unified=True)
    return archive_frame(
        frame,
        report_id=f"{job.provider}:{job.id}",
        source=job.path,
        account=str(job.account),
        archive=archive,
        storage_options=storage_options,
    )


# How long a provider's latest usage stays provisional after it was reported.
PROVISIONAL = {"here": pd.Timedelta(HERE_DATA_LAG)}


def _default_client(provider: str) -> Any:
    """The provider's client, configured from the environment (see docs/clients.md)."""
    return providers.get(provider).client_class().from_environment()


def _day(value: str | date | datetime, parameter: str) -> pd.Timestamp:
    """The UTC day of a date argument (the archive's own parsing, floored)."""
    return _timestamp(value, parameter).floor("D")


def refresh(
    provider: str,
    *,
    until: str | date | datetime | None = None,
    start: str | date | datetime | None = None,
    client: Any = None,
    archive: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    progress: bool = False,
    timeout: float | None = None,
    **request_options: Any,
) -> list[ArchiveWrite]:
    """Fetch and archive only the days missing since the last archived period.

    The gap runs from the end of the latest archived period of the client's
    account (its day, so a partly archived day is asked for again and replaced;
    for HERE, from 48 hours before that period was archived, since HERE's latest
    usage is provisional for up to 48 hours and is asked for again until final)
    up to ``until`` (exclusive, default today in UTC: today is not over). When the
    archive has nothing for this account yet, ``start`` says the first day. The
    client (default: built from the environment) splits the gap into windows the
    provider accepts (HERE 95 days, Informatica 180 or 30) and keeps within its
    limit of outstanding reports; each provider job is archived as its own report
    (one commit each). ``request_options`` go to the client's ``request``
    (``report_type=``, ``detail_level=``, ``job_type=``...). Returns one
    :class:`~usage_analysis.archive.ArchiveWrite` per provider job, none when the
    archive is up to date.
    """
    providers.get(provider)  # InvalidParameter naming the known ones
    own = client is None
    if client is None:
        client = _default_client(provider)
    elif getattr(client, "provider", provider) != provider:
        raise InvalidParameter(
            "client", f"expected a {provider} client, got one for {client.provider!r}"
        )
    try:
        account = str(client.account)
        stop = _day(until, "until") if until is not None else pd.Timestamp.now(tz="UTC").floor("D")
        last, archived = last_archived(
            provider, account, archive=archive, storage_options=storage_options
        )
        if last is not None:
            first = last.floor("D")
            lag = PROVISIONAL.get(provider)
            if lag is not None and archived is not None and archived - lag < last:
                # Days that were still provisional when archived are asked for again.
                first = min(first, (archived - lag).floor("D"))
        elif start is not None:
            first = _day(start, "start")
        else:
            raise InvalidParameter(
                "start",
                f"the archive holds no {provider} usage of account {account!r} yet: "
                "give start= (the first day to fetch)",
            )
        last_day = stop - pd.Timedelta(days=1)
        if first > last_day:
            log.debug("%s %s: archive is up to date until %s", provider, account, stop.date())
            return []
        log.debug("%s %s: fetching %s..%s", provider, account, first.date(), last_day.date())
        job = client.request(first.date(), last_day.date(), **request_options)
        job.download(progress=progress, timeout=timeout)
        written = []
        for leaf in job.leaves():
            written.append(archive_report(leaf, archive=archive, storage_options=storage_options))
        return written
    finally:
        if own:
            client.close()
