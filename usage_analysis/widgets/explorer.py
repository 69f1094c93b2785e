"""``UsageExplorer(df)``: filter a unified usage frame, chart it, read the headline numbers.

A thin shell: every callback reads widget values into a :class:`Selection` and a
:class:`View`, calls :func:`compute_headline`, the chart functions of
:mod:`usage_analysis.charts` and :func:`~usage_analysis.analysis.top_consumers`,
and assigns the results. Filtering is vectorised (:class:`FrameFilter`) and
results are kept per selection and view (a chart switch recomputes the chart
alone, all rows again recomputes nothing); charts and the top table are drawn
from cells per group, unit and period where that is exact (``_aggregate``);
``python -m bench widgets`` measures every change on a frame mixing HERE and
Particle rows against the targets of issue 21 (100 ms on 1,000,000 rows, 300 ms
on 5,000,000).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .. import charts
from .._memory import release_memory
from ..analysis import ParticlePlan
from ..analysis.allocation import with_team
from ..analysis.events import Event, coerce_events
from ..defaults import CHART_MAX_SERIES, EXPLORER_TOP_ROWS
from ..errors import InvalidParameter, UsageAnalysisError
from ..schema import validate_unified
from ._aggregate import (
    Decoded,
    Selected,
    fast_draw,
    fast_headline,
    fast_top_consumers,
)
from ._common import ChartResizer, ChartWidget, Messages, esc, styled
from ._controls import MAX_OPTIONS, Controls, default_by, default_quantity
from ._export import Exports
from ._filter import FrameFilter, Selection, filter_columns
from ._source import ArchiveSource, DeviceViews
from ._views import CHART_KINDS, View, draw, top_table_html
from .headline import Headline, compute_headline, headline_html

__all__ = ["CHART_KINDS", "Headline", "UsageExplorer", "View", "compute_headline", "draw"]

GROUP_BY: dict[str, str] = {
    "product": "product / app / project",
    "resource_id": "device / app / asset",
    "meter": "meter / feature",
    "account_id": "account / org",
    "provider": "provider",
    "category": "category",
    "team": "team (allocation rules)",
}
FILTER_LABELS: dict[str, str] = {
    "provider": "Provider",
    "team": "Team",
    "account_id": "Account / org",
    "project": "Project (HERE)",
    "billing_tag": "Billing tag",
    "product": "Product / app / project",
    "resource_id": "Device / app / asset",
    "meter": "Meter / feature",
}
_CSS = {
    "provider": "ua-provider-filter",
    "team": "ua-team-filter",
    "account_id": "ua-account-filter",
    "project": "ua-project-filter",
    "billing_tag": "ua-billing-tag-filter",
    "product": "ua-product-filter",
    "resource_id": "ua-resource-filter",
    "meter": "ua-meter-filter",
}
# Results (headline, figure, table) kept for recent selections and views: a few
# figures of at most CHART_MAX_POINTS points each, small next to the frame.
RESULT_CACHE_SIZE = 24
# How long a chart replaced by a new drawing stays open (off the page) before it is
# closed: longer than a busy page takes to set up a widget it was just sent.
RETIRED_CHART_SECONDS = 30.0
# Buttons as wide as their text: JupyterLab's fixed default width cut "Save chart (HT…".
_FIT = widgets.Layout(width="auto", min_width="max-content")


class UsageExplorer(Controls, Exports, widgets.VBox):
    """Filter, chart and export a unified usage frame in a notebook.

    Args:
        df: a unified usage frame (e.g. ``read_report(path, unified=True)`` or a
            ``ReportRequester``'s ``.dataframe``).
        plan: the Particle plan to compare with; default Basic with the blocks
            the newest month needs. ``None``-like choice is in the menu too.
        export_dir: where "Save CSV" and "Save chart" write (default ``./exports``).
        fast: draw from category codes (``_aggregate``) where that is exact; ``False``
            computes everything from the filtered rows (the reference, for debugging).
        rules: allocation rules (a TOML file or ``AllocationRules``): each row gets
            its ``team`` (a shared row ``shared: <rule>``), to filter and group by.
        events: planned changes the headline's forecast takes into account, as in
            :func:`usage_analysis.forecast` (``"+5,000 devices from 2027-01-15"``).

    The current state is readable without a browser: ``selection``, ``view``,
    ``filtered`` (the rows), ``headline`` (a :class:`Headline`), ``figure`` (the
    ``FigureWidget``), ``messages`` (:class:`Messages`) and ``last_redraw_seconds``.
    """

    def __init__(
        self,
        df: pd.DataFrame,
        *,
        plan: ParticlePlan | None = None,
        export_dir: str | Path | None = None,
        chart: str = "time",
        by: str | None = None,
        freq: str = "D",
        top: int = 10,
        quantity: str | None = None,
        fast: bool = True,
        rules: Any = None,
        events: Event | str | Sequence[Event | str] | None = None,
        devices: DeviceViews | None = None,
    ) -> None:
        validate_unified(df)
        planned = coerce_events(events)  # refused here, before any widget is built
        if rules is not None:  # a team filter and group-by (docs/allocation.md)
            df = with_team(df, rules)
        super().__init__()
        self.add_class("ua-explorer")
        # pandas deep-copies ``attrs`` into every derived frame; the explorer needs none
        # of them, and a shallow copy (copy-on-write) costs no data.
        if df.attrs:
            df = df.copy(deep=False)
            df.attrs = {}
        self.df = df
        self.fast = fast
        self.events = planned
        self.columns = filter_columns(df)
        self.filter = FrameFilter(df, columns=self.columns)
        self.export_dir = Path(export_dir) if export_dir is not None else Path("exports")
        self.messages = Messages()
        self.headline = Headline(rows=0)
        self._mask: np.ndarray | None = None
        self._filtered: pd.DataFrame | None = df
        self._decoded = Decoded(df, self.filter.day, known=self.filter.decoded())
        self._selected: tuple[tuple[Any, ...], Selected] | None = None
        self.redraws = 0
        self.last_redraw_seconds = float("nan")
        self.last_export: dict[str, Path] = {}
        self._quiet = False
        self._results: dict[tuple[Any, ...], Any] = {}
        self._all_options = {c: self.filter.options(c) for c in self.columns}
        # Opened on a daily cube (from_archive): device-level answers come from the archive.
        self.devices = devices
        if devices is not None:
            self._all_options["resource_id"] = devices.options()
        # The options offered now: narrowed to the chosen providers and accounts.
        self._options = dict(self._all_options)
        self._narrowed_by: tuple[frozenset[Any], ...] = ()
        if chart not in CHART_KINDS:
            raise InvalidParameter("chart", f"expected one of {', '.join(CHART_KINDS)}")
        # Until the user picks a grouping, it follows the chosen providers (meters for
        # Informatica's SUMMARY rows, which name no product).
        self._by_auto = by is None
        by = by if by is not None else default_by(df)
        if by not in GROUP_BY or by not in df.columns:
            raise InvalidParameter("by", f"expected one of {', '.join(GROUP_BY)}")
        if freq not in ("D", "W", "MS"):
            raise InvalidParameter("freq", "expected 'D', 'W' or 'MS'")

        # Filters: a search box above a multi-select, per column.
        self.searches: dict[str, widgets.Text] = {}
        self.selects: dict[str, widgets.SelectMultiple] = {}
        boxes = []
        for col in self.columns:
            search = styled(
                widgets.Text(placeholder="search…", layout=widgets.Layout(width="190px")),
                _CSS[col].replace("-filter", "-search"),
            )
            select = styled(
                widgets.SelectMultiple(
                    options=self._all_options[col][:MAX_OPTIONS],
                    rows=6,
                    layout=widgets.Layout(width="190px"),
                ),
                _CSS[col],
            )
            select.tooltip = FILTER_LABELS[col]
            search.observe(self._guard(lambda ch, c=col: self._search(c)), names="value")
            select.observe(self._guard(lambda ch: self.refresh()), names="value")
            self.searches[col], self.selects[col] = search, select
            boxes.append(
                widgets.VBox(
                    [widgets.HTML(f"<b>{esc(FILTER_LABELS[col])}</b>"), search, select],
                    layout=widgets.Layout(margin="0 8px 0 0"),
                )
            )
        self.start = styled(
            widgets.DatePicker(value=self.filter.first_day, description="from"), "ua-date-start"
        )
        self.end = styled(
            widgets.DatePicker(value=self.filter.last_day, description="to"), "ua-date-end"
        )
        for w in (self.start, self.end):
            w.layout = widgets.Layout(width="230px")
            w.observe(self._guard(lambda ch: self.refresh()), names="value")
        # A wrong range is said here, beside the dates, not only in the messages below.
        self.date_error = styled(
            widgets.HTML(layout=widgets.Layout(max_width="230px")), "ua-date-error"
        )
        self.clear_button = styled(
            widgets.Button(description="Clear filters", layout=_FIT), "ua-clear"
        )
        self.clear_button.on_click(self._guard(lambda b: self.clear_filters()))
        boxes.append(
            widgets.VBox(
                [
                    widgets.HTML("<b>Days (UTC)</b>"),
                    self.start,
                    self.end,
                    self.date_error,
                    self.clear_button,
                ]
            )
        )

        # View options.
        self.by = styled(
            widgets.Dropdown(
                options=[(v, k) for k, v in GROUP_BY.items() if k in df.columns],
                value=by,
                description="group by",
                style={"description_width": "initial"},
            ),
            "ua-group-by",
        )
        self.freq = styled(
            widgets.ToggleButtons(
                options=[("day", "D"), ("week", "W"), ("month", "MS")],
                value=freq,
                style={"button_width": "auto"},
            ),
            "ua-freq",
        )
        self.chart = styled(
            widgets.Dropdown(
                options=[(v, k) for k, v in CHART_KINDS.items()],
                value=chart,
                description="chart",
                style={"description_width": "initial"},
            ),
            "ua-chart-type",
        )
        self.top = styled(
            widgets.IntSlider(value=top, min=1, max=CHART_MAX_SERIES, description="top"),
            "ua-top-n",
        )
        self.quantity = styled(
            widgets.ToggleButtons(
                options=[("consumed", "quantity"), ("billable", "billable_quantity")],
                value=quantity or default_quantity(df),
                style={"button_width": "auto"},
            ),
            "ua-quantity",
        )
        has_particle = bool((df["provider"] == "particle").any())
        self.plan = styled(
            widgets.Dropdown(
                options=[
                    ("no plan", "none"),
                    ("Free", "free"),
                    ("Basic", "basic"),
                    ("custom (as given)", "custom"),
                ],
                description="plan",
                style={"description_width": "initial"},
            ),
            "ua-plan",
        )
        self.blocks = styled(
            widgets.BoundedIntText(
                value=1,
                min=1,
                max=1000,
                description="blocks",
                style={"description_width": "initial"},
            ),
            "ua-plan-blocks",
        )
        is_custom = plan is not None and plan.blocks is None and plan.name != "free"
        self._custom_plan = plan if is_custom else None
        self._set_plan_controls(plan, df if has_particle else None)
        for w in (self.by, self.freq, self.chart, self.top, self.quantity, self.plan, self.blocks):
            w.observe(self._guard(lambda ch: self.refresh()), names="value")
        self.plan.observe(self._guard(lambda ch: self._plan_changed()), names="value")
        self.by.observe(lambda ch: self._by_chosen(), names="value")
        plan_box = widgets.HBox([self.plan, self.blocks])
        plan_box.add_class("ua-plan-box")
        if not has_particle:
            plan_box.layout.display = "none"
        self._plan_changed()

        # Results.
        self.headline_html = styled(widgets.HTML(), "ua-headline")
        # The chart fills the explorer's width, also when the explorer is put into a
        # box already on the page (see ChartResizer) and when the window is resized.
        self.figure = ChartWidget()
        # Charts replaced by a later drawing, with the time they were (see _show).
        self._retired: list[tuple[float, Any]] = []
        self._clock: Callable[[], float] = time.monotonic
        self.resizer = ChartResizer()
        self.top_table = styled(widgets.HTML(), "ua-top-table")
        self.csv_button = styled(
            widgets.Button(description="Save CSV", icon="download", layout=_FIT), "ua-export-csv"
        )
        self.html_button = styled(
            widgets.Button(description="Save chart (HTML)", icon="download", layout=_FIT),
            "ua-export-html",
        )
        self.csv_button.on_click(self._guard(lambda b: self.export_csv()))
        self.html_button.on_click(self._guard(lambda b: self.export_html()))
        self.links = styled(widgets.HTML(), "ua-export-links")

        self.children = [
            widgets.HBox(boxes, layout=widgets.Layout(flex_flow="row wrap")),
            widgets.HBox([self.by, self.chart, self.top]),
            widgets.HBox([self.freq, self.quantity, plan_box]),
            self.headline_html,
            self.figure,
            widgets.HTML("<b>Top consumers</b> (devices, apps, assets)"),
            self.top_table,
            widgets.HBox([self.csv_button, self.html_button, self.links]),
            self.messages.output,
            self.resizer,
        ]
        self.refresh()

    # ----------------------------------------------------------------- state

    @property
    def filtered(self) -> pd.DataFrame:
        """The rows the filters keep (the frame itself when they keep every row)."""
        if self._filtered is None:
            self._filtered = self.df if self._mask is None else self.df.loc[self._mask]
        return self._filtered

    # ----------------------------------------------------------------- actions

    def refresh(self) -> None:
        """Filter, recompute the headline, the chart and the table (a callback calls this)."""
        if self._quiet:
            return
        t0 = time.perf_counter()
        self._narrow()
        try:
            mask = self.filter.mask(self._frame_selection())
        except InvalidParameter as exc:
            if exc.parameter not in ("start", "end"):
                raise
            # Shown beside the dates, where it can be fixed; the chart stays as it was.
            self.date_error.value = f"<span style='color:#a33'>{esc(exc)}</span>"
            self.messages.error(exc)
            return
        self.date_error.value = ""
        errors_before = len(self.messages.errors)
        view = self.view
        # The rows are copied out only when a slow path or an export needs them.
        self._mask, self._filtered = mask, None
        # Results are kept per selection: switching the chart recomputes only the
        # chart, and going back to a selection seen before (all rows, typically)
        # recomputes nothing. Every key holds everything its result depends on.
        picked = self._selection_key()
        # The selected rows' columns, gathered once, serve every view of the selection.
        if self._selected is None or self._selected[0] != picked:
            rows = None if mask is None else np.flatnonzero(mask)
            self._selected = (picked, Selected(self._decoded, rows))
        sel = self._selected[1]
        with self.messages.catching():
            self.headline = self._cached(
                ("headline", picked, view.quantity, view.plan),
                lambda: (
                    self._device_headline(view)
                    or (
                        self.fast
                        and fast_headline(
                            sel, quantity=view.quantity, plan=view.plan, events=self.events
                        )
                    )
                    or compute_headline(
                        self.filtered, quantity=view.quantity, plan=view.plan, events=self.events
                    )
                ),
            )
            self.headline_html.value = headline_html(self.headline)
        try:
            fig = self._cached(("figure", picked, view), lambda: self._draw(sel, view))
        except UsageAnalysisError as exc:
            self.messages.error(exc)
            fig = charts._empty(CHART_KINDS[view.chart], str(exc))
        self._show(fig)
        with self.messages.catching():
            # Top consumers are devices, apps or assets, whatever the chart groups by.
            self.top_table.value = self._cached(
                ("table", picked, view.quantity),
                lambda: self._top_table(sel, view.quantity),
            )
        if len(self.messages.errors) == errors_before:
            # This change worked: the errors of earlier ones no longer apply.
            self.messages.clear_errors()
        self.redraws += 1
        self.last_redraw_seconds = time.perf_counter() - t0

    def clear_filters(self) -> None:
        """Select everything again (one redraw)."""
        self._quiet = True
        try:
            for col in self.columns:
                self.searches[col].value = ""
                self.selects[col].value = ()
            self.start.value = self.filter.first_day
            self.end.value = self.filter.last_day
        finally:
            self._quiet = False
        self.refresh()

    def set_filters(
        self,
        *,
        provider: Sequence[Any] | None = None,
        account_id: Sequence[Any] | None = None,
        product: Sequence[Any] | None = None,
        resource_id: Sequence[Any] | None = None,
        meter: Sequence[Any] | None = None,
        project: Sequence[Any] | None = None,
        billing_tag: Sequence[Any] | None = None,
        team: Sequence[Any] | None = None,
        start: date | str | None = None,
        end: date | str | None = None,
    ) -> None:
        """Set several filters from code with one redraw (``None`` leaves one as it is)."""
        wanted = {
            "provider": provider,
            "account_id": account_id,
            "product": product,
            "resource_id": resource_id,
            "meter": meter,
            "project": project,
            "billing_tag": billing_tag,
            "team": team,
        }
        self._quiet = True
        try:
            for col, values in wanted.items():
                if values is None:
                    continue
                if col not in self.columns:
                    raise InvalidParameter(col, "the frame has no values in this column")
                values = list(values)
                known = {v for _, v in self._all_options[col]}
                unknown = [v for v in values if v not in known]
                if unknown:
                    raise InvalidParameter(col, f"unknown values {unknown!r}")
                self.searches[col].value = ""
                self._set_options(col, values)
                self.selects[col].value = tuple(values)
            if start is not None:
                self.start.value = pd.Timestamp(start).date()
            if end is not None:
                self.end.value = pd.Timestamp(end).date()
        finally:
            self._quiet = False
        self.refresh()

    def set_view(
        self,
        *,
        chart: str | None = None,
        by: str | None = None,
        freq: str | None = None,
        quantity: str | None = None,
        top: int | None = None,
        plan: str | None = None,
    ) -> None:
        """Set several view options from code with one redraw (``None`` leaves one as it
        is). Values are the controls' own: ``chart="top"``, ``by="resource_id"``,
        ``freq="W"``, ``quantity="billable_quantity"``, ``plan="free"``. A value a
        control does not offer raises :class:`InvalidParameter` and changes nothing."""
        wanted = {
            "chart": chart,
            "by": by,
            "freq": freq,
            "quantity": quantity,
            "top": top,
            "plan": plan,
        }
        for name, value in wanted.items():
            if value is None:
                continue
            control = getattr(self, name)
            if name == "top":
                if isinstance(value, bool) or not isinstance(value, int | np.integer):
                    raise InvalidParameter(name, f"expected a whole number, got {value!r}")
                if not control.min <= value <= control.max:
                    raise InvalidParameter(
                        name, f"expected {control.min} to {control.max}, got {value!r}"
                    )
                continue
            offered = [o[1] if isinstance(o, tuple) else o for o in control.options]
            if value not in offered:
                raise InvalidParameter(name, f"expected one of {offered}, got {value!r}")
        self._quiet = True
        try:
            for name, value in wanted.items():
                if value is not None:
                    getattr(self, name).value = value
        finally:
            self._quiet = False
        if by is not None:
            self._by_auto = False  # chosen: a narrower selection no longer picks it
        self.refresh()

    def close(self) -> None:
        """Close the widget and let go of the frame and everything computed from it.

        The explorer's callbacks refer to it, so it lingers until the garbage collector
        runs; its decoded columns, row masks and cached figures are dropped now and
        the freed memory is given back to the operating system.
        """
        super().close()
        held = (
            "df",
            "filter",
            "_decoded",
            "_selected",
            "_filtered",
            "_mask",
            "_results",
            "headline",
        )
        if any(name in self.__dict__ for name in held):
            self.figure.close()
            for _, chart in self._retired:
                chart.close()
            self._retired.clear()
            for name in held:
                self.__dict__.pop(name, None)
            release_memory()

    # ----------------------------------------------------------------- internals

    def _guard(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return self.messages.guard(fn)

    def _show(self, fig: go.Figure) -> None:
        # Each drawing is a new FigureWidget in the old one's place. Patching one
        # widget sends its page view deletes, adds and relayouts; a view whose first
        # Plotly.newPlot is still under way (a user who clicks as soon as the explorer
        # shows) applied them to the plot being built and then showed the old figure
        # (plotly's widget does not queue them). A new view always starts from the
        # whole figure, and no key of an earlier chart can linger on the page either.
        #
        # The old widget is closed only once it has been off the page for a while: a
        # page still setting up its model (redraws in quick succession) had that set-up
        # aborted by the close, and said so as an error in the browser.
        old = self.figure
        fw = ChartWidget(fig)
        self.figure = fw
        self.children = [fw if child is old else child for child in self.children]
        now = self._clock()
        self._retired.append((now, old))
        while self._retired and now - self._retired[0][0] >= RETIRED_CHART_SECONDS:
            self._retired.pop(0)[1].close()

    # --- opened on a daily cube: what names devices comes from the archive (_source)

    @classmethod
    def from_archive(
        cls,
        *,
        grain: str | dict[str, str] | None = None,
        archive: str | Path | None = None,
        storage_options: dict[str, Any] | None = None,
        **options: Any,
    ) -> UsageExplorer:
        """An explorer on the archive: its daily cube, summed in DuckDB, and device-level
        views (top consumers, a device filter, grouping by device) selected from the
        archive on demand - a year of a large fleet without its device rows in memory."""
        source = ArchiveSource(grain=grain, archive=archive, storage_options=storage_options)
        return cls(source.cube(), devices=DeviceViews(source), **options)

    def _frame_selection(self) -> Selection:
        """What the frame itself filters: a daily cube names no devices (``devices`` does)."""
        sel = self.selection
        if self.devices is None or not sel.values.get("resource_id"):
            return sel
        values = {c: v for c, v in sel.values.items() if c != "resource_id"}
        return Selection(values=values, start=sel.start, end=sel.end)

    def _device_rows(self, view: View) -> pd.DataFrame | None:
        """The device rows a view needs (a device filter, grouping by device, a breakdown
        down to devices), or None: totals where the chart shows no time axis."""
        sel = self.selection
        if self.devices is None:
            return None
        if view.chart == "breakdown" or (view.chart == "top" and view.by == "resource_id"):
            return self.devices.totals(sel)
        if sel.values.get("resource_id") or view.by == "resource_id":
            return self.devices.selected_rows(sel, top=view.top, quantity=view.quantity)
        return None

    def _device_headline(self, view: View) -> Headline | None:
        if self.devices is None or not self.selection.values.get("resource_id"):
            return None
        rows = self.devices.selected_rows(self.selection, top=view.top, quantity=view.quantity)
        return compute_headline(rows, quantity=view.quantity, plan=view.plan, events=self.events)

    def _top_table(self, sel: Selected, quantity: str) -> str:
        if self.devices is not None:
            totals = self.devices.totals(self.selection)
            return top_table_html(totals, by="resource_id", quantity=quantity, n=EXPLORER_TOP_ROWS)
        sums = fast_top_consumers(sel, quantity=quantity) if self.fast else None
        if sums is None:
            return top_table_html(
                self.filtered, by="resource_id", quantity=quantity, n=EXPLORER_TOP_ROWS
            )

        def label_rows(column: str, values: list[Any]) -> pd.DataFrame:
            # The selected rows holding one of ``values``: a gather on codes.
            cats = self._decoded.codes(column)[1]
            wanted = np.zeros(len(cats) + 1, dtype=bool)
            pos = cats.get_indexer(pd.Index(values, dtype=cats.dtype))
            wanted[pos[pos >= 0] + 1] = True
            wanted[0] = any(pd.isna(v) for v in values)  # code 0: the id is missing
            held = np.flatnonzero(wanted[sel.codes(column).astype(np.int64) + 1])
            return self.df.take(held if sel.rows is None else sel.rows[held])

        return top_table_html(
            self.df,
            by="resource_id",
            quantity=quantity,
            n=EXPLORER_TOP_ROWS,
            sums=sums,
            label_rows=label_rows,
        )

    def _draw(self, sel: Selected, view: View) -> go.Figure:
        rows = self._device_rows(view)
        if rows is not None:
            return draw(rows, view)
        # The allocated team is not among the columns _aggregate sums: drawn from the rows.
        if self.fast and view.by != "team":
            fig = fast_draw(sel, view)
            if fig is not None:
                return fig
        return draw(self.filtered, view)

    def _selection_key(self) -> tuple[Any, ...]:
        """The selection as a hashable key; the same for every selection of all rows."""
        sel = self.selection
        if self.filter.mask(self._frame_selection()) is None and not sel.values.get("resource_id"):
            return ("all",)
        values = tuple(sorted((c, v) for c, v in sel.values.items() if v))
        return (values, sel.start, sel.end)

    def _cached(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        if key in self._results:
            self._results[key] = self._results.pop(key)  # most recently used last
            return self._results[key]
        value = compute()
        self._results[key] = value
        while len(self._results) > RESULT_CACHE_SIZE:
            del self._results[next(iter(self._results))]
        return value
