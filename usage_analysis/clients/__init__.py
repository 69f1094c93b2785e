"""Report clients: request, wait for and download usage reports, with nothing lost.

``ParticleClient``, ``HereClient`` and ``InformaticaClient`` each return a
:class:`ReportJob` (``wait()``, ``download()``, ``to_dataframe()``); every job is
kept in the journal (``jobs()``, ``resume()``). See docs/clients.md.
"""

from __future__ import annotations

from ._base import fetch_many
from ._clock import FakeClock, PollSchedule, SystemClock
from ._http import RetryPolicy
from .here import HereClient
from .informatica import InformaticaClient
from .job import IncompleteDownloadWarning, PartialReportWarning, ReportJob
from .journal import Journal, jobs, resume
from .particle import ParticleClient

__all__ = [
    "FakeClock",
    "HereClient",
    "IncompleteDownloadWarning",
    "InformaticaClient",
    "Journal",
    "PartialReportWarning",
    "ParticleClient",
    "PollSchedule",
    "ReportJob",
    "RetryPolicy",
    "SystemClock",
    "fetch_many",
    "jobs",
    "resume",
]
