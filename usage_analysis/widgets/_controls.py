"""The explorer's controls: what they say now, and their options kept in step.

A mixin of :class:`~usage_analysis.widgets.explorer.UsageExplorer` (which builds the
widgets): reads the filter and view widgets into a :class:`Selection` and a
:class:`View`, narrows each filter's options to the chosen providers and accounts,
keeps the search boxes and the plan menu in step, and picks the first grouping.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd

from ..analysis import ParticlePlan, plan_status
from ..errors import UsageAnalysisError
from ._common import Messages
from ._filter import NARROWING_COLUMNS, FrameFilter, Selection
from ._source import DeviceViews
from ._views import View

__all__ = ["MAX_OPTIONS", "Controls", "blocks_needed", "default_by", "default_quantity"]

# A search box shows at most this many matching options: a browser list of
# 10,000 devices is unusable, and searching narrows it.
MAX_OPTIONS = 300


class Controls:
    """The widget state of an explorer (a mixin; the explorer makes the widgets)."""

    # Made by UsageExplorer.__init__.
    columns: tuple[str, ...]
    filter: FrameFilter
    devices: DeviceViews | None
    messages: Messages
    selects: dict[str, widgets.SelectMultiple]
    searches: dict[str, widgets.Text]
    start: widgets.DatePicker
    end: widgets.DatePicker
    chart: widgets.Dropdown
    by: widgets.Dropdown
    freq: Any
    quantity: Any
    top: widgets.IntSlider
    plan: widgets.Dropdown
    blocks: widgets.BoundedIntText
    _custom_plan: ParticlePlan | None
    _all_options: dict[str, list[tuple[str, Any]]]
    _options: dict[str, list[tuple[str, Any]]]
    _narrowed_by: tuple[frozenset[Any], ...]
    _by_auto: bool
    _quiet: bool

    @property
    def selection(self) -> Selection:
        """The filters as they are set now."""
        return Selection(
            values={c: frozenset(s.value) for c, s in self.selects.items()},
            start=self.start.value,
            end=self.end.value,
        )

    @property
    def view(self) -> View:
        """The view options as they are set now."""
        return View(
            chart=self.chart.value,
            by=self.by.value,
            freq=self.freq.value,
            quantity=self.quantity.value,
            top=int(self.top.value),
            plan=self.current_plan(),
        )

    def current_plan(self) -> ParticlePlan | None:
        """The plan chosen in the menu."""
        choice = self.plan.value
        if choice == "free":
            return ParticlePlan.free()
        if choice == "basic":
            return ParticlePlan.basic(blocks=int(self.blocks.value))
        if choice == "custom":
            return self._custom_plan
        return None

    def _narrow(self) -> None:
        """Offer only the values of the chosen providers and accounts in the other filters.

        A selected value that no longer occurs there is dropped (it would select nothing).
        """
        selection = self.selection
        key = tuple(selection.values.get(c, frozenset()) for c in NARROWING_COLUMNS)
        if key == self._narrowed_by:
            return
        self._narrowed_by = key
        for col in self.columns:
            if col == "provider":
                continue
            if col == "resource_id" and self.devices is not None:
                self._options[col] = self.devices.options(selection)
                offered = {v for _, v in self._options[col]}
                self._set_options(col, [v for v in self.selects[col].value if v in offered])
                continue
            within = self.filter.narrowing_mask(selection, exclude=(col,))
            self._options[col] = (
                self._all_options[col]
                if within is None
                else self.filter.options(col, within=within)
            )
            offered = {v for _, v in self._options[col]}
            self._set_options(col, [v for v in self.selects[col].value if v in offered])
        if self._by_auto:
            self._follow_default_by(self.filter.narrowing_mask(selection))

    def _by_chosen(self) -> None:
        if not self._quiet:
            self._by_auto = False

    def _follow_default_by(self, within: np.ndarray | None) -> None:
        """Group by what tells the chosen providers' rows apart (:func:`default_by`)."""
        codes, categories = self.filter.decoded()["product"]
        if within is not None:
            codes = codes[within]
        named = np.append(categories.astype(str).str.strip() != "", False)  # code -1: none
        by = "product" if len(codes) and named[codes].mean() >= 0.5 else "meter"
        if not len(codes):
            return
        quiet, self._quiet = self._quiet, True
        try:
            self.by.value = by
        finally:
            self._quiet = quiet

    def _search(self, column: str) -> None:
        self._set_options(column, list(self.selects[column].value))

    def _set_options(self, column: str, keep: list[Any]) -> None:
        """Show the options matching the search box, always with the selected ones."""
        text = self.searches[column].value.strip().casefold()
        everything = self._options[column]
        matching = [o for o in everything if text in o[0].casefold()] if text else everything
        kept = set(keep)
        shown = [o for o in everything if o[1] in kept]
        shown += [o for o in matching if o[1] not in kept][: max(0, MAX_OPTIONS - len(shown))]
        select = self.selects[column]
        quiet, self._quiet = self._quiet, True
        try:
            select.options = shown
            select.value = tuple(v for v in keep if v in {o[1] for o in shown})
        finally:
            self._quiet = quiet

    def _set_plan_controls(self, plan: ParticlePlan | None, particle: pd.DataFrame | None) -> None:
        quiet, self._quiet = self._quiet, True
        try:
            if plan is None and particle is not None:
                # Default: the Basic blocks the newest month needs, so the chart starts useful.
                self.plan.value = "basic"
                self.blocks.value = blocks_needed(particle)
            elif plan is None:
                self.plan.value = "none"
            elif plan.blocks is not None:
                self.plan.value = "basic"
                self.blocks.value = plan.blocks
            elif plan.name == "free":
                self.plan.value = "free"
            else:
                self.plan.value = "custom"
        finally:
            self._quiet = quiet

    def _plan_changed(self) -> None:
        self.blocks.disabled = self.plan.value != "basic"
        if self.plan.value == "custom" and self._custom_plan is None:
            self.messages.info("no custom plan was given: pass plan=ParticlePlan.custom(...)")


def default_by(df: pd.DataFrame) -> str:
    """What the chart groups by at first: products, or meters when most rows have no product.

    Informatica's SUMMARY export names no project: grouping it by product showed
    one "(none) 100 %" box; its meters are what tells its usage apart.
    """
    product = df["product"]
    named = product.notna()
    if product.dtype == object or isinstance(product.dtype, pd.StringDtype | pd.CategoricalDtype):
        named &= product.astype("string").str.strip().fillna("") != ""
    return "product" if named.mean() >= 0.5 else "meter"


def default_quantity(df: pd.DataFrame) -> str:
    """Billable when it has fewer units (IPUs across Informatica meters), else consumed."""
    fewer_units = df["billable_unit"].nunique() < df["unit"].nunique()
    if fewer_units and df["billable_quantity"].notna().any():
        return "billable_quantity"
    return "quantity"


def blocks_needed(df: pd.DataFrame) -> int:
    """Basic blocks the newest Particle month needs (1 when that cannot be told)."""
    prows = df.loc[(df["provider"] == "particle").to_numpy(bool, na_value=False)]
    try:
        status = plan_status(prows, ParticlePlan.basic(blocks=1))
    except UsageAnalysisError:
        return 1
    return int(status.blocks_needed)
