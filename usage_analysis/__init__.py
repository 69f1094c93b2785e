"""usage-analysis: request, read and chart Particle, HERE and Informatica usage reports.

Data flows one way: provider API -> raw file on disk -> typed provider frame ->
unified usage frame -> analysis -> figure / widget. See ARCHITECTURE.md.
"""

from __future__ import annotations

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
from .archive import archive_file, archive_frame, history, sql
from .catalog import meter_catalog, meter_ids, meter_name
from .clients import (
    HereClient,
    InformaticaClient,
    ParticleClient,
    ReportJob,
    fetch_many,
    jobs,
    resume,
)
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
from .readers import CoercedValuesWarning, Detection, detect, read_report, to_unified
from .refreshing import refresh
from .schema import UNIFIED_COLUMNS, validate_unified

__version__ = "0.1.0"

__all__ = [
    "UNIFIED_COLUMNS",
    "APIError",
    # analysis
    "AllowanceStatus",
    "AuthenticationError",
    # readers
    "CoercedValuesWarning",
    "ConfigurationError",
    "ConnectionFailed",
    "Detection",
    # clients
    "HereClient",
    "IPUAlert",
    "IPUStatus",
    "InformaticaClient",
    "InvalidParameter",
    "LimitExceeded",
    "NotFoundError",
    "ParticleClient",
    "ParticlePlan",
    "ParticlePlanStatus",
    "RateCard",
    "RateLimitError",
    "ReportFailed",
    "ReportJob",
    "ReportParseError",
    "ReportTimeout",
    "SchemaError",
    "ServerError",
    "UnitMismatch",
    "UsageAnalysisError",
    "__version__",
    "anomalies",
    # archive
    "archive_file",
    "archive_frame",
    "compare_periods",
    "detect",
    "fetch_many",
    "forecast",
    "here_costs",
    "here_usage",
    "history",
    "ipu_alerts",
    "ipu_status",
    "ipu_usage",
    "jobs",
    "meter_catalog",
    "meter_ids",
    "meter_name",
    "overview",
    "plan_status",
    "read_report",
    "refresh",
    "resume",
    "sql",
    "to_unified",
    "top_consumers",
    "usage_by",
    "validate_unified",
]
