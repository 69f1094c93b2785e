"""usage-analysis: request, read and chart Particle, HERE and Informatica usage reports.

Data flows one way: provider API -> raw file on disk -> typed provider frame ->
unified usage frame -> analysis -> figure / widget. See ARCHITECTURE.md.
"""

from __future__ import annotations

from .analysis import (
    AllowanceStatus,
    Costs,
    InformaticaPrices,
    IPUAlert,
    IPUStatus,
    ParticlePlan,
    ParticlePlanStatus,
    ParticlePrices,
    PriceBook,
    RateCard,
    anomalies,
    compare_periods,
    costs,
    example_prices,
    forecast,
    here_costs,
    here_usage,
    ipu_alerts,
    ipu_status,
    ipu_usage,
    load_prices,
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
from .focus import to_focus
from .monitors import Monitor, MonitorSet, load_monitors
from .readers import (
    CoercedValuesWarning,
    Detection,
    MissingValuesWarning,
    SummaryRowWarning,
    detect,
    read_report,
    to_unified,
)
from .refreshing import refresh
from .schema import UNIFIED_COLUMNS, concat, validate_unified

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
    "Costs",
    "Detection",
    # clients
    "HereClient",
    "IPUAlert",
    "IPUStatus",
    "InformaticaClient",
    "InformaticaPrices",
    "InvalidParameter",
    "LimitExceeded",
    "MissingValuesWarning",
    "Monitor",
    "MonitorSet",
    "NotFoundError",
    "ParticleClient",
    "ParticlePlan",
    "ParticlePlanStatus",
    "ParticlePrices",
    "PriceBook",
    "RateCard",
    "RateLimitError",
    "ReportFailed",
    "ReportJob",
    "ReportParseError",
    "ReportTimeout",
    "SchemaError",
    "ServerError",
    "SummaryRowWarning",
    "UnitMismatch",
    "UsageAnalysisError",
    "__version__",
    "anomalies",
    # archive
    "archive_file",
    "archive_frame",
    "compare_periods",
    "concat",
    "costs",
    "detect",
    "example_prices",
    "fetch_many",
    "forecast",
    "here_costs",
    "here_usage",
    "history",
    "ipu_alerts",
    "ipu_status",
    "ipu_usage",
    "jobs",
    "load_monitors",
    "load_prices",
    "meter_catalog",
    "meter_ids",
    "meter_name",
    "overview",
    "plan_status",
    "read_report",
    "refresh",
    "resume",
    "sql",
    "to_focus",
    "to_unified",
    "top_consumers",
    "usage_by",
    "validate_unified",
]
