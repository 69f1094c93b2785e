"""Redirects, followed by our own code so that no credential leaves its origin.

httpx drops ``Authorization`` on a cross-origin redirect but keeps every other
header: Informatica's ``INFA-SESSION-ID`` would follow a 302 to any host, and a
307 would re-post a login's password there. So the HTTP layer never lets httpx
follow a redirect; :func:`next_hop` decides each hop:

- same origin (scheme, host and port): the request goes on unchanged;
- another origin: only the headers in :data:`SAFE_HEADERS` are kept (no
  ``Authorization``, session header, OAuth signature or cookie, whatever its
  name), and a body holding a password or token is never re-sent: that raises
  :class:`AuthenticationError` naming the other host.

Once a chain has left the first origin the credentials stay dropped, even if it
comes back: a credential belongs to the origin the caller sent it to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from .. import providers
from ..errors import APIError, AuthenticationError

__all__ = ["SAFE_HEADERS", "Hop", "holds_secret", "next_hop", "origin", "strip_credentials"]

#: Headers sent on to another origin: nothing in them identifies or authorises the caller.
SAFE_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "user-agent",
        "content-type",
        "content-length",
        "host",
        "x-request-id",
        "x-correlation-id",
    }
)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# A JSON body with one of these keys (at any depth) holds a credential.
_SECRET_KEY = re.compile(r"pass(word)?|secret|token|session|credential|api[_-]?key", re.I)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    scheme = url.scheme.lower()
    return scheme, url.host.lower(), url.port or _DEFAULT_PORTS.get(scheme)


def holds_secret(json_body: Any) -> bool:
    """Whether a JSON body carries a password, token or similar under any key."""
    if isinstance(json_body, dict):
        return any(
            (isinstance(k, str) and _SECRET_KEY.search(k)) or holds_secret(v)
            for k, v in json_body.items()
        )
    if isinstance(json_body, list | tuple):
        return any(holds_secret(v) for v in json_body)
    return False


def strip_credentials(request: httpx.Request) -> None:
    """Remove every header not in :data:`SAFE_HEADERS` (credentials, cookies) in place."""
    for name in list(request.headers.keys()):
        if name.lower() not in SAFE_HEADERS:
            del request.headers[name]


@dataclass(frozen=True)
class Hop:
    """Where a redirect leads: the method, URL, whether the body goes too, whether it left."""

    method: str
    url: httpx.URL
    keep_body: bool
    cross_origin: bool


def next_hop(
    response: httpx.Response,
    *,
    method: str,
    first_origin: tuple[str, str, int | None],
    left: bool,
    has_body: bool,
    secret_body: bool,
    provider: str,
    what: str,
) -> Hop | None:
    """The next request after ``response``, or None when it is not a redirect.

    ``left``: an earlier hop already left the first origin. Raises
    AuthenticationError when a body holding a credential would go to another origin.
    """
    location = response.headers.get("Location")
    if response.status_code not in REDIRECT_STATUSES or not location:
        return None
    label = providers.display_name(provider)
    try:
        url = response.request.url.join(location.strip())
    except httpx.InvalidURL:
        raise APIError(
            f"{label} {what}: the server redirected to an address that is not a URL",
            provider=provider,
            status=response.status_code,
        ) from None
    if url.scheme not in ("http", "https"):
        raise APIError(
            f"{label} {what}: the server redirected to a {url.scheme or 'scheme-less'} address; "
            "only http and https are followed",
            provider=provider,
            status=response.status_code,
        )
    # RFC 9110 15.4: 303 turns into GET; browsers (and httpx) do the same for POST on 301/302.
    status = response.status_code
    new_method = method
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        new_method = "GET"
    keep_body = has_body and new_method == method
    cross = left or origin(url) != first_origin
    if cross and keep_body and secret_body:
        raise AuthenticationError(
            f"{label} {what} was redirected to another host ({url.host}) with a body holding a "
            "password or token: not re-sent there",
            provider=provider,
            status=status,
            hint="check the login or token URL: it should name the provider's own host",
        )
    return Hop(new_method, url, keep_body, cross)
