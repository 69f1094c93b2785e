"""Particle Cloud API: data operations usage reports.

Calls (see ../shared/PROVIDERS.md): service agreements -> POST usage_reports
(202, pending) -> GET usage_reports/:id until ``download_url`` is set -> GET that
pre-signed URL with ``Accept: text/csv`` and no Authorization header. Sandbox paths
start ``/v1/user``, organization paths ``/v1/orgs/<org>``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .._secrets import Secret
from ..defaults import (
    PARTICLE_API_URL,
    PARTICLE_CLI_DIR,
    PARTICLE_CLI_PROFILE,
    PARTICLE_DEVICE_ID_PATTERN,
    PARTICLE_DOWNLOAD_LIFETIME,
    PARTICLE_MAX_OUTSTANDING,
    PARTICLE_NO_LINK_POLLS,
    PARTICLE_ORG_ENV,
    PARTICLE_POLL_EVERY,
    PARTICLE_POLL_SCHEDULE,
)
from ..errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    ConnectionFailed,
    InvalidParameter,
    RateLimitError,
    ReportFailed,
)
from ._base import BaseClient, credential, day_range, endpoint, one_of
from ._clock import PollSchedule
from ._http import Headers, retry_after_of
from .job import EXPIRED, FAILED, PENDING, READY, Poll, ReportJob

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ParticleClient"]

REPORT_TYPES = ("devices", "products")
_DEVICE_ID = re.compile(PARTICLE_DEVICE_ID_PATTERN)

# The reference names the ready state "available"; other words are unconfirmed, so
# the likely ones are mapped and anything else is reported with its raw value.
_PENDING_WORDS = {
    "pending",
    "queued",
    "processing",
    "in_progress",
    "running",
    "generating",
    "created",
}
_READY_WORDS = {"available", "complete", "completed", "ready", "succeeded", "success"}
_FAILED_WORDS = {"failed", "failure", "error", "errored", "canceled", "cancelled"}
_EXPIRED_WORDS = {"expired", "deleted", "archived", "gone"}
_LIMIT_WORDS = re.compile(r"outstanding|limit|too many|at a time", re.I)


_CLI_HINT = "make a new token with `particle token create` (or `particle login`)"
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


@dataclass(frozen=True)
class CliProfile:
    """What the Particle CLI saved: the file, its token, when that expires, its API URL."""

    path: Path
    token: str | None
    expires_at: datetime | None
    api_url: str | None

    def __repr__(self) -> str:
        return f"CliProfile(path={str(self.path)!r}, expires_at={self.expires_at!r})"


def _read_json_file(path: Path, *, expected: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"{path}: cannot read the Particle CLI file ({type(exc).__name__}); expected {expected}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: expected {expected}, got {type(data).__name__}")
    return data


def _expiry(value: Any, path: Path) -> datetime | None:
    """``access_token_expires_at``: an ISO 8601 time, or epoch seconds or milliseconds."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value) / (1000.0 if value > 1e11 else 1.0)
            return datetime.fromtimestamp(seconds, UTC)
        when = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise ConfigurationError(
            f"{path}: access_token_expires_at {value!r} is not a date and time; expected ISO 8601 "
            "like 2026-12-31T00:00:00Z"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def read_cli_profile(directory: str | Path = PARTICLE_CLI_DIR) -> CliProfile | None:
    """The Particle CLI's saved login: ``<dir>/<name>.config.json``, ``name`` from profile.json.

    ``profile.json`` holds ``{"name": "<profile>"}`` (default ``particle``); the config
    file holds ``access_token``, ``access_token_expires_at``, ``username`` and may
    set ``apiUrl``. None when there is no config file.
    """
    base = Path(directory).expanduser()
    name = PARTICLE_CLI_PROFILE
    profile_file = base / "profile.json"
    if profile_file.is_file():
        chosen = _read_json_file(profile_file, expected='JSON like {"name": "particle"}').get(
            "name"
        )
        if chosen is not None:
            if not isinstance(chosen, str) or not _PROFILE_NAME.match(chosen):
                raise ConfigurationError(
                    f"{profile_file}: 'name' must be a profile name (letters, digits, . _ -), "
                    f"got {chosen!r}"
                )
            name = chosen
    path = base / f"{name}.config.json"
    if not path.is_file():
        return None
    config = _read_json_file(path, expected="JSON with an 'access_token' key")
    token = config.get("access_token")
    api_url = config.get("apiUrl")
    return CliProfile(
        path=path,
        token=token.strip() if isinstance(token, str) and token.strip() else None,
        expires_at=_expiry(config.get("access_token_expires_at"), path),
        api_url=api_url.strip() if isinstance(api_url, str) and api_url.strip() else None,
    )


def _state_of(attributes: dict[str, Any]) -> Poll:
    """A Poll from a usage_report's attributes (reads ``state`` or ``status``)."""
    raw = attributes.get("state") or attributes.get("status")
    word = str(raw).strip().lower() if raw is not None else ""
    url = attributes.get("download_url")
    if url:
        # The official example treats a download link as the ready signal.
        return Poll(READY, raw, download_url=Secret(str(url)))
    if word in _PENDING_WORDS or word in _READY_WORDS or not word:
        # "available" without a link yet: keep polling until the link is there.
        return Poll(PENDING, raw)
    if word in _FAILED_WORDS:
        return Poll(FAILED, raw, message=attributes.get("error") or attributes.get("message"))
    if word in _EXPIRED_WORDS:
        return Poll(EXPIRED, raw, message="the report was deleted (Particle keeps them 7 days)")
    return Poll(FAILED, raw, message=f"Particle answered an unknown report state {raw!r}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _flatten(item: dict[str, Any]) -> dict[str, Any]:
    """A JSON:API resource as one dict: id, type and the attributes."""
    out = {"id": item.get("id"), "type": item.get("type")}
    attributes = item.get("attributes")
    if isinstance(attributes, dict):
        out.update(attributes)
    return out


class ParticleClient(BaseClient):
    """Data operations reports of a Particle sandbox (``org=None``) or organization.

    The token comes from ``token=``, else ``$PARTICLE_ACCESS_TOKEN``, else the
    Particle CLI's ``~/.particle/<profile>.config.json`` (``<profile>`` named in
    ``~/.particle/profile.json``, default ``particle``); an expired CLI token raises
    :class:`AuthenticationError` at once. The API URL from ``base_url=``, else
    ``$PARTICLE_API_URL``, else the CLI profile's ``apiUrl`` (with its token), else
    https://api.particle.io.
    """

    provider = "particle"
    max_outstanding = PARTICLE_MAX_OUTSTANDING
    download_lifetime = PARTICLE_DOWNLOAD_LIFETIME
    default_schedule = PollSchedule(PARTICLE_POLL_SCHEDULE, PARTICLE_POLL_EVERY)
    default_endpoint = PARTICLE_API_URL
    file_suffix = ".csv"

    @classmethod
    def from_environment(cls) -> ParticleClient:
        """The org from ``PARTICLE_ORG`` as in the CLI; unset means the sandbox."""
        return cls(org=os.environ.get(PARTICLE_ORG_ENV) or None)

    cli_own_range = True

    @classmethod
    def from_cli(cls, args: Any, **common: Any) -> tuple[ParticleClient, dict[str, Any]]:
        """The client and options of ``usage-analysis fetch particle``."""
        params = {
            "report_type": args.report_type,
            "devices": args.devices,
            "products": args.products,
            "agreement": args.agreement,
        }
        return cls(org=args.org, **common), params

    @classmethod
    def from_journal(cls, account: str, endpoints: Mapping[str, str]) -> ParticleClient:
        """A client for a journal row (see :meth:`BaseClient.from_journal`)."""
        org = None if account == "sandbox" else account
        return cls(org=org, base_url=endpoints.get("base_url"))

    def __init__(
        self,
        *,
        token: str | Secret | None = None,
        org: str | None = None,
        base_url: str | None = None,
        **options: Any,
    ) -> None:
        profile: CliProfile | None = None

        def from_cli() -> str | None:
            nonlocal profile
            profile = read_cli_profile()
            return profile.token if profile is not None else None

        self._token = credential(
            token,
            argument="token",
            env="PARTICLE_ACCESS_TOKEN",
            files=[
                (
                    f"{PARTICLE_CLI_DIR}/{PARTICLE_CLI_PROFILE}.config.json, or the profile "
                    f"named in {PARTICLE_CLI_DIR}/profile.json",
                    from_cli,
                )
            ],
            what="Particle access token (make one with `particle token create`)",
        )
        if org is not None and not str(org).strip():
            raise InvalidParameter(
                "org", "expected an organization slug or id, or None for the sandbox"
            )
        self.org = org
        # The CLI profile's apiUrl goes with the CLI profile's token only.
        cli_url = profile.api_url if profile is not None else None
        self.base_url = endpoint(
            base_url,
            argument="base_url",
            env="PARTICLE_API_URL",
            default=cli_url or PARTICLE_API_URL,
            fallback="apiUrl (particle CLI config)" if cli_url else "",
        ).rstrip("/")
        self._cli_profile = profile
        self._suspect: dict[str, tuple[int, str]] = {}
        self._default_agreement: str | None = None
        self._no_link: dict[str, int] = {}
        super().__init__(**options)
        expires = profile.expires_at if profile is not None else None
        if profile is not None and expires is not None and expires <= self.clock.now():
            raise AuthenticationError(
                f"the Particle CLI token in {profile.path} expired at {expires.isoformat()}",
                provider=self.provider,
                hint=f"{_CLI_HINT}, or pass token= or set PARTICLE_ACCESS_TOKEN",
            )

    def request(self, *args: Any, **kwargs: Any) -> ReportJob:
        """Same as :meth:`request_report` (the name shared by every client)."""
        return self.request_report(*args, **kwargs)

    def __repr__(self) -> str:
        return f"ParticleClient(account={self.account!r}, base_url={self.base_url!r})"

    @property
    def account(self) -> str:
        """The organization, or ``"sandbox"``."""
        return self.org or "sandbox"

    def endpoints(self) -> dict[str, str]:
        """The API URL (for resuming)."""
        return {"base_url": self.base_url}

    def _url(self, path: str) -> str:
        scope = "/v1/user" if self.org is None else f"/v1/orgs/{quote(self.org, safe='')}"
        return f"{self.base_url}{scope}{path}"

    def _headers(self) -> dict[str, str]:
        token = self._token.get() if self._token is not None else ""
        return {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    # -- public ---------------------------------------------------------------

    def service_agreements(self) -> list[dict[str, Any]]:
        """The account's service agreements: id, name, state, billing period, usage."""
        data = self.http.send_json(
            "GET",
            self._url("/service_agreements"),
            what="service agreements",
            headers=self._headers(),
        )
        return [_flatten(item) for item in data.get("data") or [] if isinstance(item, dict)]

    def notifications(self, *, agreement: str | None = None) -> list[dict[str, Any]]:
        """Usage threshold notifications (70 %, 90 %, 100 %) of a service agreement."""
        agreement = agreement or self._first_agreement()["id"]
        data = self.http.send_json(
            "GET",
            self._url(f"/service_agreements/{quote(str(agreement), safe='')}/notifications"),
            what="notifications",
            headers=self._headers(),
        )
        return [_flatten(item) for item in data.get("data") or [] if isinstance(item, dict)]

    def request_report(
        self,
        start: date | datetime | str | None = None,
        end: date | datetime | str | None = None,
        *,
        report_type: str = "devices",
        devices: Sequence[str] | None = None,
        products: Sequence[str | int] | None = None,
        agreement: str | None = None,
        refresh: bool = False,
    ) -> ReportJob:
        """Ask for a data operations report (both days included); returns its job.

        Without dates: the agreement's current billing period. Without
        ``agreement``: the first service agreement. The same request made before
        gives back that job (or its saved file) unless ``refresh=True``.
        """
        params = self._params(
            start, end, report_type=report_type, devices=devices, products=products
        )
        if "start" not in params:
            chosen = self._first_agreement() if agreement is None else self._agreement(agreement)
            agreement = str(chosen["id"])
            if "start" not in params:
                params["start"] = str(chosen.get("current_billing_period_start"))
                params["end"] = str(chosen.get("current_billing_period_end"))
                day_range(params["start"], params["end"])
        elif agreement is None:
            # Particle: the agreement id "will generally not change": asked once per client.
            if self._default_agreement is None:
                self._default_agreement = str(self._first_agreement()["id"])
            agreement = self._default_agreement
        params["agreement"] = agreement
        return self._submit(params, refresh=refresh)

    def fetch_report(
        self,
        start: date | datetime | str | None = None,
        end: date | datetime | str | None = None,
        *,
        unified: bool = False,
        timeout: float | None = None,
        progress: bool = True,
        **options: Any,
    ) -> pd.DataFrame:
        """Request, wait, download and read a report: :meth:`request_report` in one call."""
        # One deadline over the request too (BaseClient.fetch).
        return self.fetch(
            start, end, unified=unified, timeout=timeout, progress=progress, **options
        )

    # -- parameters -----------------------------------------------------------

    @staticmethod
    def _params(
        start: date | datetime | str | None,
        end: date | datetime | str | None,
        *,
        report_type: str,
        devices: Sequence[str] | None,
        products: Sequence[str | int] | None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "report_type": one_of(report_type, REPORT_TYPES, parameter="report_type")
        }
        if (start is None) != (end is None):
            missing = "end" if end is None else "start"
            raise InvalidParameter(
                missing, "give both start and end, or neither for the current billing period"
            )
        if start is not None and end is not None:
            first, last = day_range(start, end)
            params["start"], params["end"] = first.isoformat(), last.isoformat()
        if devices is not None:
            if isinstance(devices, str):
                devices = [devices]
            bad = [d for d in devices if not isinstance(d, str) or not _DEVICE_ID.match(d)]
            if bad:
                raise InvalidParameter(
                    "devices",
                    f"expected Particle device ids (24 hexadecimal characters), got {bad[:3]!r}",
                )
            params["devices"] = sorted(devices)
        if products is not None:
            if isinstance(products, str | int):
                products = [products]
            bad_products = [p for p in products if not str(p).strip() or isinstance(p, bool)]
            if bad_products:
                raise InvalidParameter(
                    "products", f"expected product ids or slugs, got {bad_products!r}"
                )
            params["products"] = sorted(str(p) for p in products)
        return params

    def _agreements_or_fail(self) -> list[dict[str, Any]]:
        agreements = self.service_agreements()
        if not agreements:
            raise ConfigurationError(
                f"the Particle account {self.account} has no service agreement to report on"
            )
        return agreements

    def _first_agreement(self) -> dict[str, Any]:
        return self._agreements_or_fail()[0]

    def _agreement(self, agreement: str) -> dict[str, Any]:
        for item in self._agreements_or_fail():
            if str(item["id"]) == str(agreement):
                return item
        raise InvalidParameter(
            "agreement", f"no service agreement {agreement!r} in account {self.account}"
        )

    # -- provider hooks -------------------------------------------------------

    def _create(self, params: dict[str, Any]) -> tuple[str, Poll]:
        body: dict[str, Any] = {
            "report_type": params["report_type"],
            "date_period_start": params["start"],
            "date_period_end": params["end"],
        }
        for key in ("devices", "products"):
            if params.get(key):
                body[key] = params[key]
        agreement = quote(str(params["agreement"]), safe="")
        data = self.http.send_json(
            "POST",
            self._url(f"/service_agreements/{agreement}/usage_reports"),
            what="report request",
            headers=self._headers(),
            json_body=body,
        )
        item = data.get("data") if isinstance(data, dict) else None
        if not isinstance(item, dict) or not item.get("id"):
            raise APIError(
                "Particle report request: the answer has no data.id", provider=self.provider
            )
        return str(item["id"]), _state_of(item.get("attributes") or {})

    def _poll(self, job: ReportJob) -> Poll:
        what = f"status of report {job.id}"
        response = self.http.send(
            "GET",
            self._url(f"/usage_reports/{quote(job.id, safe='')}"),
            what=what,
            headers=self._headers(),
        )
        data = self.http.parse_json(response, what=what)
        item = data.get("data") if isinstance(data, dict) else None
        attributes = item.get("attributes") or {} if isinstance(item, dict) else {}
        poll = _state_of(attributes)
        poll.retry_after = retry_after_of(response)
        word = str(poll.provider_state or "").strip().lower()
        if poll.state == PENDING and word in _READY_WORDS:
            # "available" without a download_url: give the link a few polls to appear.
            n = self._no_link.get(job.id, 0) + 1
            self._no_link[job.id] = n
            if n > PARTICLE_NO_LINK_POLLS:
                return Poll(
                    FAILED,
                    poll.provider_state,
                    message=f"Particle said {poll.provider_state!r} in {n} status answers but "
                    "never gave a download_url",
                )
        else:
            self._no_link.pop(job.id, None)
        return poll

    def _download_request(self, job: ReportJob) -> tuple[str | Secret, Headers]:
        if job._download_url is None:
            job.refresh()
        if job._download_url is None:
            raise ReportFailed(
                "Particle gave no download link for the report",
                job_id=job.id,
                state=job.provider_state or job.state,
                provider=self.provider,
            )
        # Pre-signed: the link is the credential, so no Authorization header is sent.
        return job._download_url, {"Accept": "text/csv"}

    def _validate_file(self, job: ReportJob, path: Path) -> None:
        # A cut that still looks complete (the length header agreeing) ends mid-row: a CSV
        # that does not end with a line break is fetched again. The same bytes twice
        # means the file really ends that way, and it is accepted.
        size = path.stat().st_size
        if size == 0:
            return
        with open(path, "rb") as f:
            f.seek(-1, 2)
            if f.read(1) == b"\n":
                return
        fingerprint = (size, _sha256(path))
        if self._suspect.get(job.id) == fingerprint:
            return
        self._suspect[job.id] = fingerprint
        raise ConnectionFailed(
            f"Particle report {job.id} ends mid-line: the download looks cut",
            provider=self.provider,
        )

    def _is_limit_refusal(self, exc: APIError) -> bool:
        if isinstance(exc, RateLimitError):
            return True
        return exc.status in (400, 403, 409, 422) and bool(_LIMIT_WORDS.search(str(exc)))
