"""What the widgets share: the message area, error capture and small formatting helpers.

Callbacks run inside the kernel's comm handler (or a background thread): an
exception raised there is printed to the browser console at best. Every callback
goes through :meth:`Messages.guard`, which puts the message (and, for a bug, the
traceback) in an ``Output`` area inside the widget, where the user sees it.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import html
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import anywidget
import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
import traitlets

from .._secrets import redact
from ..charts import format_quantity
from ..errors import UsageAnalysisError

__all__ = [
    "ChartResizer",
    "ChartWidget",
    "Messages",
    "PlotlyScript",
    "fmt_number",
    "plotly_script",
    "plotly_script_key",
    "styled",
]

F = TypeVar("F", bound=Callable[..., Any])

# How many messages the area keeps: the newest matter, an endless log does not.
MAX_MESSAGES = 50


class Messages:
    """An ``Output`` area for a widget's messages and errors, also kept as plain text.

    ``append_stdout``/``append_stderr`` are used instead of ``with output:``
    capture because they work from any thread and without a running kernel
    (headless tests), and they never swallow a message.
    """

    def __init__(self, *, css_class: str = "ua-messages") -> None:
        self.output = widgets.Output(layout=widgets.Layout(max_height="160px", overflow="auto"))
        self.output.add_class(css_class)
        self.lines: list[str] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()

    def info(self, text: str) -> None:
        """Show an informational line (secrets are redacted)."""
        self._add(redact(text), error=False)

    def error(self, exc: BaseException) -> None:
        """Show an error: the message for expected errors, the traceback for bugs."""
        self.errors.append(exc)
        if isinstance(exc, UsageAnalysisError):
            text = f"{type(exc).__name__}: {exc}"
        else:
            text = "".join(traceback.format_exception(exc)).rstrip()
        self._add(redact(text), error=True)

    def clear_errors(self) -> None:
        """Take the error lines out of the area, keep the others (a later success fixed them)."""
        with self._lock:
            shown = self.output.outputs
            if not any(o.get("name") == "stderr" for o in shown):
                return
            self.output.outputs = tuple(o for o in shown if o.get("name") != "stderr")
            gone = {o.get("text", "")[11:].rstrip("\n") for o in shown if o.get("name") == "stderr"}
            self.lines[:] = [line for line in self.lines if line not in gone]

    def clear(self) -> None:
        """Empty the area."""
        with self._lock:
            self.lines.clear()
            self.output.outputs = ()

    def _add(self, text: str, *, error: bool) -> None:
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        line = f"[{stamp}] {text}\n"
        with self._lock:
            self.lines.append(text)
            del self.lines[:-MAX_MESSAGES]
            if error:
                self.output.append_stderr(line)
            else:
                self.output.append_stdout(line)
            if len(self.output.outputs) > MAX_MESSAGES:
                self.output.outputs = self.output.outputs[-MAX_MESSAGES:]

    def guard(self, fn: F) -> F:
        """Wrap a callback so any exception it raises lands in this area."""

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # shown to the user, never lost
                self.error(exc)
                return None

        return wrapper  # type: ignore[return-value]

    @contextmanager
    def catching(self) -> Iterator[None]:
        """A block whose exception is shown here instead of raised."""
        try:
            yield
        except Exception as exc:  # shown to the user, never lost
            self.error(exc)


class ChartResizer(anywidget.AnyWidget):
    """An invisible widget that redraws its container's plotly charts to the container's width.

    A ``FigureWidget`` sizes itself once, when it is drawn. A container built after
    the page is shown (an explorer made in an ``on_complete`` callback and put into a
    box already on screen) draws its chart before it is attached to the page, where
    it has no width, so plotly falls back to 700 px and nothing sizes it again: plotly's
    anywidget view listens to no resize at all. This widget watches its own width (it
    spans the container) and, whenever it changes (attached, shown, window or sidebar
    resized), fires the window ``resize`` event that charts with plotly's
    ``responsive`` config answer by refitting their width.
    """

    _esm = traitlets.Unicode(
        """
export default {
  render({ el }) {
    el.style.width = "100%";
    el.style.height = "0";
    el.style.margin = "0";
    let width = 0;
    const observer = new ResizeObserver(() => {
      const now = Math.round(el.getBoundingClientRect().width);
      if (!now || now === width) return;
      width = now;
      const box = el.parentElement;
      if (box && box.querySelector(".js-plotly-plot")) {
        window.dispatchEvent(new Event("resize"));
      }
    });
    observer.observe(el);
    return () => observer.disconnect();
  },
};
"""
    ).tag(sync=True)

    def __init__(self) -> None:
        super().__init__()
        self.add_class("ua-chart-resizer")


# plotly's widget script (its FigureWidget's ``_esm``, about 5 MB: plotly.js itself).
# anywidget sends a widget's script with every widget and the page evaluates it once
# per widget; an explorer makes a new chart widget per drawing (ChartWidget), so
# each drawing cost 5 MB over the kernel's socket and a fresh copy of plotly.js in
# the page, and a page busy with that missed anywidget's 2 s set-up limit. Here the
# script goes to the page in one model per kernel (PlotlyScript); each chart's own
# script (below) imports it from there once per page and every chart shares it.


@functools.cache
def _plotly_source() -> tuple[str, str]:
    """plotly's widget script and its key, read when the first chart is made (not on import)."""
    source = str(go.FigureWidget._esm)
    return source, hashlib.sha256(source.encode()).hexdigest()[:16]


def plotly_script_key() -> str:
    """What the page caches plotly's module under (a hash of the script)."""
    return _plotly_source()[1]


_CHART_ESM = """
const loaded = (globalThis.__usageAnalysisPlotly ??= new Map());

async function scriptModel(model) {
  const id = String(model.get("_script")).replace(/^IPY_MODEL_/, "");
  let failure;
  // A page restoring its models (Voila, a reload) may create this chart's model
  // before it registered the script's: ask again for a moment.
  for (let attempt = 0; attempt < 30; attempt++) {
    try {
      return await model.widget_manager.get_model(id);
    } catch (err) {
      failure = err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw failure;
}

function plotly(model) {
  const key = model.get("_script_key");
  let module = loaded.get(key);
  if (!module) {
    module = (async () => {
      const script = await scriptModel(model);
      const blob = new Blob([script.get("source")], { type: "text/javascript" });
      const url = URL.createObjectURL(blob);
      try {
        return await import(/* webpackIgnore: true */ url);
      } finally {
        URL.revokeObjectURL(url);
      }
    })();
    loaded.set(key, module);
    module.catch(() => loaded.delete(key));
  }
  return module;
}

// anywidget gives a model 2 s to initialize; the first chart on a busy page may take
// longer to evaluate plotly.js. So initialize only starts the loading and the view
// waits for it (a chart's state is whole when its comm opens: nothing to miss).
export default () => {
  let chart;
  return {
    initialize(context) {
      chart = plotly(context.model).then(async (module) => {
        const inner = module.default();
        await inner.initialize(context);
        return inner;
      });
      chart.catch(() => {}); // said by render, which awaits it
    },
    async render(context) {
      return (await chart).render(context);
    },
  };
};
"""


class PlotlyScript(widgets.Widget):
    """plotly's widget script, sent to the page once per kernel (see ChartWidget)."""

    source = traitlets.Unicode().tag(sync=True)


_script: PlotlyScript | None = None
_script_lock = threading.Lock()


def plotly_script() -> PlotlyScript:
    """The kernel's one :class:`PlotlyScript` (made again if it was closed)."""
    global _script
    with _script_lock:
        if _script is None or getattr(_script, "comm", None) is None:
            _script = PlotlyScript(source=_plotly_source()[0])
        return _script


class ChartWidget(go.FigureWidget):
    """A plotly ``FigureWidget`` whose comm opens with its whole figure.

    A plain FigureWidget opens its comm empty, then sends its figure in later
    messages; a page view created in between (a chart put in place of another, a
    user clicking while the page is still drawing) could start from the empty state
    and show an empty chart, or keep the old one. Here nothing is sent until the
    figure, its layout defaults (:func:`responsive`), its CSS class and the synced
    state a view starts from are all set: the comm then opens with all of it.

    Its script is a few lines that take plotly's from the kernel's one
    :class:`PlotlyScript`: a new chart costs its figure, not 5 MB of plotly.js.
    """

    _esm = _CHART_ESM
    _script = traitlets.Instance(PlotlyScript).tag(sync=True, **widgets.widget_serialization)
    _script_key = traitlets.Unicode().tag(sync=True)

    def __init__(self, figure: go.Figure | None = None, *, css_class: str = "ua-chart") -> None:
        self._whole = False
        self._script = plotly_script()
        self._script_key = plotly_script_key()
        # The figure's traces and layout as they are: a chart's figure is built from
        # known keys (usage_analysis.charts._style._figure); checking every key and
        # array again was most of a redraw.
        # Handed over as plain dicts: plotly copies a Layout *object* with validation
        # whatever _validate says (the template and every key checked again, a third
        # of a chart's cost); a dict is taken as it is.
        spec: dict[str, Any] | None = None
        if figure is not None:
            spec = {
                "data": figure._data,
                "layout": figure._layout,
                "_grid_str": figure._grid_str,
                "_grid_ref": figure._grid_ref,
            }
        super().__init__(spec, _validate=False)
        responsive(self)
        self.add_class(css_class)
        # The synced state a new view starts from (plotly copies it only in
        # _repr_mimebundle_, never called for a widget inside a container).
        self._widget_layout = copy_props(self._layout_obj._props)
        self._widget_data = copy_props(self._data)
        self._whole = True
        self.open()

    def open(self) -> None:
        if getattr(self, "_whole", True):
            super().open()

    # A widget is itself, not its figure: plotly compares figures by their JSON, and
    # ipywidgets compares the explorer's old and new children on every chart swap.
    __eq__ = object.__eq__
    __hash__ = object.__hash__


def copy_props(value: Any) -> Any:
    """``copy.deepcopy`` of a figure's properties, sharing its read-only arrays.

    Plotly stores every data array as a read-only numpy copy; deep-copying those
    (element by element for the date strings) was a tenth of a redraw. Nothing
    can change a read-only array in place, so sharing one is as good as a copy.
    """
    if isinstance(value, dict):
        return {k: copy_props(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_props(v) for v in value]
    if isinstance(value, np.ndarray) and not value.flags.writeable:
        return value
    return copy.deepcopy(value)


def responsive(figure: Any) -> Any:
    """Make a ``FigureWidget`` follow its container's width (with a :class:`ChartResizer`)."""
    # plotly has no public option for a FigureWidget's config; ``_config`` is the
    # synced trait its view passes to Plotly.newPlot. ``responsive`` refits the chart
    # on window resize; the layout must carry no fixed width for that (autosize).
    figure._config = {**figure._config, "responsive": True}
    figure.layout.autosize = True
    figure.layout.width = None
    return figure


def styled(widget: widgets.Widget, css_class: str, *, description: str | None = None) -> Any:
    """Give ``widget`` a stable CSS class (and description) a browser test can find."""
    widget.add_class(css_class)
    if description is not None and hasattr(widget, "description"):
        widget.description = description
    return widget


def fmt_number(value: float | None, *, digits: int = 0) -> str:
    """1234567.8 -> '1,234,568'; small values keep a few significant digits."""
    if value is None or not np.isfinite(value):
        return "n/a"
    if digits == 0:
        # The same numbers as the charts' labels.
        return format_quantity(value)
    return f"{value:,.{digits}f}"


def esc(text: Any) -> str:
    """HTML-escape a value for an HTML widget."""
    return html.escape(str(text))
