"""``ReportRequester(client)``: ask a provider for a usage report and watch it come in.

The form fits the client's provider (Particle: sandbox or organization, service
agreement with its billing period, report type; HERE: realm, detail level,
grouping, filters; Informatica: job type, meter by name from the catalog). It
checks the form as it is filled in (:func:`check_request`). The Request button
starts a background thread that requests, polls on the provider's schedule,
downloads and reads the report, so the kernel stays free while a report takes
minutes; the thread updates the status line (state, elapsed time, next check,
outstanding jobs against the provider's limit). When the report is in,
``.dataframe`` holds it (unified schema) and ``on_complete(df)`` is called.
Earlier jobs from the journal can be resumed (after a kernel restart, say).

Nothing secret is ever shown: no token, password, session id or download link
reaches a widget (messages pass through :func:`usage_analysis._secrets.redact`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import ipywidgets as widgets
import pandas as pd

from .._secrets import redact
from ..charts import provider_name
from ..clients import PollSchedule, resume
from ..defaults import WIDGET_DEFAULT_DAYS
from ..errors import (
    ConfigurationError,
    InvalidParameter,
    NotFoundError,
    ReportFailed,
    UsageAnalysisError,
)
from ..refreshing import archive_report
from ._common import Messages, esc, styled
from ._forms import (
    HERE_CHARGE_TYPES,
    HERE_DETAIL_LEVELS,
    HERE_GROUP_BY,
    INFORMATICA_JOB_TYPES,
    PARTICLE_REPORT_TYPES,
    Check,
    check_request,
    split_ids,
)

__all__ = ["ReportRequester"]

# The status line is redrawn at least this often while waiting (the countdown).
TICK = 0.5
# Job states of the clients (see usage_analysis.clients.job).
_DONE = ("ready", "downloaded")
_FAILED = ("failed", "expired")


class ReportRequester(widgets.VBox):
    """A form that requests a usage report from ``client`` and shows it arriving.

    Args:
        client: a ``ParticleClient``, ``HereClient`` or ``InformaticaClient``.
        on_complete: called with the unified DataFrame when a report is in
            (from the background thread; errors it raises show in the widget).
        poll_schedule: seconds between status checks (a ``PollSchedule``,
            ``[1, 2, 5]`` or ``"1,2,5"``); default the client's (Particle: 15 s,
            30 s, 60 s, then every minute).
        archive: where a report that arrives is kept (``usage_analysis.history()``),
            since providers delete reports after a few days: ``True`` (default)
            the default archive, a path or fsspec URL another one, ``False`` none.
            A report that cannot be archived is still shown, with a warning.

    Readable without a browser: ``form_values()``, ``check`` (the last
    :class:`Check`), ``status`` (a dict: state, provider_state, elapsed,
    next_check_in, outstanding, limit), ``job``, ``dataframe``, ``messages``;
    ``wait(timeout)`` blocks until the background work ends.
    """

    def __init__(
        self,
        client: Any,
        *,
        on_complete: Callable[[pd.DataFrame], Any] | None = None,
        poll_schedule: PollSchedule | Sequence[float] | str | float | None = None,
        archive: bool | str | os.PathLike[str] = True,
    ) -> None:
        super().__init__()
        self.add_class("ua-requester")
        self.client = client
        self.provider: str = str(getattr(client, "provider", ""))
        if self.provider not in ("particle", "here", "informatica"):
            raise InvalidParameter(
                "client",
                f"expected a ParticleClient, HereClient or InformaticaClient, got "
                f"{type(client).__name__}",
            )
        # How people write the provider ("HERE"), for everything the widget shows.
        self.provider_name = provider_name(self.provider)
        self.on_complete = on_complete
        self.archive = archive
        self.schedule = PollSchedule.coerce(
            poll_schedule, default=getattr(client, "schedule", None)
        )
        self.messages = Messages()
        self.dataframe: pd.DataFrame | None = None
        self.job: Any = None
        self.check = Check()
        self.status: dict[str, Any] = {"state": "idle"}
        self._thread: threading.Thread | None = None
        self._working = False
        self._cancel = threading.Event()
        self._agreements: list[dict[str, Any]] = []

        today = self._today()
        default_start = today - timedelta(days=WIDGET_DEFAULT_DAYS)
        default_end = today - timedelta(days=1)
        self.start = styled(
            widgets.DatePicker(value=default_start, description="first day"), "ua-request-start"
        )
        self.end = styled(
            widgets.DatePicker(value=default_end, description="last day"), "ua-request-end"
        )
        self.fields: dict[str, widgets.Widget] = {}
        provider_rows = self._build_provider_fields()
        self.validation = styled(widgets.HTML(), "ua-validation")
        self.request_button = styled(
            widgets.Button(description="Request report", button_style="primary", icon="play"),
            "ua-request",
        )
        self.cancel_button = styled(
            widgets.Button(description="Stop waiting", icon="stop", disabled=True), "ua-cancel"
        )
        self.status_html = styled(widgets.HTML(), "ua-status")
        self.jobs_select = styled(
            widgets.Dropdown(description="earlier", layout=widgets.Layout(width="560px")),
            "ua-jobs",
        )
        self.resume_button = styled(widgets.Button(description="Resume", icon="redo"), "ua-resume")
        self.reload_jobs_button = styled(
            widgets.Button(description="", icon="refresh", tooltip="reload the job list"),
            "ua-reload-jobs",
        )

        for w in (self.start, self.end, *self.fields.values()):
            w.observe(self.messages.guard(lambda ch: self.validate()), names="value")
        self.request_button.on_click(self.messages.guard(lambda b: self.request()))
        self.cancel_button.on_click(self.messages.guard(lambda b: self.cancel()))
        self.resume_button.on_click(self.messages.guard(lambda b: self.resume_selected()))
        self.reload_jobs_button.on_click(self.messages.guard(lambda b: self.load_jobs()))

        header = styled(widgets.HTML(self._header_html()), "ua-request-header")
        self.header = header
        self.children = [
            header,
            *provider_rows,
            widgets.HBox([self.start, self.end]),
            self.validation,
            widgets.HBox([self.request_button, self.cancel_button]),
            self.status_html,
            widgets.HBox([self.jobs_select, self.resume_button, self.reload_jobs_button]),
            self.messages.output,
        ]
        if self.provider == "particle":
            with self.messages.catching():
                self.load_agreements()
        with self.messages.catching():
            self.load_jobs()
        self.validate()
        self._show_status()

    # ----------------------------------------------------------------- form

    def _build_provider_fields(self) -> list[widgets.Widget]:
        f = self.fields
        if self.provider == "particle":
            org = getattr(self.client, "org", None)
            f["scope"] = styled(
                widgets.ToggleButtons(
                    options=[("sandbox", "sandbox"), ("organization", "org")],
                    value="org" if org else "sandbox",
                ),
                "ua-particle-scope",
            )
            f["org"] = styled(
                widgets.Text(value=org or "", description="org", placeholder="org slug or id"),
                "ua-particle-org",
            )
            self.scope_button = styled(widgets.Button(description="Switch"), "ua-particle-switch")
            self.scope_button.on_click(self.messages.guard(lambda b: self.switch_scope()))
            f["agreement"] = styled(
                widgets.Dropdown(description="agreement", layout=widgets.Layout(width="560px")),
                "ua-particle-agreement",
            )
            f["agreement"].observe(
                self.messages.guard(lambda ch: self._agreement_chosen()), names="value"
            )
            f["report_type"] = styled(
                widgets.ToggleButtons(options=list(PARTICLE_REPORT_TYPES), value="devices"),
                "ua-particle-report-type",
            )
            f["devices"] = styled(
                widgets.Text(description="devices", placeholder="all (or ids, comma-separated)"),
                "ua-particle-devices",
            )
            f["products"] = styled(
                widgets.Text(description="products", placeholder="all (or ids, comma-separated)"),
                "ua-particle-products",
            )
            return [
                widgets.HBox([f["scope"], f["org"], self.scope_button]),
                f["agreement"],
                widgets.HBox([f["report_type"]]),
                widgets.HBox([f["devices"], f["products"]]),
            ]
        if self.provider == "here":
            realm = str(getattr(self.client, "realm_id", "") or "")
            f["realm"] = styled(
                widgets.Text(value=realm, description="realm", disabled=True), "ua-here-realm"
            )
            f["sub_accounts"] = styled(
                widgets.Text(description="sub-accounts", placeholder="partners: org ids"),
                "ua-here-sub-accounts",
            )
            f["detail_level"] = styled(
                widgets.Dropdown(
                    options=list(HERE_DETAIL_LEVELS), value="day", description="detail"
                ),
                "ua-here-detail",
            )
            f["group_by"] = styled(
                widgets.SelectMultiple(options=list(HERE_GROUP_BY), rows=3, description="group by"),
                "ua-here-group-by",
            )
            f["charge_type"] = styled(
                widgets.Dropdown(
                    options=list(HERE_CHARGE_TYPES), value="all", description="charge"
                ),
                "ua-here-charge-type",
            )
            for name, label in (
                ("feature_id", "feature"),
                ("app_id", "app id"),
                ("project_hrn", "project"),
                ("billing_tag", "billing tag"),
                ("category", "category"),
            ):
                f[name] = styled(
                    widgets.Text(description=label, placeholder="any"),
                    f"ua-here-{name.replace('_', '-')}",
                )
            return [
                widgets.HBox([f["realm"], f["sub_accounts"]]),
                widgets.HBox([f["detail_level"], f["charge_type"], f["group_by"]]),
                widgets.HBox([f["feature_id"], f["app_id"], f["project_hrn"]]),
                widgets.HBox([f["billing_tag"], f["category"]]),
            ]
        f["job_type"] = styled(
            widgets.Dropdown(
                options=list(INFORMATICA_JOB_TYPES), value="SUMMARY", description="export"
            ),
            "ua-informatica-job-type",
        )
        f["meter_id"] = styled(
            widgets.Dropdown(
                options=_meter_options(), description="meter", layout=widgets.Layout(width="560px")
            ),
            "ua-informatica-meter",
        )
        f["all_linked_orgs"] = styled(
            widgets.Checkbox(value=False, description="all linked orgs"),
            "ua-informatica-linked",
        )
        f["combined_meter_usage"] = styled(
            widgets.Checkbox(value=False, description="combined meter usage"),
            "ua-informatica-combined",
        )
        f["job_type"].observe(self.messages.guard(lambda ch: self._job_type_chosen()), "value")
        self._job_type_chosen()
        return [
            widgets.HBox([f["job_type"], f["all_linked_orgs"], f["combined_meter_usage"]]),
            f["meter_id"],
        ]

    def _job_type_chosen(self) -> None:
        # Only asset and job-level exports take a meter; the others cover every meter.
        takes_meter = self.fields["job_type"].value in ("ASSET", "JOB_LEVEL")
        meter = self.fields["meter_id"]
        if not takes_meter:
            meter.value = None
        meter.disabled = not takes_meter

    def form_values(self) -> dict[str, Any]:
        """The form as plain values (dates as ``date``)."""
        values: dict[str, Any] = {"start": self.start.value, "end": self.end.value}
        for name, w in self.fields.items():
            values[name] = w.value
        return values

    def validate(self) -> Check:
        """Check the form; show errors and notes inline; enable Request only when valid."""
        self.check = check_request(self.provider, self.form_values(), today=self._today())
        lines = [
            f"<div class='ua-error' style='color:#b00'>{esc(k)}: {esc(v)}</div>"
            for k, v in self.check.errors.items()
        ]
        lines += [
            f"<div class='ua-note' style='color:#555'>{esc(n)}</div>" for n in self.check.notes
        ]
        self.validation.value = "".join(lines)
        self.request_button.disabled = not self.check.ok or self.busy
        return self.check

    def request_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``client.request(...)`` for the form as it is."""
        v = self.form_values()
        kw: dict[str, Any] = {"start": v["start"], "end": v["end"]}
        if self.provider == "particle":
            kw["report_type"] = v["report_type"]
            if v.get("agreement"):
                kw["agreement"] = v["agreement"]
            devices, products = split_ids(v["devices"]), split_ids(v["products"])
            if devices:
                kw["devices"] = devices
            if products:
                kw["products"] = products
        elif self.provider == "here":
            kw["detail_level"] = v["detail_level"]
            if v["group_by"]:
                kw["group_by"] = list(v["group_by"])
            if v["charge_type"] != "all":
                kw["charge_type"] = v["charge_type"]
            subs = split_ids(v["sub_accounts"])
            if subs:
                kw["sub_accounts"] = subs
            for name in ("feature_id", "app_id", "project_hrn", "billing_tag", "category"):
                if v[name].strip():
                    kw[name] = v[name].strip()
        else:
            kw["job_type"] = v["job_type"]
            if v["meter_id"]:
                kw["meter_id"] = v["meter_id"]
            kw["all_linked_orgs"] = bool(v["all_linked_orgs"])
            kw["combined_meter_usage"] = bool(v["combined_meter_usage"])
        return kw

    # ----------------------------------------------------------------- Particle

    def load_agreements(self) -> None:
        """Fill the agreement menu from the API; choose the first (its billing period fills the dates)."""
        try:
            self._agreements = list(self.client.service_agreements())
        except NotFoundError as exc:
            if exc.status != 404:
                raise
            raise _account_not_found(exc, self.provider, self._account()) from exc
        options = [(_agreement_label(a), str(a.get("id"))) for a in self._agreements]
        menu = self.fields["agreement"]
        menu.options = options
        if options:
            menu.value = options[0][1]
            self._agreement_chosen()
        else:
            self.messages.info("this account has no service agreement: Particle cannot report")

    def _agreement_chosen(self) -> None:
        chosen = self.fields["agreement"].value
        for a in self._agreements:
            if str(a.get("id")) == chosen:
                start = _as_date(a.get("current_billing_period_start"))
                end = _as_date(a.get("current_billing_period_end"))
                if start is not None and end is not None:
                    self.start.value, self.end.value = start, end
                return

    def switch_scope(self) -> None:
        """Use the sandbox or the organization typed in: a new client with the same token."""
        want_org = self.fields["scope"].value == "org"
        org = self.fields["org"].value.strip() if want_org else None
        if want_org and not org:
            raise InvalidParameter("org", "type the organization's slug or id")
        self.client = _particle_with_scope(self.client, org)
        self.header.value = self._header_html()
        self.load_agreements()
        self.load_jobs()
        self._show_status()

    # ----------------------------------------------------------------- jobs

    def load_jobs(self) -> None:
        """List this account's earlier jobs from the journal (newest first)."""
        frame = self.client.jobs()
        if "parent" in frame.columns:
            frame = frame[frame["parent"].isna()]
        frame = frame.sort_values("requested_at", ascending=False)
        options = [(_job_label(row), str(row["id"])) for row in frame.head(50).to_dict("records")]
        self.jobs_select.options = options or [("no earlier jobs", None)]
        # The newest job is preselected: after a kernel restart that is the one to resume.
        self.jobs_select.index = 0
        self.jobs_select.disabled = not options
        self.resume_button.disabled = not options or self.busy

    def resume_selected(self) -> None:
        """Re-attach to the job chosen in the list and wait for it like a new one."""
        job_id = self.jobs_select.value
        if not job_id:
            raise InvalidParameter("job", "choose an earlier job to resume")
        self._start(lambda: resume(job_id, client=self.client), f"resuming job {job_id}")

    # ----------------------------------------------------------------- run

    @property
    def busy(self) -> bool:
        """Whether the background thread is working."""
        return self._working

    def request(self) -> None:
        """Send the request (in the background) if the form is valid."""
        check = self.validate()
        if not check.ok:
            raise InvalidParameter(*next(iter(check.errors.items())))
        kwargs = self.request_kwargs()

        def make_job() -> Any:
            try:
                return self.client.request(**kwargs)
            except NotFoundError as exc:  # no report yet: the account is what was not found
                if exc.status != 404:
                    raise
                raise _account_not_found(exc, self.provider, self._account()) from exc

        self._start(make_job, "requesting a report")

    def cancel(self) -> None:
        """Stop waiting (the provider keeps the job: resume it later from the list)."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> pd.DataFrame | None:
        """Block until the background work ends (for scripts and tests); return the frame."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.dataframe

    def _start(self, make_job: Callable[[], Any], what: str) -> None:
        if self.busy:
            raise ConfigurationError("a report is already on its way: wait or stop waiting first")
        self._cancel.clear()
        self._working = True
        self.dataframe = None
        self.request_button.disabled = True
        self.resume_button.disabled = True
        self.cancel_button.disabled = False
        self.messages.info(what)
        self._thread = threading.Thread(
            target=self._run, args=(make_job,), name="ua-report-requester", daemon=True
        )
        self._thread.start()

    def _run(self, make_job: Callable[[], Any]) -> None:
        started = time.monotonic()
        try:
            self._set_status("requesting", started)
            job = make_job()
            self.job = job
            self.messages.info(f"{self.provider_name} job {job.id} is {job.state}")
            self._set_status(job.state, started)
            n = 0
            while job.state not in _DONE:
                if job.state in _FAILED:
                    raise ReportFailed(
                        f"the {self.provider_name} report failed"
                        + (f": {job.message}" if getattr(job, "message", None) else ""),
                        job_id=str(job.id),
                        state=str(job.provider_state or job.state),
                        provider=self.provider,
                    )
                delay = self.schedule.delay(n)
                # A provider's Retry-After lengthens the wait, as ReportJob.wait() does.
                delay = max(delay, float(getattr(job, "_retry_after", None) or 0.0))
                if self._sleep(delay, started):
                    self._set_status("stopped", started)
                    self.messages.info(
                        f"stopped waiting; job {job.id} continues at {self.provider_name}: "
                        "resume it from the list"
                    )
                    return
                job.refresh()
                n += 1
                self._set_status(job.state, started)
            self._set_status("downloading", started)
            job.download(progress=False)
            df = job.to_dataframe(unified=True)
            self._archive(job, df)
            self.dataframe = df
            self._set_status("done", started, rows=len(df))
            self.messages.info(f"report {job.id} is in: {len(df):,} rows")
            for text in getattr(job, "warnings", None) or ():
                self.messages.info(f"warning: {text}")
            if self.on_complete is not None:
                with self.messages.catching():
                    self.on_complete(df)
        except Exception as exc:  # shown in the widget: a thread's exception is lost otherwise
            self.messages.error(exc)
            self._set_status("failed", started)
        finally:
            self._working = False
            self.cancel_button.disabled = True
            with self.messages.catching():
                self.load_jobs()
            self.validate()

    def _archive(self, job: Any, df: pd.DataFrame) -> None:
        """Keep the report in the archive; a failure is shown, the frame is kept."""
        if self.archive is False:
            return
        where = None if self.archive is True else self.archive
        try:
            archive_report(job, df, archive=where)
        except (UsageAnalysisError, OSError) as exc:
            self.messages.info(
                f"warning: report {job.id} was read but not archived: {redact(str(exc))}"
            )

    def _sleep(self, seconds: float, started: float) -> bool:
        """Wait ``seconds`` with a live countdown; True when asked to stop."""
        until = time.monotonic() + seconds
        while True:
            left = until - time.monotonic()
            if left <= 0:
                return False
            self._set_status(self.status.get("state", "pending"), started, next_check_in=left)
            if self._cancel.wait(min(TICK, left)):
                return True

    def _set_status(
        self,
        state: str,
        started: float,
        *,
        next_check_in: float | None = None,
        rows: int | None = None,
    ) -> None:
        job = self.job
        self.status = {
            "state": state,
            "provider_state": getattr(job, "provider_state", None) if job is not None else None,
            "job_id": getattr(job, "id", None) if job is not None else None,
            "elapsed": time.monotonic() - started,
            "next_check_in": next_check_in,
            "rows": rows,
            **self._outstanding(),
        }
        self._show_status()

    def _outstanding(self) -> dict[str, Any]:
        try:
            # The client's own view of the journal: provider-side jobs still pending.
            frame = self.client.jobs()
            pending = frame["state"] == "pending"
            if "parts" in frame.columns:
                pending &= frame["parts"].isna()
            count: int | None = int(pending.sum())
        except Exception:  # the count is a courtesy; never let it stop the work
            count = None
        return {"outstanding": count, "limit": getattr(self.client, "max_outstanding", None)}

    def _show_status(self) -> None:
        s = self.status
        if "outstanding" not in s:
            s = {**s, **self._outstanding()}
            self.status = s
        parts = [f"<span class='ua-status-state'><b>{esc(s.get('state'))}</b></span>"]
        if s.get("provider_state"):
            parts.append(f"{esc(self.provider_name)} says {esc(s['provider_state'])}")
        if s.get("job_id"):
            parts.append(f"job {esc(s['job_id'])}")
        if s.get("elapsed") is not None:
            parts.append(f"elapsed {s['elapsed']:.0f} s")
        if s.get("next_check_in") is not None:
            parts.append(f"next check in {s['next_check_in']:.0f} s")
        if s.get("rows") is not None:
            parts.append(f"{s['rows']:,} rows")
        if s.get("outstanding") is not None:
            limit = s.get("limit")
            of = f" of {limit}" if limit else ""
            parts.append(
                f"<span class='ua-status-outstanding'>{s['outstanding']}{of} outstanding</span>"
            )
        self.status_html.value = " · ".join(parts)

    # ----------------------------------------------------------------- small things

    def _header_html(self) -> str:
        return (
            f"<b>{esc(self.provider_name)} usage report</b> · account "
            f"<span class='ua-account'>{esc(self._account())}</span>"
        )

    def _account(self) -> str:
        try:
            return str(self.client.account)
        except Exception as exc:  # e.g. Informatica login failed: say so, keep the form
            self.messages.error(exc)
            return "(unknown)"

    def _today(self) -> date:
        clock = getattr(self.client, "clock", None)
        now = clock.now() if clock is not None else datetime.now(UTC)
        return now.date() if isinstance(now, datetime) else datetime.now(UTC).date()


_ACCOUNT_HINTS = {
    "particle": (
        "check the organization's slug or id (as in the console's address, "
        "console.particle.io/<org>) and that the token's user belongs to it; "
        "choose sandbox for your own devices"
    ),
    "here": "check the realm id: your HERE org id, e.g. org123456789 (HERE_REALM_ID)",
    "informatica": "check the org: the user must belong to it, and the login URL must name its pod",
}


def _account_not_found(exc: NotFoundError, provider: str, account: str) -> NotFoundError:
    """A 404 before any report exists means the account, not an expired report."""
    return NotFoundError(
        f"the {provider_name(provider)} account {account!r} was not found",
        provider=exc.provider,
        status=exc.status,
        code=exc.code,
        request_id=exc.request_id,
        hint=_ACCOUNT_HINTS.get(provider, "check the account"),
    )


def _agreement_label(a: dict[str, Any]) -> str:
    name = a.get("name") or a.get("agreement_type") or a.get("id")
    period = f"{a.get('current_billing_period_start')} to {a.get('current_billing_period_end')}"
    state = a.get("state") or ""
    return f"{name} ({state}) · billing period {period}"


def _job_label(row: dict[str, Any]) -> str:
    params = row.get("params")
    if isinstance(params, str):
        import json

        try:
            params = json.loads(params)
        except ValueError:
            params = {}
    params = params if isinstance(params, dict) else {}
    when = (
        pd.Timestamp(row["requested_at"]).strftime("%Y-%m-%d %H:%M")
        if row.get("requested_at") is not None
        else "?"
    )
    span = f"{params.get('start', '?')} to {params.get('end', '?')}"
    kind = params.get("report_type") or params.get("job_type") or params.get("detail_level") or ""
    return f"{when} · {row['id']} · {row.get('state')} · {kind} {span}".strip()


def _as_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    try:
        return pd.Timestamp(str(value)).date()
    except ValueError:
        return None


def _meter_options() -> list[tuple[str, str | None]]:
    """'all meters' and every catalog meter by name (mode added where a name has two ids)."""
    options: list[tuple[str, str | None]] = [("all meters", None)]
    try:
        from ..catalog import meter_catalog

        table = meter_catalog()
    except Exception:  # no catalog: the export still works for all meters
        return options
    for row in table.sort_values("meter").to_dict("records"):
        label = str(row["meter"])
        if isinstance(row.get("mode"), str) and row["mode"]:
            label += f" ({row['mode']})"
        options.append((label, str(row["meter_id"])))
    return options


def _particle_with_scope(client: Any, org: str | None) -> Any:
    """The same Particle client for another scope (sandbox when ``org`` is None).

    The token is passed on as the client's ``Secret``: it is never read into a widget.
    """
    return type(client)(
        token=client._token,
        org=org,
        base_url=client.base_url,
        clock=client.clock,
        schedule=client.schedule,
        journal=client.journal,
    )
