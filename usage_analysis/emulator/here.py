"""HERE platform: the client-credentials token endpoint and the Cost Management Usage API v2.

Token: ``POST /here/oauth2/token``. Usage API: under ``/here/v2`` (as under
``https://usage.bam.api.here.com/v2``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..defaults import HERE_MAX_SPAN, HERE_PAGE_LIMIT
from ._http import BadParams, base_url, iso_z, parse_timestamp, read_json, stream_bytes
from .auth import OAuth1Checker, bearer_token, new_secret
from .responses import here_error
from .truth import HereQuery

if TYPE_CHECKING:
    from .state import EmulatorState, Job

__all__ = ["HereAPI", "here_query"]

PREFIX = "/here"
API = PREFIX + "/v2/usage/realms"
GROUPS = ("project", "billingTag", "appId")
# The defaults HERE always groups by; naming them in groupBy is harmless.
DEFAULT_GROUPS = ("featureId", "billingSubscriptionId", "subscriptionId")
DETAIL_LEVELS = ("summarized", "hour", "day", "month")
USAGE_FIELDS = (
    "realmId",
    "featureId",
    "billingSubscriptionId",
    "billingChargeNumber",
    "category",
    "name",
    "valueDriver",
    "usageValue",
    "billableValue",
    "resource",
)
_APP_ID = re.compile(r"^[a-zA-Z0-9_-]*$")
_REALM = re.compile(r"^[A-Za-z0-9_-]{5,30}$")


def here_query(
    params: Mapping[str, str], *, report: bool, sub_accounts: tuple[str, ...] | None = None
) -> HereQuery:
    """A search/report query from query parameters (raises BadParams with HERE's codes)."""
    date_code = "E706003"
    if "startDate" not in params or "endDate" not in params:
        raise BadParams("startDate/endDate", "startDate and endDate are required", code=date_code)
    try:
        start = parse_timestamp("startDate", params["startDate"])
        end = parse_timestamp("endDate", params["endDate"])
    except BadParams as exc:
        raise BadParams(exc.field, exc.message, code=date_code) from None
    if end < start:
        raise BadParams("endDate", "endDate is before startDate", code=date_code)
    if end - start > HERE_MAX_SPAN:
        raise BadParams(
            "endDate",
            f"the range spans {(end - start) / timedelta(days=1):.1f} days; at most "
            f"{HERE_MAX_SPAN.days} days may be queried",
            code=date_code,
        )
    detail = params.get("detailLevel") or "summarized"
    if detail not in DETAIL_LEVELS:
        raise BadParams(
            "detailLevel", f"expected one of {', '.join(DETAIL_LEVELS)}, got {detail!r}"
        )
    if report and detail == "hour":
        raise BadParams("detailLevel", "reports support summarized, day and month (not hour)")
    group_by: tuple[str, ...] | None = None
    if params.get("groupBy"):
        raw = params["groupBy"]
        if len(raw) > 256:
            raise BadParams("groupBy", "at most 256 characters", code="E706004")
        names = [g.strip() for g in raw.split(",") if g.strip()]
        bad = [g for g in names if g not in GROUPS and g not in DEFAULT_GROUPS]
        if bad:
            raise BadParams(
                "groupBy",
                f"Invalid group by field {', '.join(bad)}. Supported values are appId, billingTag, and project.",
                code="E706004",
            )
        group_by = tuple(g for g in names if g in GROUPS)
    charge = params.get("chargeType") or "all"
    if charge not in ("all", "billable", "nonBillable"):
        raise BadParams("chargeType", f"expected all, billable or nonBillable, got {charge!r}")
    channel = params.get("channelId")
    if channel is not None and channel not in ("hot", "cold", "ds"):
        raise BadParams("channelId", f"expected hot, cold or ds, got {channel!r}")
    for name, limit in (
        ("featureId", 256),
        ("appId", 128),
        ("projectHrn", 256),
        ("billingTag", 500),
        ("category", 128),
    ):
        if len(params.get(name) or "") > limit:
            raise BadParams(name, f"at most {limit} characters")
    if not _APP_ID.match(params.get("appId") or ""):
        raise BadParams("appId", "expected letters, digits, '-' and '_' only")
    subs: tuple[str, ...] | None = None
    if params.get("billingSubscriptionId"):
        subs = tuple(s.strip() for s in params["billingSubscriptionId"].split(",") if s.strip())
        if not 1 <= len(subs) <= 20:
            raise BadParams("billingSubscriptionId", "expected 1 to 20 comma-separated ids")
    return HereQuery(
        start=start.date(),
        end=end.date(),
        detail_level=detail,
        group_by=group_by,
        feature_id=params.get("featureId") or None,
        app_id=params.get("appId") or None,
        project_hrn=params.get("projectHrn") or None,
        billing_tag=params.get("billingTag") or None,
        category=params.get("category") or None,
        charge_type=charge,
        subscription_ids=subs,
        sub_accounts=sub_accounts,
    )


def _paging(params: Mapping[str, str]) -> tuple[int, int]:
    raw_limit = params.get("limit", str(HERE_PAGE_LIMIT))
    try:
        limit = int(raw_limit)
    except ValueError:
        raise BadParams(
            "limit", f"expected an integer, got {raw_limit!r}", code="E706002"
        ) from None
    if not 1 <= limit <= HERE_PAGE_LIMIT:
        raise BadParams(
            "limit", f"Limit value should be between 1 and {HERE_PAGE_LIMIT}.", code="E706002"
        )
    raw_offset = params.get("offset", "0")
    try:
        offset = int(raw_offset)
    except ValueError:
        raise BadParams("offset", f"expected an integer >= 0, got {raw_offset!r}") from None
    if offset < 0:
        raise BadParams("offset", f"expected an integer >= 0, got {offset}")
    return limit, offset


def _envelope(
    total: int, limit: int, offset: int, items: list[Any], *, pages: bool
) -> dict[str, Any]:
    """One page's answer. ``pages``: offsets are page numbers (the spec), else record counts."""
    last_page = max(0, (total - 1) // limit)
    step = 1 if pages else limit
    body: dict[str, Any] = {
        "total": total,
        "limit": limit,
        "offset": offset,
        "count": len(items),
        "items": items,
        "lastOffset": last_page * step,
    }
    first = offset * limit if pages else offset
    if first + limit < total:
        body["nextOffset"] = offset + step
    return body


def _zoneless(t: float) -> str:
    """``2026-10-01T12:00:00``: HERE's spec writes every timestamp without a zone (UTC)."""
    return iso_z(t).removesuffix("Z")


class HereAPI:
    """The HERE endpoints, bound to one emulator state."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        creds = state.credentials
        self.oauth = OAuth1Checker(creds.here_access_key_id, creds.here_access_key_secret)
        self.issued: dict[str, float] = {}  # token -> expiry (emulator clock)

    @property
    def realm(self) -> str:
        return str(self.state.data.world.here.realm_id)

    def routes(self) -> list[BaseRoute]:
        return [
            Route(f"{PREFIX}/oauth2/token", self.token, methods=["POST"]),
            Route(f"{API}/{{realm_id}}", self.search, methods=["GET"]),
            Route(f"{API}/{{realm_id}}/csv", self.search_csv, methods=["GET"]),
            Route(f"{API}/{{realm_id}}/reports", self.create_report, methods=["POST"]),
            Route(f"{API}/{{realm_id}}/reports", self.list_reports, methods=["GET"]),
            Route(f"{API}/{{realm_id}}/reports/{{report_id}}", self.report_status, methods=["GET"]),
            Route(f"{API}/{{realm_id}}/reports/{{report_id}}/output", self.output, methods=["GET"]),
        ]

    # --- token -----------------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        raw = (await request.body()).decode("utf-8", "replace")
        content_type = request.headers.get("content-type", "")
        form = "application/x-www-form-urlencoded" in content_type
        headers = {k: v for k, v in request.headers.items()}
        valid = "authorization" in request.headers and self.oauth.verify(
            str(request.url), request.method, raw if form else None, headers
        )
        if not valid:
            return JSONResponse(
                {
                    "errorId": f"ERROR-{new_secret(8)}",
                    "httpStatus": 401,
                    "errorCode": 401300,
                    "message": "Signature mismatch. Authorization signature or client credential is wrong.",
                    "error": "invalid_client",
                    "error_description": "errorCode: '401300'. Signature mismatch. "
                    "Authorization signature or client credential is wrong.",
                },
                status_code=401,
            )
        grant: str | None
        if form:
            grant = dict(parse_qsl(raw)).get("grant_type")
        else:
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                body = {}
            grant = (
                body.get("grantType") or body.get("grant_type") if isinstance(body, dict) else None
            )
        if grant != "client_credentials":
            return JSONResponse(
                {
                    "errorId": f"ERROR-{new_secret(8)}",
                    "httpStatus": 400,
                    "errorCode": 400002,
                    "message": "Invalid grant_type: expected client_credentials.",
                    "error": "unsupported_grant_type",
                    "error_description": "grant_type must be client_credentials",
                },
                status_code=400,
            )
        token = "eyJ" + new_secret(48)
        lifetime = self.state.options.here_token_lifetime
        with self.state.lock:
            self.issued[token] = self.state.clock.time() + lifetime
        return JSONResponse(
            {"access_token": token, "token_type": "bearer", "expires_in": int(lifetime)}
        )

    # --- checks ----------------------------------------------------------------------
    def _correlation(self, request: Request) -> str | None:
        value = request.scope.get("state", {}).get("correlation_id")
        return str(value) if value else None

    def _check(self, request: Request) -> Response | None:
        """401 for a missing/wrong token, E706001 for a realm that is not the caller's."""
        token = bearer_token(request)
        if token is None:
            return here_error(401, "No credentials found.")
        if token != self.state.credentials.here_token:
            with self.state.lock:
                expiry = self.issued.get(token)
            if expiry is None or expiry < self.state.clock.time():
                return here_error(401, "Invalid or expired token.")
        realm = request.path_params["realm_id"]
        if not _REALM.match(realm) or realm != self.realm:
            return self._error(
                400,
                "Invalid Realm",
                code="E706001",
                title=f"Invalid Realm {realm}",
                message=f"Realm {realm} is not valid for these credentials.",
                correlation_id=self._correlation(request),
            )
        return None

    def _error(self, status: int, cause: str, **kwargs: Any) -> Response:
        """A HERE error answer, with ``details`` shaped as the options say."""
        return here_error(
            status,
            cause,
            details_object=self.state.options.here_error_details == "object",
            **kwargs,
        )

    def _bad(self, request: Request, exc: BadParams) -> Response:
        return self._error(
            400,
            f"{exc.field}: {exc.message}",
            code=exc.code or "E706000",
            message=exc.message,
            correlation_id=self._correlation(request),
        )

    # --- search ----------------------------------------------------------------------
    async def search(self, request: Request) -> Response:
        if (denied := self._check(request)) is not None:
            return denied
        params = request.query_params
        try:
            query = here_query(params, report=False)
            limit, offset = _paging(params)
            fields = tuple(
                f.strip() for f in (params.get("usageFields") or "").split(",") if f.strip()
            )
            bad = [f for f in fields if f not in USAGE_FIELDS]
            if bad:
                raise BadParams("usageFields", f"unknown field(s) {', '.join(bad)}")
        except BadParams as exc:
            return self._bad(request, exc)
        pages = self.state.options.here_paging == "page"
        first = offset * limit if pages else offset
        total, items = await self.state.run_blocking(
            self.state.data.here_items, query, first, limit, fields or None
        )
        return JSONResponse(_envelope(total, limit, offset, items, pages=pages))

    async def search_csv(self, request: Request) -> Response:
        if (denied := self._check(request)) is not None:
            return denied
        try:
            query = here_query(request.query_params, report=False)
        except BadParams as exc:
            return self._bad(request, exc)
        data = await self.state.run_blocking(self.state.data.here_search_csv, query)
        return stream_bytes(data, media_type="text/csv; charset=utf-8")

    # --- reports ---------------------------------------------------------------------
    async def create_report(self, request: Request) -> Response:
        if (denied := self._check(request)) is not None:
            return denied
        try:
            body = await read_json(request, required=False)
            subs = body.get("subAccounts")
            sub_accounts: tuple[str, ...] | None = None
            if subs is not None:
                known = set(self.state.data.world.here.orgs["realm_id"])
                if not isinstance(subs, list) or not all(isinstance(s, str) for s in subs):
                    raise BadParams("subAccounts", "expected a list of org ids")
                unknown = [s for s in subs if s not in known]
                if unknown:
                    raise BadParams(
                        "subAccounts",
                        f"unknown sub-account(s) {', '.join(unknown)}",
                        code="E706001",
                    )
                sub_accounts = tuple(subs)
            query = here_query(request.query_params, report=True, sub_accounts=sub_accounts)
        except BadParams as exc:
            return self._bad(request, exc)
        number = self.state.next_number("here-report", 1001)
        report_id = f"REPORT-{number}"
        parameters: dict[str, Any] = {
            "realm": self.realm,
            "emailId": "analyst@example.com",
            "username": "analyst",
            **{k: v for k, v in request.query_params.items()},
        }
        if sub_accounts is not None:
            parameters["subAccounts"] = list(sub_accounts)
        job = self.state.new_job(
            "here", report_id, owner=self.realm, params={"query": query, "parameters": parameters}
        )
        location = f"{base_url(request)}{API}/{self.realm}/reports/{report_id}"
        # The Usage API answers 201 (its guide also mentions 202); clients accept both.
        return JSONResponse(
            {"id": job.id, "status": "inProgress"}, status_code=201, headers={"Location": location}
        )

    def _status_json(self, job: Job, request: Request) -> dict[str, Any]:
        phase = job.phase(self.state.clock.time(), self.state.options.here_report_lifetime)
        status = {
            "queued": "inProgress",
            "running": "inProgress",
            "expired": "archived",
            "done": "failed" if job.outcome == "failed" else "completed",
        }[phase]
        body: dict[str, Any] = {
            "id": job.id,
            "status": status,
            "created": _zoneless(job.created_at),
            "parameters": job.params["parameters"],
        }
        if status == "completed":
            # The spec's example is https://usage/realms/.../report/REPORT-1475/output (not
            # a usable URL); clients download from /reports/{id}/output under their base URL.
            body["resultHref"] = f"{base_url(request)}{API}/{self.realm}/reports/{job.id}/output"
        if status == "failed":
            # Unconfirmed: HERE documents no failure reason field; this one is ours.
            body["message"] = "The report could not be generated; request it again."
        return body

    async def list_reports(self, request: Request) -> Response:
        if (denied := self._check(request)) is not None:
            return denied
        try:
            limit, offset = _paging(request.query_params)
            sort = request.query_params.get("sort", "desc")
            if sort not in ("asc", "desc"):
                raise BadParams("sort", f"expected asc or desc, got {sort!r}")
        except BadParams as exc:
            return self._bad(request, exc)
        jobs = sorted(
            self.state.list_jobs("here"),
            key=lambda j: (j.created_at, j.id),
            reverse=sort == "desc",
        )
        pages = self.state.options.here_paging == "page"
        first = offset * limit if pages else offset
        items = [self._status_json(j, request) for j in jobs[first : first + limit]]
        return JSONResponse(_envelope(len(jobs), limit, offset, items, pages=pages))

    def _job(self, request: Request) -> Job | Response:
        report_id = request.path_params["report_id"]
        job = self.state.get_job("here", report_id)
        if job is None:
            return self._error(
                404,
                f"Report {report_id} not found",
                title="Not Found",
                action="Check the report id",
                correlation_id=self._correlation(request),
            )
        return job

    async def report_status(self, request: Request) -> Response:
        if (denied := self._check(request)) is not None:
            return denied
        job = self._job(request)
        if isinstance(job, Response):
            return job
        return JSONResponse(self._status_json(job, request))

    async def output(self, request: Request) -> Response:
        if (denied := self._check(request)) is not None:
            return denied
        job = self._job(request)
        if isinstance(job, Response):
            return job
        status = self._status_json(job, request)["status"]
        if status != "completed":
            return self._error(
                404,
                f"Report {job.id} has no output: its status is {status}",
                title="Not Found",
                action="Wait until the report is completed"
                if status == "inProgress"
                else "Request the report again",
                correlation_id=self._correlation(request),
            )
        async with job.render_lock:
            if job.body is None:
                job.body = await self.state.run_blocking(
                    self.state.data.here_file, job.params["query"]
                )
        return stream_bytes(job.body, media_type="application/x-gzip", filename=f"{job.id}.csv.gz")
