"""Defaults, each a named constant with the reason for its value.

Provider facts come from ../shared/PROVIDERS.md; change them here only.
"""

from __future__ import annotations

from datetime import timedelta

# --- Providers -------------------------------------------------------------
PROVIDERS = ("particle", "here", "informatica")
# How people write each provider (frames and journals hold the lower-case keys).
PROVIDER_NAMES: dict[str, str] = {
    "particle": "Particle",
    "here": "HERE",
    "informatica": "Informatica",
}

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
# Members are counted, and bytes summed, across nested archives (a ZIP of ZIPs).
MAX_ZIP_MEMBERS = 1_000
# What a laptop survives decompressing (a 1M-row HERE report is ~180 MB); checked
# while streaming. Raise it (usage_analysis.defaults.MAX_UNCOMPRESSED_BYTES = ...)
# for a larger file.
MAX_UNCOMPRESSED_BYTES = 2 * 1024**3
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

# --- Readers (issue 2) -----------------------------------------------------
# The compression-ratio cap applies only once a member or stream expands past
# this size: a few KB of repeated CSV lines compress far beyond any cap, harmlessly.
RATIO_CHECK_MIN_BYTES = 1024**2

# --- Analysis (issue 5) ----------------------------------------------------
# The bucket that collects the groups left out of a top-N table.
OTHER_LABEL = "other"
# Anomalies: a day is compared with the median of the previous 28 days (four
# whole weeks, so weekday/weekend patterns weigh the same in every window) ...
ANOMALY_WINDOW = 28
# ... and only once a resource has two weeks of history (a spread estimated from
# fewer days is too unsteady: one quiet week makes ordinary days look like spikes).
ANOMALY_MIN_PERIODS = 14
# Robust z-score above which a day is reported (5 is far in the tail even for
# noisy devices; 3 flags ordinary weekly swings).
ANOMALY_THRESHOLD = 5.0
# The spread used in the score is at least this share of the usual level, so a
# perfectly flat series (MAD 0) does not turn a 1 % wobble into an anomaly.
ANOMALY_MIN_SPREAD = 0.05
# ... and a spike must be at least 1.5x the usual level (a drop at most 1/1.5 of
# it): steady devices make small changes statistically significant but not costly.
ANOMALY_MIN_FACTOR = 1.5
# Forecast: the daily rate is the mean of the last 28 complete days (four weeks).
FORECAST_LOOKBACK_DAYS = 28
# Forecast: the width of the projection interval (central probability).
FORECAST_INTERVAL = 0.80

# --- Clients (issue 4) -----------------------------------------------------
# Set to "0.5,1,2" (seconds; the last one repeats) to poll faster, e.g. on the emulator.
POLL_SCHEDULE_ENV = "USAGE_ANALYSIS_POLL_SCHEDULE"
# HERE gives no polling advice; its reports take minutes: check often at first, then each minute.
HERE_POLL_SCHEDULE: tuple[float, ...] = (10.0, 20.0, 30.0)
HERE_POLL_EVERY = 60.0
# Informatica gives no polling advice; exports take seconds to minutes.
INFORMATICA_POLL_SCHEDULE: tuple[float, ...] = (5.0, 10.0, 20.0)
INFORMATICA_POLL_EVERY = 30.0
# Waiting for a free slot under a provider's outstanding-jobs limit gives up after an
# hour: the jobs ahead take minutes each, so longer means something is stuck.
LIMIT_WAIT_TIMEOUT = 3600.0
# A slot reserved by a process that died before sending its request is freed after this.
LIMIT_RESERVATION_TTL = 300.0
# fetch_report() asks again for a report the provider says failed, at most this often.
REPORT_REREQUESTS = 2
# Provider error bodies are cut to this many characters in exception messages.
ERROR_BODY_CHARS = 300
# Credential files: HERE's credentials.properties (the Particle CLI's are below).
HERE_CREDENTIALS_FILE = "~/.here/credentials.properties"
HERE_CREDENTIALS_ENV = "HERE_CREDENTIALS"

# --- Charts and widgets (issue 6) ------------------------------------------
# A figure shows at most this many groups on their own (the rest are "other"):
# more colours than that cannot be told apart in a legend.
CHART_MAX_SERIES = 25
# A time chart draws at most this many points (groups x periods); beyond, days
# become weeks, then months. Keeps a figure's JSON far under 500 KB.
CHART_MAX_POINTS = 6_000
# A heatmap or treemap has at most this many cells (e.g. 30 devices x 400 days).
CHART_MAX_CELLS = 12_000
# Panels per figure, one per unit: more units than this needs a filter first.
CHART_MAX_UNITS = 8
# ReportRequester: with no other information, a request covers this many days.
WIDGET_DEFAULT_DAYS = 30
# UsageExplorer: the top consumers table lists this many rows.
EXPLORER_TOP_ROWS = 10

# --- Demo and notebooks (issue 6) ------------------------------------------
# The Particle organization connect() asks for when none is passed (sandbox if unset).
PARTICLE_ORG_ENV = "PARTICLE_ORG"
# Set by `make demo` to the emulator's base URL, so connect() can say the data is emulated.
DEMO_EMULATOR_ENV = "USAGE_ANALYSIS_EMULATOR_URL"
# The embedded emulator's seed and speed: fixed, so every run shows the same world,
# and "fast" finishes report jobs in about a second.
DEMO_SEED = 7
DEMO_SPEED = "fast"
# Against the emulator a report takes about a second: check its status this often.
DEMO_POLL_SCHEDULE = "0.2,0.5,1"

# --- Archive (issue 7) -----------------------------------------------------
# Where the Parquet archive lives when no archive= is given (a path or fsspec URL).
ARCHIVE_ENV = "USAGE_ANALYSIS_ARCHIVE"
# Without the variable: this sub-directory of the data directory.
ARCHIVE_DIRNAME = "archive"

# --- Bounded waits and credentials (issue 11) -------------------------------
# A server's Retry-After is honoured up to 10 minutes: longer (1e9 s, a date in
# 2099, inf) is a misbehaving server, and the job stays resumable for later.
MAX_RETRY_AFTER = 600.0
# Redirects are followed by our own code (credentials never cross an origin), at most this often.
MAX_REDIRECTS = 10
# A JSON answer (status, search page, login) larger than this is refused: the largest
# real one, a HERE search page of 100 records, is about 100 KB.
MAX_JSON_BYTES = 16 * 1024**2
# A JSON answer must arrive whole within this long, even when no deadline was given:
# a body dripping a byte at a time never ends a per-read timeout.
JSON_ANSWER_TIMEOUT = 120.0
# One alert's delivery to all its destinations (apprise) ends within this long: a webhook
# that drips its answer must not hold `usage-analysis check` (issue 18).
NOTIFY_TIMEOUT = 30.0
# wait()/download()/fetch() with timeout=None wait at most this long: no provider documents
# a report taking more than minutes (Particle's own example gives up after an hour); a job
# pending for 6 hours is stuck, and stays resumable. timeout=math.inf waits for ever.
REPORT_TIMEOUT = 6 * 3600.0
# A download larger than the readers accept (MAX_UNCOMPRESSED_BYTES) is stopped: no real
# report is that large, and a server that never stops sending must not fill the disk.
MAX_DOWNLOAD_BYTES = MAX_UNCOMPRESSED_BYTES
# Particle says "available" but gives no download_url: asked this many more times, then an error.
PARTICLE_NO_LINK_POLLS = 5
# The journal waits this long for another process's write lock before saying it is locked.
JOURNAL_LOCK_TIMEOUT = 60.0
# A leftover ".part" download of a process that cannot be checked is removed after this.
STALE_PART_AGE = timedelta(days=1)
# Particle CLI: the profile file names the config file holding the token (default "particle").
PARTICLE_CLI_DIR = "~/.particle"
PARTICLE_CLI_PROFILE = "particle"
