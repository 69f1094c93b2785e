"""Particle Cloud API: service agreements, data operations reports, pre-signed downloads.

Paths are served under ``/particle`` (so ``ParticleClient(base_url=f"{base}/particle")``
appends ``/v1/user/...`` as it would to ``https://api.particle.io``).
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..defaults import (
    PARTICLE_BLOCK_DATA_OPS,
    PARTICLE_BLOCK_DEVICES,
    PARTICLE_FREE_DATA_OPS,
    PARTICLE_FREE_DEVICES,
    PARTICLE_THRESHOLDS,
)
from ._http import BadParams, base_url, iso_z, parse_day, read_json, stream_bytes
from .auth import bearer_token, new_secret
from .responses import particle_error
from .truth import ParticleQuery

if TYPE_CHECKING:
    from .state import EmulatorState, Job

__all__ = ["ParticleAPI", "particle_query"]

PREFIX = "/particle"
REPORT_TYPES = ("devices", "products")
MAX_LINKS = 100_000


def particle_query(scope: str, params: dict[str, Any]) -> ParticleQuery:
    """A report query from the request body's fields (raises BadParams)."""
    report_type = params.get("report_type")
    if report_type not in REPORT_TYPES:
        raise BadParams("report_type", f"expected 'devices' or 'products', got {report_type!r}")
    start = parse_day("date_period_start", params.get("date_period_start"))
    end = parse_day("date_period_end", params.get("date_period_end"))
    if end < start:
        raise BadParams("date_period_end", f"{end} is before date_period_start {start}")
    devices = _id_list("devices", params.get("devices"))
    products = _id_list("products", params.get("products"))
    return ParticleQuery(
        scope=scope,
        report_type=report_type,
        start=start,
        end=end,
        devices=devices,
        products=products,
    )


def _id_list(field: str, value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise BadParams(field, f"expected a list of ids, got {value!r}")
    return tuple(str(v) for v in value)


class ParticleAPI:
    """The Particle endpoints, bound to one emulator state."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.links: dict[str, tuple[str, float]] = {}  # signature -> (report id, valid until)

    # --- identity --------------------------------------------------------------------
    @property
    def org(self) -> str:
        return str(self.state.data.world.particle.org)

    def agreement_id(self, scope: str) -> str:
        seed = self.state.options.seed
        return str((41_000 if scope == "user" else 52_000) + seed)

    def routes(self) -> list[BaseRoute]:
        p = PREFIX + "/v1"
        return [
            Route(f"{p}/user/service_agreements", self.service_agreements, methods=["GET"]),
            Route(f"{p}/orgs/{{org}}/service_agreements", self.service_agreements, methods=["GET"]),
            Route(
                f"{p}/user/service_agreements/{{sa_id}}/usage_reports",
                self.create_report,
                methods=["POST"],
            ),
            Route(
                f"{p}/orgs/{{org}}/service_agreements/{{sa_id}}/usage_reports",
                self.create_report,
                methods=["POST"],
            ),
            Route(f"{p}/user/usage_reports/{{report_id}}", self.report_status, methods=["GET"]),
            Route(
                f"{p}/orgs/{{org}}/usage_reports/{{report_id}}", self.report_status, methods=["GET"]
            ),
            Route(
                f"{p}/user/service_agreements/{{sa_id}}/notifications",
                self.notifications,
                methods=["GET"],
            ),
            Route(
                f"{p}/orgs/{{org}}/service_agreements/{{sa_id}}/notifications",
                self.notifications,
                methods=["GET"],
            ),
            Route(f"{PREFIX}/downloads/{{filename}}", self.download, methods=["GET"]),
        ]

    # --- checks ----------------------------------------------------------------------
    def _scope(self, request: Request) -> str | Response:
        """'user' or 'org' for an authorised request, else the error answer."""
        token = bearer_token(request, allow_query=True)
        if token is None:
            return particle_error(401, "The access token was not found")
        if token != self.state.credentials.particle_token:
            return particle_error(401, "The access token provided is invalid.")
        org = request.path_params.get("org")
        if org is None:
            return "user"
        if org != self.org:
            return particle_error(404, f"Organization {org!r} not found", code="not_found")
        return "org"

    def _agreement(self, request: Request, scope: str) -> Response | None:
        sa_id = request.path_params.get("sa_id")
        if sa_id is not None and sa_id != self.agreement_id(scope):
            return particle_error(404, f"Service agreement {sa_id!r} not found", code="not_found")
        return None

    # --- service agreements --------------------------------------------------------
    def _period(self) -> tuple[date, date, date]:
        today = self.state.clock.today()
        start = today.replace(day=1)
        nxt = (start + timedelta(days=32)).replace(day=1)
        return start, nxt - timedelta(days=1), nxt

    def _allowance(self, scope: str) -> tuple[int, int, int]:
        """(max devices, max data operations per month, blocks) of the account's plan."""
        if scope == "user":
            return PARTICLE_FREE_DEVICES, PARTICLE_FREE_DATA_OPS, 0
        n = len(self.state.data.particle_scope_devices("org"))
        blocks = max(1, math.ceil(n / PARTICLE_BLOCK_DEVICES))
        return blocks * PARTICLE_BLOCK_DEVICES, blocks * PARTICLE_BLOCK_DATA_OPS, blocks

    def _period_usage(self, scope: str) -> Any:
        start, _end, _next = self._period()
        today = self.state.clock.today()
        q = ParticleQuery(scope=scope, report_type="devices", start=start, end=today)
        return self.state.data.particle_frame(q)

    async def service_agreements(self, request: Request) -> Response:
        scope = self._scope(request)
        if isinstance(scope, Response):
            return scope
        start, end, nxt = self._period()
        max_devices, max_ops, blocks = self._allowance(scope)
        usage = self._period_usage(scope)
        devices = int(usage["Device ID"].nunique()) if len(usage) else 0
        data_ops = int(usage["Total Data Operations"].sum()) if len(usage) else 0
        counts = {
            "owned_devices": devices,
            "billable_devices": devices,
            "device_data": 0,
            "device_messages": data_ops,
        }
        # Fields as SDKs that read real answers show them (PROVIDERS.md): no "blocks" field.
        attributes = {
            "name": "Free Plan" if scope == "user" else "Basic Plan",
            "agreement_type": "developer" if scope == "user" else "organization",
            "state": "active",
            "owner_id": f"{scope}-{self.state.options.seed}",
            "owner_type": "user" if scope == "user" else "organization",
            "starts_on": start.replace(month=1).isoformat(),
            "ends_on": None,
            "current_billing_period_start": start.isoformat(),
            "current_billing_period_end": end.isoformat(),
            "next_billing_period_start": nxt.isoformat(),
            "current_usage_summary": {
                "device_limit_reached": devices >= max_devices,
                "connectivity": {
                    "all": counts,
                    "wifi": counts,
                    "cellular": dict.fromkeys(counts, 0),
                    "asset_tracker": dict.fromkeys(counts, 0),
                },
            },
            "pricing_terms": {
                "rates": {
                    "all_platforms": {"duration": "month", "per_block": 299 if blocks else 0}
                },
                "device": {"name": "devices", "duration": "month", "max_devices": max_devices},
                "messaging": {
                    "name": "data_operations",
                    "duration": "month",
                    "max_messages": max_ops,
                },
                "device_data": {"uom": "MB", "max_data": 100 if scope == "user" else 540 * blocks},
            },
        }
        body = {
            "data": [
                {
                    "id": self.agreement_id(scope),
                    "type": "service_agreement",
                    "attributes": attributes,
                }
            ]
        }
        return JSONResponse(body)

    async def notifications(self, request: Request) -> Response:
        scope = self._scope(request)
        if isinstance(scope, Response):
            return scope
        if (missing := self._agreement(request, scope)) is not None:
            return missing
        _max_devices, max_ops, _blocks = self._allowance(scope)
        usage = self._period_usage(scope)
        data: list[dict[str, Any]] = []
        if len(usage):
            daily = usage.groupby("Date")["Total Data Operations"].sum().sort_index().cumsum()
            for share in PARTICLE_THRESHOLDS:
                crossed = daily[daily >= share * max_ops]
                if len(crossed):
                    day = crossed.index[0]
                    percent = round(share * 100)
                    when = iso_z(day.to_pydatetime())
                    start, _end, nxt = self._period()
                    # The item shape a third-party SDK reads (PROVIDERS.md).
                    data.append(
                        {
                            "id": f"{self.agreement_id(scope)}-{day:%Y%m}-{percent}",
                            "type": "notification",
                            "attributes": {
                                "state": "sent",
                                "event_name": f"data_operations_{percent}_percent",
                                "time_period": f"{start:%Y-%m}",
                                "created_at": when,
                                "updated_at": when,
                                "resource_id": self.agreement_id(scope),
                                "resource_type": "service_agreement",
                                "details": {
                                    "event_type": "usage_threshold",
                                    "hierarchy_info": {
                                        "name": "data_operations",
                                        "priority": percent,
                                    },
                                    "device_pause_date": nxt.isoformat()
                                    if percent >= 100 and scope == "user"
                                    else None,
                                    "next_billing_period_start": nxt.isoformat(),
                                },
                            },
                        }
                    )
        return JSONResponse({"data": data})

    # --- reports ---------------------------------------------------------------------
    def _outstanding(self) -> list[Job]:
        now = self.state.clock.time()
        lifetime = self.state.options.particle_link_lifetime
        return [
            j
            for j in self.state.list_jobs("particle")
            if j.phase(now, lifetime) in ("queued", "running")
        ]

    async def create_report(self, request: Request) -> Response:
        scope = self._scope(request)
        if isinstance(scope, Response):
            return scope
        if (missing := self._agreement(request, scope)) is not None:
            return missing
        try:
            body = await read_json(request)
            query = particle_query(scope, body)
        except BadParams as exc:
            return particle_error(400, exc.message + f" ({exc.field})", code="invalid_parameter")
        with self.state.lock:
            outstanding = self._outstanding()
            limit = self.state.options.particle_max_outstanding
            if len(outstanding) >= limit:
                wait = min(j.finished_at for j in outstanding) - self.state.clock.time()
                return particle_error(
                    429,
                    f"There is a limit of {limit} outstanding report requests at a time",
                    code="too_many_outstanding_reports",
                    retry_after=max(1.0, math.ceil(wait)),
                )
            report_id = str(self.state.next_number("particle-report", 1001))
            params = {
                "devices": list(query.devices) if query.devices is not None else None,
                "products": list(query.products) if query.products is not None else None,
                "date_period_start": query.start.isoformat(),
                "date_period_end": query.end.isoformat(),
            }
            job = self.state.new_job(
                "particle",
                report_id,
                owner=scope,
                params={
                    "query": query,
                    "report_type": query.report_type,
                    "report_params": params,
                    "service_agreement_id": self.agreement_id(scope),
                },
            )
        return JSONResponse(self._report_json(job, request, initial=True), status_code=202)

    def _report_json(self, job: Job, request: Request, *, initial: bool = False) -> dict[str, Any]:
        now = self.state.clock.time()
        lifetime = self.state.options.particle_link_lifetime
        phase = "queued" if initial else job.phase(now, lifetime)
        download_url: str | None = None
        expires_at: str | None = None
        if phase in ("queued", "running"):
            state = "pending"
        elif phase == "expired":
            # Unconfirmed: Particle deletes the file after 7 days; the state name is ours.
            state = "expired"
        elif job.outcome == "failed":
            state = "failed"
        else:
            state = "available"
            expires_at = iso_z(job.finished_at + lifetime)
            download_url = self._presign(job, request, now)
        attributes: dict[str, Any] = {}
        field = self.state.options.particle_state_field
        if field in ("state", "both"):
            attributes["state"] = state
        if field in ("status", "both"):
            attributes["status"] = state
        params = job.params["report_params"]
        # Documented: service_agreement_id (an integer), the dates at the top level,
        # report_params holding devices, products and recipient_list.
        attributes.update(
            {
                "report_type": job.params["report_type"],
                "service_agreement_id": int(job.params["service_agreement_id"]),
                "date_period_start": params["date_period_start"],
                "date_period_end": params["date_period_end"],
                "report_params": {
                    "devices": params["devices"],
                    "products": params["products"],
                    "recipient_list": [],
                },
                "download_url": download_url,
                "expires_at": expires_at,
                "created_at": iso_z(job.created_at),
            }
        )
        return {"data": {"id": job.id, "type": "usage_report", "attributes": attributes}}

    def _presign(self, job: Job, request: Request, now: float) -> str:
        """A fresh pre-signed link: an unguessable signature, valid for a short while."""
        signature = new_secret(32)
        lifetime = self.state.options.particle_url_lifetime
        with self.state.lock:
            # Expired links are kept (they answer 410, or 404 once the report is deleted),
            # up to a bound: a client polling once a second for hours stays well under it.
            if len(self.links) >= MAX_LINKS:
                del self.links[next(iter(self.links))]
            self.links[signature] = (job.id, now + lifetime)
        stamp = iso_z(now).replace("-", "").replace(":", "")
        return (
            f"{base_url(request)}{PREFIX}/downloads/usage_report_{job.id}.csv"
            f"?X-Amz-Date={stamp}&X-Amz-Expires={int(lifetime)}&X-Amz-Signature={signature}"
        )

    async def report_status(self, request: Request) -> Response:
        scope = self._scope(request)
        if isinstance(scope, Response):
            return scope
        report_id = request.path_params["report_id"]
        job = self.state.get_job("particle", report_id)
        if job is None or job.owner != scope:
            return particle_error(404, f"Usage report {report_id!r} not found", code="not_found")
        return JSONResponse(self._report_json(job, request))

    # --- download --------------------------------------------------------------------
    async def download(self, request: Request) -> Response:
        # Pre-signed: no Authorization header is needed (or looked at).
        signature = request.query_params.get("X-Amz-Signature", "")
        with self.state.lock:
            link = self.links.get(signature)
        filename = request.path_params["filename"]
        if link is None or filename != f"usage_report_{link[0]}.csv":
            return particle_error(
                403, "The request signature is missing or invalid", code="forbidden"
            )
        report_id, valid_until = link
        job = self.state.get_job("particle", report_id)
        now = self.state.clock.time()
        if job is None or job.phase(now, self.state.options.particle_link_lifetime) == "expired":
            return particle_error(404, "The report was deleted: reports are kept for 7 days")
        if now > valid_until:
            return particle_error(
                410, "This download link has expired; get the report status again for a new link"
            )
        accept = request.headers.get("accept", "*/*")
        if not any(t in accept for t in ("text/csv", "text/*", "*/*")):
            return particle_error(
                406, f"The report is text/csv; the request accepts only {accept!r}"
            )
        async with job.render_lock:
            if job.body is None:
                job.body = await self.state.run_blocking(
                    self.state.data.particle_file, job.params["query"]
                )
        return stream_bytes(job.body, media_type="text/csv; charset=utf-8", filename=filename)
