"""Informatica IDMC platform REST API v3: metering data exports and IPU alerts.

Calls (see ../shared/PROVIDERS.md): POST <login URL> -> ``userInfo.sessionId`` and
``products[0].baseApiUrl``; then, with header ``INFA-SESSION-ID``, POST
.../license/metering/ExportMeteringData (or ExportServiceJobLevelMeteringData) ->
GET .../ExportMeteringData/<jobId> until SUCCESS -> GET .../<jobId>/download (a ZIP).
Sessions expire after 30 minutes idle: the client logs in again, once, and retries.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import httpx

from .._secrets import Secret, get_logger
from ..defaults import (
    INFORMATICA_DOWNLOAD_LIFETIME,
    INFORMATICA_LOGIN_URL,
    INFORMATICA_MAX_ACTIVE,
    INFORMATICA_MAX_SPAN,
    INFORMATICA_POLL_EVERY,
    INFORMATICA_POLL_SCHEDULE,
)
from ..errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    ConnectionFailed,
    InvalidParameter,
    RateLimitError,
)
from ._base import (
    BaseClient,
    check_endpoint,
    credential,
    day_range,
    day_windows,
    endpoint,
    one_of,
    setting,
)
from ._clock import PollSchedule
from ._http import Headers, retry_after_of
from .job import FAILED, PENDING, READY, Poll, ReportJob

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["InformaticaClient"]

log = get_logger(__name__)

T = TypeVar("T")

JOB_TYPES = ("SUMMARY", "PROJECT_FOLDER", "ASSET", "JOB_LEVEL")
_METERING = "/public/core/v3/license/metering"
_STATES = {
    "CREATED": PENDING,
    "PROCESSING": PENDING,
    "QUEUED": PENDING,
    "SUCCESS": READY,
    "PARTIAL_SUCCESS": READY,
    "FAILED": FAILED,
}


class InformaticaClient(BaseClient):
    """Metering data exports of an Informatica IDMC org.

    Credentials: ``username=``/``password=``, else ``$INFORMATICA_USERNAME`` and
    ``$INFORMATICA_PASSWORD``; or an existing ``session_id=`` with its
    ``base_api_url=`` and ``org_id=`` (no re-login possible then). The login URL
    names the pod: ``login_url=``, else ``$INFORMATICA_LOGIN_URL``, else dm-us.
    """

    provider = "informatica"
    max_outstanding = INFORMATICA_MAX_ACTIVE
    download_lifetime = INFORMATICA_DOWNLOAD_LIFETIME
    default_schedule = PollSchedule(INFORMATICA_POLL_SCHEDULE, INFORMATICA_POLL_EVERY)
    default_endpoint = INFORMATICA_LOGIN_URL
    file_suffix = ".zip"

    @classmethod
    def from_cli(cls, args: Any, **common: Any) -> tuple[InformaticaClient, dict[str, Any]]:
        """The client and options of ``usage-analysis fetch informatica``."""
        params = {
            "job_type": args.job_type,
            "meter_id": args.meter_id,
            "all_linked_orgs": args.all_linked_orgs,
            "combined_meter_usage": args.combined_meter_usage,
        }
        return cls(**common), params

    @classmethod
    def from_journal(cls, account: str, endpoints: Mapping[str, str]) -> InformaticaClient:
        """A client for a journal row (see :meth:`BaseClient.from_journal`)."""
        return cls(login_url=endpoints.get("login_url"))

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | Secret | None = None,
        session_id: str | Secret | None = None,
        login_url: str | None = None,
        base_api_url: str | None = None,
        org_id: str | None = None,
        **options: Any,
    ) -> None:
        self.login_url = endpoint(
            login_url,
            argument="login_url",
            env="INFORMATICA_LOGIN_URL",
            default=INFORMATICA_LOGIN_URL,
        )
        self._session: Secret | None = Secret(session_id) if session_id else None
        self.base_api_url = (
            check_endpoint(base_api_url, parameter="base_api_url").rstrip("/")
            if base_api_url
            else None
        )
        self.org_id = org_id
        if self._session is not None:
            if not base_api_url:
                raise ConfigurationError(
                    "session_id= needs base_api_url= too (the login answer's baseApiUrl)"
                )
            if not org_id:
                raise ConfigurationError(
                    "session_id= needs org_id= too (the login answer's userInfo.orgId)"
                )
        required = self._session is None
        user = setting(username, env="INFORMATICA_USERNAME", default=None)
        if user is None and required:
            raise ConfigurationError(
                "no Informatica user name: pass username= or set INFORMATICA_USERNAME "
                "(or pass session_id=)"
            )
        self.username = user
        self._password = credential(
            password,
            argument="password",
            env="INFORMATICA_PASSWORD",
            required=required,
            what="Informatica password",
        )
        super().__init__(**options)

    def request(self, *args: Any, **kwargs: Any) -> ReportJob:
        """Same as :meth:`request_export` (the name shared by every client)."""
        return self.request_export(*args, **kwargs)

    def __repr__(self) -> str:
        who = self.org_id or "not logged in"
        return f"InformaticaClient(account={who!r}, login_url={self.login_url!r})"

    @property
    def account(self) -> str:
        """The org id (logs in to learn it)."""
        if self.org_id is None:
            self.login()
        assert self.org_id is not None
        return self.org_id

    def endpoints(self) -> dict[str, str]:
        """The login URL (for resuming)."""
        return {"login_url": self.login_url}

    # -- session --------------------------------------------------------------

    def login(self) -> None:
        """Log in: a new session id, the org id and the base API URL."""
        if self.username is None or self._password is None:
            raise AuthenticationError(
                "the Informatica session expired and no user name and password were given to "
                "log in again",
                provider=self.provider,
                hint="pass username= and password= (or set INFORMATICA_USERNAME and "
                "INFORMATICA_PASSWORD) so the client can log in by itself",
            )
        password = self._password
        username = self.username
        data = self.http.send_json(
            "POST",
            self.login_url,
            what="login",
            headers={"Accept": "application/json"},
            json_body={"username": username, "password": password.get()},
        )
        info = data.get("userInfo") if isinstance(data, dict) else None
        products = data.get("products") if isinstance(data, dict) else None
        if not isinstance(info, dict) or not info.get("sessionId"):
            raise AuthenticationError(
                "Informatica login: the answer has no userInfo.sessionId", provider=self.provider
            )
        if not isinstance(products, list) or not products or not products[0].get("baseApiUrl"):
            raise APIError(
                "Informatica login: the answer has no products[0].baseApiUrl",
                provider=self.provider,
            )
        self._session = Secret(str(info["sessionId"]))
        self.org_id = str(info.get("orgId") or self.org_id or "")
        self.base_api_url = str(products[0]["baseApiUrl"]).rstrip("/")
        log.debug("informatica: logged in to org %s", self.org_id)

    def _headers(self) -> dict[str, str]:
        if self._session is None:
            self.login()
        assert self._session is not None
        return {"INFA-SESSION-ID": self._session.get(), "Accept": "application/json"}

    def _url(self, path: str) -> str:
        if self.base_api_url is None:
            self.login()
        return f"{self.base_api_url}{path}"

    def _relogin_once(self, call: Callable[[], T]) -> T:
        """``call()``; when the session is refused, log in again and call once more."""
        try:
            return call()
        except AuthenticationError:
            if self.username is None or self._password is None:
                raise
            log.debug("informatica: session refused; logging in again")
            self.login()
            return call()

    def _call(self, method: str, path: str, *, what: str, **kwargs: Any) -> httpx.Response:
        return self._relogin_once(
            lambda: self.http.send(
                method, self._url(path), what=what, headers=self._headers, **kwargs
            )
        )

    def _send(self, method: str, path: str, *, what: str, **kwargs: Any) -> Any:
        return self.http.parse_json(self._call(method, path, what=what, **kwargs), what=what)

    # -- public ---------------------------------------------------------------

    def request_export(
        self,
        start: date | datetime | str,
        end: date | datetime | str,
        *,
        job_type: str = "SUMMARY",
        meter_id: str | None = None,
        all_linked_orgs: bool = False,
        combined_meter_usage: bool = False,
        refresh: bool = False,
    ) -> ReportJob:
        """Ask for a metering export from ``start`` to ``end`` (both days included).

        Longer than the job type allows (30 days for PROJECT_FOLDER and ASSET, 180
        for SUMMARY and JOB_LEVEL): asked for in spans, joined on download.
        """
        params = self._params(
            start,
            end,
            job_type=job_type,
            meter_id=meter_id,
            all_linked_orgs=all_linked_orgs,
            combined_meter_usage=combined_meter_usage,
        )
        return self._submit(params, refresh=refresh)

    def fetch_export(
        self,
        start: date | datetime | str,
        end: date | datetime | str,
        *,
        unified: bool = False,
        timeout: float | None = None,
        progress: bool = True,
        **options: Any,
    ) -> pd.DataFrame:
        """Request, wait, download and read an export: :meth:`request_export` in one call."""
        # One deadline over the request too (BaseClient.fetch).
        return self.fetch(
            start, end, unified=unified, timeout=timeout, progress=progress, **options
        )

    def ipu_alerts(self, *, org_id: str | None = None) -> list[dict[str, Any]]:
        """IPU alert thresholds and consumption of an org (default: the logged-in org)."""
        org = quote(org_id or self.account, safe="")
        data = self._send(
            "GET", f"/public/core/v3/metering/ipuAlert/org('{org}')", what="IPU alerts"
        )
        return data if isinstance(data, list) else [data]

    def ipu_alert_tags(self, *, org_id: str | None = None) -> list[dict[str, Any]]:
        """IPU alert thresholds and consumption per project and folder."""
        org = quote(org_id or self.account, safe="")
        data = self._send(
            "GET",
            f"/public/core/v3/metering/ipuAlert/org('{org}')/viewTagsPreference",
            what="IPU alert tags",
        )
        return data if isinstance(data, list) else [data]

    # -- parameters -----------------------------------------------------------

    @staticmethod
    def _params(
        start: date | datetime | str,
        end: date | datetime | str,
        *,
        job_type: str,
        meter_id: str | None,
        all_linked_orgs: bool,
        combined_meter_usage: bool,
    ) -> dict[str, Any]:
        job_type = one_of(job_type, JOB_TYPES, parameter="job_type")
        first, last = day_range(start, end)
        if meter_id is not None and (not isinstance(meter_id, str) or not meter_id.strip()):
            raise InvalidParameter("meter_id", f"expected a meter id string, got {meter_id!r}")
        if meter_id is not None and job_type in ("SUMMARY", "PROJECT_FOLDER"):
            raise InvalidParameter(
                "meter_id",
                f"{job_type} exports cover every meter; meter_id applies to ASSET and JOB_LEVEL",
            )
        for name, value in (
            ("all_linked_orgs", all_linked_orgs),
            ("combined_meter_usage", combined_meter_usage),
        ):
            if not isinstance(value, bool):
                raise InvalidParameter(name, f"expected True or False, got {value!r}")
        params: dict[str, Any] = {
            "job_type": job_type,
            "start": first.isoformat(),
            "end": last.isoformat(),
            "all_linked_orgs": all_linked_orgs,
            "combined_meter_usage": combined_meter_usage,
        }
        if meter_id is not None:
            params["meter_id"] = meter_id
        return params

    def _windows(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        first, last = date.fromisoformat(params["start"]), date.fromisoformat(params["end"])
        span = INFORMATICA_MAX_SPAN[params["job_type"]].days
        return [
            {**params, "start": a.isoformat(), "end": b.isoformat()}
            for a, b in day_windows(first, last, span)
        ]

    # -- provider hooks -------------------------------------------------------

    def _create(self, params: dict[str, Any]) -> tuple[str, Poll]:
        body: dict[str, Any] = {
            # Both days included: the span ends on the last second of ``end``.
            "startDate": f"{params['start']}T00:00:00Z",
            "endDate": f"{params['end']}T23:59:59Z",
        }
        flag = {True: "TRUE", False: "FALSE"}
        if params["job_type"] == "JOB_LEVEL":
            path = f"{_METERING}/ExportServiceJobLevelMeteringData"
            if params.get("meter_id"):
                body["meterId"] = params["meter_id"]
            else:
                body["allMeters"] = "TRUE"
        else:
            path = f"{_METERING}/ExportMeteringData"
            body["jobType"] = params["job_type"]
            body["combinedMeterUsage"] = flag[params["combined_meter_usage"]]
            body["allLinkedOrgs"] = flag[params["all_linked_orgs"]]
            if params.get("meter_id"):
                body["meterId"] = params["meter_id"]
        data = self._send("POST", path, what="export request", json_body=body)
        job_id = data.get("jobId") or data.get("jobID") if isinstance(data, dict) else None
        if not job_id:
            raise APIError(
                "Informatica export request: the answer has no jobId", provider=self.provider
            )
        return str(job_id), self._state_of(str(job_id), data)

    def _state_of(self, job_id: str, data: dict[str, Any]) -> Poll:
        raw = data.get("status")
        word = str(raw).upper() if raw is not None else "CREATED"
        state = _STATES.get(word)
        message = data.get("errorMessage")
        if state is None:
            return Poll(FAILED, raw, message=f"Informatica answered an unknown job status {raw!r}")
        notes: list[str] = []
        if word == "PARTIAL_SUCCESS":
            notes.append(
                f"Informatica export {job_id} ended PARTIAL_SUCCESS: the file lacks some data"
                + (f" ({message})" if message else " (Informatica did not say which)")
            )
        return Poll(state, raw, message=str(message) if message else None, warnings=notes)

    def _poll(self, job: ReportJob) -> Poll:
        what = f"status of export {job.id}"
        response = self._call(
            "GET", f"{_METERING}/ExportMeteringData/{quote(job.id, safe='')}", what=what
        )
        data = self.http.parse_json(response, what=what)
        poll = self._state_of(job.id, data if isinstance(data, dict) else {})
        poll.retry_after = retry_after_of(response)
        return poll

    def _download_request(self, job: ReportJob) -> tuple[str | Secret, Headers]:
        if self.base_api_url is None:
            self.login()
        # A callable: after a re-login the retried download sends the new session id.
        return self._url(
            f"{_METERING}/ExportMeteringData/{quote(job.id, safe='')}/download"
        ), self._headers

    def _validate_file(self, job: ReportJob, path: Path) -> None:
        with open(path, "rb") as f:
            magic = f.read(2)
        if magic == b"PK" and not zipfile.is_zipfile(path):
            raise ConnectionFailed(
                f"Informatica export {job.id}: the ZIP file is incomplete: the download was cut",
                provider=self.provider,
            )

    def _is_limit_refusal(self, exc: APIError) -> bool:
        if isinstance(exc, RateLimitError):
            return True
        text = str(exc).lower()
        return exc.status in (400, 403, 409, 422) and ("active" in text and "job" in text)
