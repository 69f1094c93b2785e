"""Secrets that never show themselves: ``Secret``, ``redact()`` and a logging filter.

Tokens, passwords, session ids and pre-signed download URLs are wrapped in
:class:`Secret` the moment they enter the package (an argument, an environment
variable, a config file, a JSON answer). A ``Secret`` prints as ``'***'`` in a
repr, an f-string or a log line; only :meth:`Secret.get` reveals the value, and
only the code that puts it into an HTTP request calls it.

Every value wrapped in a ``Secret`` is also remembered (in this process), so
:func:`redact` can mask it in any text. A URL is remembered in every form it may
be printed in (issue 18): as given, normalised (scheme and host in lower case, no
default port, no ``.``/``..`` segments, percent-escapes undone), and by its
secret-looking parts (a password, a token in the path or the query), so a library
that prints the path it posts to, or the URL as it rebuilt it, masks it too.
:func:`secret_url` remembers every part of a notification URL (apprise carries
its token in the host or path: ``slack://TokenA/TokenB/TokenC``).

Every log record of every logger, the package's, httpx's, apprise's, urllib3's or
any other, goes through :func:`redact` when it is made (a log record factory), and
:func:`install_on_handlers` adds the :class:`RedactingFilter` to the handlers the
command line configures; exception messages built from provider answers go
through it too. ``redact`` also masks URL query strings (where signatures of
pre-signed URLs live), a URL's user name and password, ``Bearer`` tokens and
session headers, as a second line of defence.
"""

from __future__ import annotations

import logging
import posixpath
import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = [
    "MASK",
    "RedactingFilter",
    "Secret",
    "get_logger",
    "install_filter",
    "install_on_handlers",
    "redact",
    "register_secret",
    "secret_url",
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
    # The user name and password of any URL (``https://user:password@host``).
    (re.compile(r"(?P<keep>\b[a-z][a-z0-9+.-]*://)[^\s/?#@'\"<>]+@", re.I), r"\g<keep>***@"),
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


_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def _looks_secret(part: str) -> bool:
    """Whether a URL part looks like a token rather than a word (``usage_reports``)."""
    if len(part) < 8:
        return False
    letters = any(c.isalpha() for c in part)
    digits = any(c.isdigit() for c in part)
    mixed = any(c.isupper() for c in part) and any(c.islower() for c in part)
    return (letters and digits) or mixed or len(part) >= 20


def _url_forms(value: str, *, every_part: bool) -> Iterator[str]:
    """The forms a URL may be printed in, and its parts worth masking on their own."""
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return
    netloc = parts.netloc
    userinfo, _, hostport = netloc.rpartition("@")
    if userinfo:
        password = userinfo.partition(":")[2]
        yield userinfo
        yield unquote(userinfo)
        if password:
            yield password
            yield unquote(password)
    host, _, port = hostport.rpartition(":") if hostport.count(":") == 1 else (hostport, "", "")
    # A host that is no host name (no dot): apprise keeps a token there (slack://T1/B2/C3).
    tokenish = "." not in host and not host.startswith("[") and host.lower() != "localhost"
    if tokenish and (every_part or _looks_secret(host)):
        yield hostport
        yield host
    segments = [s for s in parts.path.split("/") if s]
    for segment in segments:
        for form in {segment, unquote(segment)}:
            if every_part or _looks_secret(form):
                yield form
    for key, item in parse_qsl(parts.query, keep_blank_values=False):
        if every_part or _looks_secret(item) or re.search(r"token|key|secret|pass|sig", key, re.I):
            yield item
    # The whole URL, normalised as an HTTP library would print it.
    path = posixpath.normpath(unquote(parts.path)) if parts.path else ""
    if path == ".":
        path = ""
    if parts.path.endswith("/") and not path.endswith("/"):
        path += "/"
    if port and _DEFAULT_PORTS.get(parts.scheme.lower()) == port:
        hostport = host
    query = f"?{parts.query}" if parts.query else ""
    for location in {hostport, hostport.lower()}:
        base = f"{parts.scheme.lower()}://{location}"
        yield f"{base}{path}{query}"
        yield f"{base}{parts.path}{query}"
        yield unquote(f"{base}{parts.path}{query}")
        if userinfo:
            yield f"{parts.scheme.lower()}://{userinfo}@{location}{path}{query}"
    yield unquote(value)


def _forget_nothing(values: Iterator[str]) -> None:
    global _pattern
    fresh = [v for v in values if len(v) >= _MIN_SECRET_LENGTH]
    with _known_lock:
        new = [v for v in fresh if v not in _known]
        if not new:
            return
        _known.update(new)
        ordered = sorted(_known, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(v) for v in ordered))


def register_secret(value: str, *, every_part: bool = False) -> None:
    """Remember ``value`` so that :func:`redact` masks it wherever it appears.

    A URL is remembered in its printed forms too, and by its secret-looking parts
    (``every_part``: all its parts, for a URL that is a secret through and through).
    """
    values = [value]
    if _URL.match(value.strip()):
        values.extend(_url_forms(value, every_part=every_part))
    _forget_nothing(iter(values))


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


def secret_url(value: str | Secret) -> Secret:
    """A notification URL as a :class:`Secret` whose every part is masked in any text."""
    secret = Secret(value)
    register_secret(secret.get(), every_part=True)
    return secret


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and exception text) through :func:`redact`.

    A record with nothing to mask is left as it was (its ``args`` too: some
    libraries' formatters read them); one with a secret gets the masked text as
    its message and no ``args``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
            broken = False
        except Exception:  # a broken format string: keep the record, show it raw
            message, broken = str(record.msg), True
        masked = redact(message)
        if broken or masked != message:
            record.msg = masked
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


def install_on_handlers(logger: logging.Logger | None = None) -> None:
    """Add the redacting filter to every handler of ``logger`` (default: the root).

    A handler's filters see the records of every logger that reaches it, third-party
    ones included; the command line calls this after configuring logging.
    """
    for handler in (logger or logging.getLogger()).handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)


class _RedactingFactory:
    """A log record factory: every record, of any logger, is redacted when it is made."""

    def __init__(self, base: Any) -> None:
        self.base = base

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.base(*args, **kwargs)
        if record.msg or record.exc_info:
            _FILTER.filter(record)
        return record


def _install_factory() -> None:
    current = logging.getLogRecordFactory()
    if not isinstance(current, _RedactingFactory):
        logging.setLogRecordFactory(_RedactingFactory(current))


install_filter(logging.getLogger("usage_analysis"))
for _name in _THIRD_PARTY_LOGGERS:
    install_filter(logging.getLogger(_name))
_install_factory()
