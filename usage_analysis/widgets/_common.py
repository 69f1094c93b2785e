"""What the widgets share: the message area, error capture and small formatting helpers.

Callbacks run inside the kernel's comm handler (or a background thread): an
exception raised there is printed to the browser console at best. Every callback
goes through :meth:`Messages.guard`, which puts the message (and, for a bug, the
traceback) in an ``Output`` area inside the widget, where the user sees it.
"""

from __future__ import annotations

import functools
import html
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import ipywidgets as widgets
import numpy as np

from .._secrets import redact
from ..errors import UsageAnalysisError

__all__ = ["Messages", "fmt_number", "styled"]

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
    a = abs(value)
    if digits == 0 and 0 < a < 100 and value != round(value):
        return f"{value:,.2f}" if a >= 1 else f"{value:.3g}"
    return f"{value:,.{digits}f}"


def esc(text: Any) -> str:
    """HTML-escape a value for an HTML widget."""
    return html.escape(str(text))
