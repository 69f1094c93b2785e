"""Defaults, each a named constant with the reason for its value.

Provider facts come from ../shared/PROVIDERS.md; change them here only.
"""

from __future__ import annotations

from datetime import timedelta

# --- Providers -------------------------------------------------------------
PROVIDERS = ("particle", "here", "informatica")

PARTICLE_API_URL = "https://api.particle.io"
# Particle: "There is a limit of 3 outstanding report requests at a time."
PARTICLE_MAX_OUTSTANDING = 3
# Particle's official polling advice: 15 s, then 30 s, then 60 s, then every minute.
PARTICLE_POLL_SCHEDULE: tuple[float, ...] = (15.0, 30.0, 60.0)
PARTICLE_POLL_EVERY = 60.0
# Particle deletes report downloads after 7 days.
PARTICLE_DOWNLOAD_LIFETIME = timedelta(days=7)
# Free plan: 100,000 data operations per month pooled, up to 100 devices.
PARTICLE_FREE_DATA_OPS = 100_000
PARTICLE_FREE_DEVICES = 100
# Basic plan: a block is 720,000 data operations per month and up to 100 devices.
PARTICLE_BLOCK_DATA_OPS = 720_000
PARTICLE_BLOCK_DEVICES = 100
# Particle sends warnings at 70 %, 90 % and 100 % of the allowance.
PARTICLE_THRESHOLDS: tuple[float, ...] = (0.70, 0.90, 1.00)
# Particle device ids are 24 hexadecimal characters.
PARTICLE_DEVICE_ID_PATTERN = r"^[0-9a-fA-F]{24}$"

HERE_API_URL = "https://usage.bam.api.here.com/v2"
HERE_TOKEN_URL = "https://account.api.here.com/oauth2/token"
# HERE: a report holds at most 1,000,000 records and spans at most 95 days.
HERE_MAX_RECORDS = 1_000_000
HERE_MAX_SPAN = timedelta(days=95)
# HERE JSON search pages: limit 1..100, default and max 100.
HERE_PAGE_LIMIT = 100
# HERE: data latency about 2 h for location services, up to 48 h for others.
HERE_DATA_LAG = timedelta(hours=48)

INFORMATICA_LOGIN_URL = "https://dm-us.informaticacloud.com/saas/public/core/v3/login"
# Informatica: at most 5 active (CREATED or PROCESSING) export jobs per org.
INFORMATICA_MAX_ACTIVE = 5
# Informatica sessions expire after 30 minutes idle.
INFORMATICA_SESSION_IDLE = timedelta(minutes=30)
# Informatica: downloads are available for 3 days after success.
INFORMATICA_DOWNLOAD_LIFETIME = timedelta(days=3)
# Informatica: maximum span per export job type.
INFORMATICA_MAX_SPAN: dict[str, timedelta] = {
    "SUMMARY": timedelta(days=180),
    "PROJECT_FOLDER": timedelta(days=30),
    "ASSET": timedelta(days=30),
    "JOB_LEVEL": timedelta(days=180),
}
# Informatica's built-in admin e-mails fire at these shares of the IPU entitlement.
INFORMATICA_THRESHOLDS: tuple[float, ...] = (0.25, 0.50, 0.75, 0.95, 1.00)

# --- Reading files ---------------------------------------------------------
# Archives: refuse more members, or more uncompressed bytes, than any real
# report has, and compression ratios typical only of zip bombs.
MAX_ZIP_MEMBERS = 1_000
MAX_UNCOMPRESSED_BYTES = 8 * 1024**3
MAX_COMPRESSION_RATIO = 200.0
# How many offending rows a ReportParseError lists.
MAX_BAD_ROWS_SHOWN = 5

# --- Waiting and retrying --------------------------------------------------
# Transient failures (connect errors, timeouts, 429, 5xx) are retried this often,
# for at most this long, with jittered exponential backoff from RETRY_WAIT_INITIAL.
RETRY_ATTEMPTS = 6
RETRY_TIMEOUT = 120.0
RETRY_WAIT_INITIAL = 0.5
RETRY_WAIT_MAX = 30.0
# HTTP timeouts: reports can be large, so reads may take a while.
HTTP_TIMEOUT = 60.0

# --- Data directory --------------------------------------------------------
# Where the journal, raw downloads and the archive live; overridable by env.
HOME_ENV = "USAGE_ANALYSIS_HOME"
APP_NAME = "usage-analysis"
