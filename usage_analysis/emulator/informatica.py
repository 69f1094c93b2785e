"""Informatica IDMC platform REST API v3: login, metering exports, IPU alerts.

Served under ``/informatica/saas``: the login URL is
``{base}/informatica/saas/public/core/v3/login`` and its answer names
``{base}/informatica/saas`` as ``baseApiUrl`` for every later call.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..catalog import meter_catalog
from ..defaults import INFORMATICA_MAX_SPAN
from ._http import BadParams, base_url, iso_z, parse_timestamp, read_json, stream_bytes
from .auth import Session, SessionStore
from .responses import informatica_error
from .truth import InformaticaQuery

if TYPE_CHECKING:
    import pandas as pd

    from .state import EmulatorState, Job

__all__ = ["InformaticaAPI", "informatica_query"]

PREFIX = "/informatica/saas"
V3 = PREFIX + "/public/core/v3"
METERING = V3 + "/license/metering"
EXPORT_JOB_TYPES = ("SUMMARY", "PROJECT_FOLDER", "ASSET")
_ORG_EXPR = re.compile(r"^org\(\s*'?([A-Za-z0-9_-]+)'?\s*\)$")


def _flag(field: str, value: object, default: bool) -> bool:
    """IDMC booleans arrive as "TRUE"/"FALSE" strings (or JSON booleans)."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.upper() in ("TRUE", "FALSE"):
        return value.upper() == "TRUE"
    raise BadParams(field, f'expected "TRUE" or "FALSE", got {value!r}')


def _meter_ok(meter_id: str, request_type: str) -> bool:
    catalog = meter_catalog()
    rows = catalog[catalog["meter_id"] == meter_id]
    return bool(len(rows)) and request_type in str(rows["request_types"].iloc[0]).split(";")


def informatica_query(kind: str, body: dict[str, Any], org_id: str) -> InformaticaQuery:
    """A metering export query from a request body (raises BadParams).

    ``kind``: "export" (ExportMeteringData), "linked" (...AllLinkedOrgsAcrossRegion)
    or "job_level" (ExportServiceJobLevelMeteringData).
    """
    start = parse_timestamp("startDate", body.get("startDate"))
    end = parse_timestamp("endDate", body.get("endDate"))
    if end < start:
        raise BadParams("endDate", "endDate is before startDate")
    meter_id = body.get("meterId") or None
    if meter_id is not None and not isinstance(meter_id, str):
        raise BadParams("meterId", f"expected a meter id string, got {meter_id!r}")
    combined = _flag("combinedMeterUsage", body.get("combinedMeterUsage"), False)
    if kind == "job_level":
        job_type = "JOB_LEVEL"
        all_meters = _flag("allMeters", body.get("allMeters"), False)
        if all_meters:
            meter_id = None
        elif meter_id is None:
            raise BadParams("meterId", 'meterId is required when allMeters is not "TRUE"')
        elif not _meter_ok(meter_id, "job"):
            raise BadParams("meterId", f"{meter_id!r} is not a meter with job-level details")
        linked = False
    elif kind == "linked":
        job_type, linked = "SUMMARY", True
    else:
        job_type = str(body.get("jobType") or "SUMMARY").upper()
        if job_type not in EXPORT_JOB_TYPES:
            raise BadParams(
                "jobType", f"expected one of {', '.join(EXPORT_JOB_TYPES)}, got {job_type!r}"
            )
        # The summary covers the requesting org and the orgs under it unless told otherwise;
        # project/folder and asset exports cover the requesting org unless told otherwise.
        linked = _flag("allLinkedOrgs", body.get("allLinkedOrgs"), job_type == "SUMMARY")
        if job_type != "ASSET":
            meter_id = None
        elif meter_id is not None and not _meter_ok(meter_id, "asset"):
            raise BadParams("meterId", f"{meter_id!r} is not a meter with asset-level details")
    span = INFORMATICA_MAX_SPAN[job_type]
    if end - start > span:
        raise BadParams(
            "endDate",
            f"the date range can be a maximum of {span.days} days for {job_type} exports; "
            f"this one spans {(end - start) / timedelta(days=1):.1f} days",
        )
    return InformaticaQuery(
        job_type=job_type,
        start=start.date(),
        end=end.date(),
        org_id=org_id,
        meter_id=meter_id,
        all_linked_orgs=linked,
        combined=combined,
    )


class InformaticaAPI:
    """The Informatica endpoints, bound to one emulator state."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.sessions = SessionStore(state.options.session_idle)

    @property
    def orgs(self) -> Any:
        return self.state.data.world.informatica.orgs

    @property
    def home_org(self) -> str:
        return str(self.orgs["org_id"].iloc[0])

    @property
    def user_id(self) -> str:
        return "aMxRLnYzdWtlkJvDbtPZOr"

    def routes(self) -> list[BaseRoute]:
        return [
            Route(f"{V3}/login", self.login, methods=["POST"]),
            Route(f"{V3}/logout", self.logout, methods=["POST"]),
            Route(f"{METERING}/ExportMeteringData", self.export_summary, methods=["POST"]),
            Route(
                f"{METERING}/ExportMeteringDataAllLinkedOrgsAcrossRegion",
                self.export_linked,
                methods=["POST"],
            ),
            Route(
                f"{METERING}/ExportServiceJobLevelMeteringData",
                self.export_job_level,
                methods=["POST"],
            ),
            Route(f"{METERING}/ExportMeteringData/{{job_id}}", self.job_status, methods=["GET"]),
            Route(
                f"{METERING}/ExportMeteringData/{{job_id}}/download", self.download, methods=["GET"]
            ),
            Route(f"{V3}/metering/ipuAlert/{{org_expr}}", self.ipu_alert, methods=["GET"]),
            Route(
                f"{V3}/metering/ipuAlert/{{org_expr}}/viewTagsPreference",
                self.ipu_alert_tags,
                methods=["GET"],
            ),
        ]

    # --- sessions --------------------------------------------------------------------
    async def login(self, request: Request) -> Response:
        try:
            body = await read_json(request)
        except BadParams as exc:
            return informatica_error(400, exc.message, code="CORE_400")
        creds = self.state.credentials
        if (
            body.get("username") != creds.informatica_username
            or body.get("password") != creds.informatica_password
        ):
            return informatica_error(401, "Invalid user name or password.", code="AUTH_01")
        org = self.orgs.iloc[0]
        session_id = self.sessions.open(
            org_id=self.home_org, user_id=self.user_id, now=self.state.clock.time()
        )
        return JSONResponse(
            {
                "products": [
                    {"name": "Integration Cloud", "baseApiUrl": base_url(request) + PREFIX}
                ],
                "userInfo": {
                    "sessionId": session_id,
                    "id": self.user_id,
                    "name": creds.informatica_username,
                    "parentOrgId": None,
                    "orgId": self.home_org,
                    "orgName": str(org["org_name"]),
                    "groups": {},
                    "status": "Active",
                },
            }
        )

    async def logout(self, request: Request) -> Response:
        if not self.sessions.close(request.headers.get("INFA-SESSION-ID")):
            return informatica_error(401, "Invalid or expired session.", code="AUTH_01")
        return Response(status_code=200)

    def _session(self, request: Request) -> Session | Response:
        session_id = request.headers.get("INFA-SESSION-ID")
        if not session_id:
            return informatica_error(401, "The INFA-SESSION-ID header is missing.", code="AUTH_01")
        session = self.sessions.touch(session_id, self.state.clock.time())
        if session is None:
            return informatica_error(
                401, "Invalid or expired session: log in again.", code="AUTH_01"
            )
        return session

    # --- exports ---------------------------------------------------------------------
    async def export_summary(self, request: Request) -> Response:
        return await self._export(request, "export")

    async def export_linked(self, request: Request) -> Response:
        return await self._export(request, "linked")

    async def export_job_level(self, request: Request) -> Response:
        return await self._export(request, "job_level")

    def _active(self, org_id: str) -> list[Job]:
        now = self.state.clock.time()
        lifetime = self.state.options.informatica_link_lifetime
        return [
            j
            for j in self.state.list_jobs("informatica")
            if j.owner == org_id and j.phase(now, lifetime) in ("queued", "running")
        ]

    async def _export(self, request: Request, kind: str) -> Response:
        session = self._session(request)
        if isinstance(session, Response):
            return session
        try:
            body = await read_json(request)
            query = informatica_query(kind, body, session.org_id)
            callback = body.get("callbackUrl")
        except BadParams as exc:
            return informatica_error(400, f"{exc.field}: {exc.message}", code="METERING_400")
        with self.state.lock:
            active = self._active(session.org_id)
            limit = self.state.options.informatica_max_active
            if len(active) >= limit:
                wait = min(j.finished_at for j in active) - self.state.clock.time()
                return informatica_error(
                    429,
                    f"The organization has {len(active)} active export jobs; at most {limit} "
                    "jobs can be CREATED or PROCESSING at a time.",
                    code="METERING_429",
                    retry_after=max(1.0, math.ceil(wait)),
                )
            job_id = self.state.random_id("informatica")
            orgs = (
                tuple(str(o) for o in self.orgs["org_id"])
                if query.all_linked_orgs
                else (session.org_id,)
            )
            params = {
                "query": query,
                "kind": kind,
                "userId": session.user_id,
                "startDate": iso_z(parse_timestamp("startDate", body["startDate"])),
                "endDate": iso_z(parse_timestamp("endDate", body["endDate"])),
                "callbackUrl": callback,
            }
            job = self.state.new_job(
                "informatica", job_id, owner=session.org_id, params=params, linked_orgs=orgs
            )
        return JSONResponse(self._job_json(job, initial=True))

    def _status(self, job: Job) -> str:
        phase = job.phase(self.state.clock.time(), self.state.options.informatica_link_lifetime)
        if phase == "queued":
            return "CREATED"
        if phase == "running":
            return "PROCESSING"
        return {"success": "SUCCESS", "failed": "FAILED", "partial": "PARTIAL_SUCCESS"}[job.outcome]

    def _job_json(self, job: Job, *, initial: bool = False) -> dict[str, Any]:
        status = "CREATED" if initial else self._status(job)
        query: InformaticaQuery = job.params["query"]
        updated = {
            "CREATED": job.created_at,
            "PROCESSING": job.created_at + job.duration / 3,
        }.get(status, job.finished_at)
        body: dict[str, Any] = {
            self.state.options.informatica_job_id_key: job.id,
            "status": status,
            "orgId": job.owner,
            "userId": job.params["userId"],
            "selectedOrgId": job.owner,
            "startDate": job.params["startDate"],
            "endDate": job.params["endDate"],
            "callbackUrl": job.params["callbackUrl"],
            "createTime": iso_z(job.created_at),
            "updateTime": iso_z(updated),
        }
        if job.params["kind"] == "job_level":
            body["meterId"] = query.meter_id
            body["allMeters"] = query.meter_id is None
        else:
            body["jobType"] = query.job_type
            body["combinedMeterUsage"] = query.combined
            body["allLinkedOrgs"] = query.all_linked_orgs
            if query.meter_id:
                body["meterId"] = query.meter_id
        if status == "FAILED":
            body["errorMessage"] = "The export job failed while collecting metering data."
        elif status == "PARTIAL_SUCCESS":
            names = dict(zip(self.orgs["org_id"], self.orgs["org_name"], strict=True))
            missing = ", ".join(f"{o} ({names.get(o, '?')})" for o in job.missing_orgs)
            body["errorMessage"] = (
                f"Data couldn't be collected for the linked organization(s): {missing}"
            )
        return body

    def _job(self, request: Request) -> Job | Response:
        """The caller's export job named in the path, or the error response (session first)."""
        session = self._session(request)
        if isinstance(session, Response):
            return session
        job_id = request.path_params["job_id"]
        job = self.state.get_job("informatica", job_id)
        if job is None or job.owner != session.org_id:
            return informatica_error(
                404, f"Export job {job_id} was not found.", code="METERING_404"
            )
        return job

    async def job_status(self, request: Request) -> Response:
        job = self._job(request)
        if isinstance(job, Response):
            return job
        return JSONResponse(self._job_json(job))

    async def download(self, request: Request) -> Response:
        job = self._job(request)
        if isinstance(job, Response):
            return job
        status = self._status(job)
        if status not in ("SUCCESS", "PARTIAL_SUCCESS"):
            return informatica_error(
                400,
                f"Export job {job.id} has status {status}; the file can be downloaded after SUCCESS.",
                code="METERING_400",
            )
        now = self.state.clock.time()
        if job.phase(now, self.state.options.informatica_link_lifetime) == "expired":
            return informatica_error(
                404,
                f"The file of export job {job.id} has expired: files are kept for 3 days.",
                code="METERING_404",
            )
        async with job.render_lock:
            if job.body is None:
                job.body = await self.state.run_blocking(
                    self.state.data.informatica_file, job.params["query"], job.missing_orgs
                )
        return stream_bytes(
            job.body, media_type="application/zip", filename=f"MeteringData_{job.id}.zip"
        )

    # --- IPU alerts --------------------------------------------------------------------
    def _alert_orgs(self, request: Request) -> list[str] | Response:
        """The org in the path and its children, or the error response (session first)."""
        session = self._session(request)
        if isinstance(session, Response):
            return session
        match = _ORG_EXPR.match(request.path_params["org_expr"])
        if match is None:
            return informatica_error(
                400, "Expected the path to end in org('<orgId>').", code="METERING_400"
            )
        org_id = match.group(1)
        known = [str(o) for o in self.orgs["org_id"]]
        if org_id not in known:
            return informatica_error(404, f"Organization {org_id} was not found.", code="CORE_404")
        if org_id != session.org_id and session.org_id != self.home_org:
            return informatica_error(403, f"No access to organization {org_id}.", code="CORE_403")
        children = [
            str(o)
            for o, parent in zip(self.orgs["org_id"], self.orgs["parent_org_id"], strict=True)
            if parent == org_id
        ]
        return [org_id, *children]

    def _month(self) -> InformaticaQuery:
        today = self.state.clock.today()
        return InformaticaQuery(
            job_type="SUMMARY",
            start=today.replace(day=1),
            end=today,
            org_id=self.home_org,
            all_linked_orgs=True,
            combined=True,
        )

    async def ipu_alert(self, request: Request) -> Response:
        orgs = self._alert_orgs(request)
        if isinstance(orgs, Response):
            return orgs
        members = await self.state.run_blocking(self.state.data.informatica_members, self._month())
        summary = next(iter(members.values()))
        rows = []
        for i, org_id in enumerate(orgs):
            info = self.orgs[self.orgs["org_id"] == org_id].iloc[0]
            consumed = float(summary.loc[summary["OrgId"] == org_id, "IPU"].sum())
            parent = info["parent_org_id"]
            if i % 2 == 0:
                kind, threshold = "ABSOLUTE", max(100, math.ceil(consumed * 1.25 / 100) * 100)
                value = round(consumed, 4)
            else:
                entitlement = max(100, math.ceil(consumed * 1.6 / 100) * 100)
                kind, threshold, value = "PERCENTAGE", 80, round(100 * consumed / entitlement, 2)
            rows.append(
                {
                    "orgName": str(info["org_name"]),
                    "orgId": org_id,
                    "parentOrgId": parent if isinstance(parent, str) else None,
                    "thresholdValue": threshold,
                    "ipuConsumed": value,
                    "ipuThresholdPrefType": kind,
                }
            )
        return JSONResponse(rows)

    async def ipu_alert_tags(self, request: Request) -> Response:
        orgs = self._alert_orgs(request)
        if isinstance(orgs, Response):
            return orgs
        month = self._month()
        query = InformaticaQuery(
            job_type="PROJECT_FOLDER",
            start=month.start,
            end=month.end,
            org_id=orgs[0],
            all_linked_orgs=False,
            combined=True,
        )
        members = await self.state.run_blocking(self.state.data.informatica_members, query)
        frame = next(iter(members.values()))
        rows: list[dict[str, Any]] = []
        for project, part in frame.groupby("Project", sort=True):
            # folder None: a project-level threshold
            rows.append(_tag_threshold(orgs[0], str(project), None, part))
            for folder, sub in part.groupby("Folder", sort=True):
                rows.append(_tag_threshold(orgs[0], str(project), str(folder), sub))
        return JSONResponse(rows)


def _tag_threshold(
    org_id: str, project: str, folder: str | None, rows: pd.DataFrame
) -> dict[str, Any]:
    """One ``viewTagsPreference`` entry: an ABSOLUTE threshold a quarter above the usage."""
    used = float(rows["Consumption (IPUs)"].sum())
    return {
        "orgId": org_id,
        "projectName": project,
        "folderName": folder,
        "thresholdValue": max(10, math.ceil(used * 1.25 / 10) * 10),
        "currentConsumption": round(used, 4),
        "ipuThresholdPrefType": "ABSOLUTE",
    }
