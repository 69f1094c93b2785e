"""usage-analysis: request, read and chart Particle, HERE and Informatica usage reports.

Data flows one way: provider API -> raw file on disk -> typed provider frame ->
unified usage frame -> analysis -> figure / widget. See ARCHITECTURE.md.
"""

from __future__ import annotations

from .errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    ConnectionFailed,
    InvalidParameter,
    LimitExceeded,
    NotFoundError,
    RateLimitError,
    ReportFailed,
    ReportParseError,
    ReportTimeout,
    SchemaError,
    ServerError,
    UnitMismatch,
    UsageAnalysisError,
)
from .schema import UNIFIED_COLUMNS, validate_unified

# --- readers (issue 2) ---
from .catalog import meter_catalog, meter_ids, meter_name
from .readers import CoercedValuesWarning, Detection, detect, read_report, to_unified
# --- clients (issue 4) ---
from .clients import (
    HereClient,
    InformaticaClient,
    ParticleClient,
    ReportJob,
    fetch_many,
    jobs,
    resume,
)
# --- analysis (issue 5) ---
from .analysis import (
    AllowanceStatus,
    IPUAlert,
    IPUStatus,
    ParticlePlan,
    ParticlePlanStatus,
    RateCard,
    anomalies,
    compare_periods,
    forecast,
    here_costs,
    here_usage,
    ipu_alerts,
    ipu_status,
    ipu_usage,
    overview,
    plan_status,
    top_consumers,
    usage_by,
)
# --- archive (issue 7) ---
from .archive import archive_file, archive_frame, history, refresh, sql

__version__ = "0.1.0"

__all__ = [
    "UNIFIED_COLUMNS",
    "APIError",
    "AuthenticationError",
    "ConfigurationError",
    "ConnectionFailed",
    "InvalidParameter",
    "LimitExceeded",
    "NotFoundError",
    "RateLimitError",
    "ReportFailed",
    "ReportParseError",
    "ReportTimeout",
    "SchemaError",
    "ServerError",
    "UnitMismatch",
    "UsageAnalysisError",
    "__version__",
    "validate_unified",
    # readers
    "CoercedValuesWarning",
    "Detection",
    "detect",
    "meter_catalog",
    "meter_ids",
    "meter_name",
    "read_report",
    "to_unified",
    # clients
    "HereClient",
    "InformaticaClient",
    "ParticleClient",
    "ReportJob",
    "fetch_many",
    "jobs",
    "resume",
    # analysis
    "AllowanceStatus",
    "IPUAlert",
    "IPUStatus",
    "ParticlePlan",
    "ParticlePlanStatus",
    "RateCard",
    "anomalies",
    "compare_periods",
    "forecast",
    "here_costs",
    "here_usage",
    "ipu_alerts",
    "ipu_status",
    "ipu_usage",
    "overview",
    "plan_status",
    "top_consumers",
    "usage_by",
    # archive
    "archive_file",
    "archive_frame",
    "history",
    "refresh",
    "sql",
]
