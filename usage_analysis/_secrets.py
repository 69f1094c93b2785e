"""Secrets that never show themselves: ``Secret``, ``redact()`` and a logging filter.

Tokens, passwords, session ids and pre-signed download URLs are wrapped in
:class:`Secret` the moment they enter the package (an argument, an environment
variable, a config file, a JSON answer). A ``Secret`` prints as ``'***'`` in a
repr, an f-string or a log line; only :meth:`Secret.get` reveals the value, and
only the code that puts it into an HTTP request calls it.

Every value wrapped in a ``Secret`` is also remembered (in this process), so
:func:`redact` can mask it in any text: the :class:`RedactingFilter` runs every
log record of this package, and of httpx/httpcore (whose INFO line shows request
URLs), through it, and exception messages built from provider answers go through
it too. ``redact`` also masks URL query strings (where signatures of pre-signed
URLs live), ``Bearer`` tokens and session headers, as a second line of defence.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

__all__ = [
    "MASK",
    "RedactingFilter",
    "Secret",
    "get_logger",
    "install_filter",
    "redact",
    "register_secret",
]

MASK = "***"

# Values shorter than this are not registered: masking "a" or "12" everywhere
# would garble every message while protecting nothing worth protecting.
_MIN_SECRET_LENGTH = 6

_known: set[str] = set()
_known_lock = threading.Lock()
# Longest first, so a secret that contains another is masked whole.
_pattern: re.Pattern[str] | None = None

# A second line of defence for secrets that never passed through Secret.
_GENERIC = [
    # The query string of any URL: pre-signed URLs carry their signature there.
    (
        re.compile(r"(?P<keep>\b[a-z][a-z0-9+.-]*://[^\s?#'\"<>]*)\?[^\s#'\"<>]*", re.I),
        r"\g<keep>?***",
    ),
    # Authorization headers and their like.
    (re.compile(r"(?P<keep>\bBearer\s+)[A-Za-z0-9._~+/=-]{12,}", re.I), r"\g<keep>***"),
    (
        re.compile(
            r"(?P<keep>\b(?:INFA-SESSION-ID|icSessionId|sessionId|session_id|access_token|"
            r"accessToken|password|access_key_secret|here\.access\.key\.secret)"
            r"['\"]?\s*[:=]\s*['\"]?)[^\s'\",&}]+",
            re.I,
        ),
        r"\g<keep>***",
    ),
]


def register_secret(value: str) -> None:
    """Remember ``value`` so that :func:`redact` masks it wherever it appears."""
    global _pattern
    if len(value) < _MIN_SECRET_LENGTH:
        return
    with _known_lock:
        if value in _known:
            return
        _known.add(value)
        ordered = sorted(_known, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(v) for v in ordered))


def redact(text: str) -> str:
    """Mask known secrets, URL query strings, bearer tokens and session ids in ``text``."""
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for regex, replacement in _GENERIC:
        text = regex.sub(replacement, text)
    return text


class Secret:
    """A string that never shows itself; ``.get()`` reveals the value.

    ``repr``, ``str`` and ``format`` give ``'***'``; equality compares values, so a
    ``Secret`` can be tested without revealing it; pickling is refused so a secret
    does not end up in a file by accident.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        if isinstance(value, Secret):
            value = value.get()
        if not isinstance(value, str):
            raise TypeError(f"Secret needs a str, got {type(value).__name__}")
        self._value = value
        register_secret(value)

    def get(self) -> str:
        """The value itself: only for putting it into a request."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return format(MASK, spec)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self._value == other._value
        if isinstance(other, str):
            return self._value == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and exception text) through :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the record, show it raw
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactingFilter()

# A logger's filters only see records logged on that very logger, not those of its
# children, so the filter goes on every logger this package writes to, and on the
# third-party loggers whose lines show request URLs.
_THIRD_PARTY_LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "oauthlib",
    "oauthlib.oauth1.rfc5849",
    "oauthlib.oauth1.rfc5849.signature",
    "stamina",
    "tenacity",
)


def install_filter(logger: logging.Logger) -> logging.Logger:
    """Add the redacting filter to ``logger`` (once) and return it."""
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with the redacting filter installed."""
    return install_filter(logging.getLogger(name))


install_filter(logging.getLogger("usage_analysis"))
for _name in _THIRD_PARTY_LOGGERS:
    install_filter(logging.getLogger(_name))
