"""HERE platform Cost Management Usage API v2: usage reports and usage search.

Calls (see ../shared/PROVIDERS.md): POST /usage/realms/{realm}/reports (201 or
202, ``{"id", "status"}``) -> GET .../reports/{id} until ``completed`` -> GET
.../reports/{id}/output (a gzipped CSV). A report spans at most 95 days and holds
at most 1,000,000 records: longer ranges are asked for in windows, and a window
whose file comes back at the cap is asked for again in halves, so nothing is
silently cut off. The bearer token is given, or fetched with the OAuth 1.0a
(HMAC-SHA256) client-credentials grant from the keys in credentials.properties.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
from oauthlib import oauth1

from .._secrets import Secret, get_logger
from ..defaults import (
    HERE_API_URL,
    HERE_CREDENTIALS_ENV,
    HERE_CREDENTIALS_FILE,
    HERE_MAX_RECORDS,
    HERE_MAX_SPAN,
    HERE_PAGE_LIMIT,
    HERE_POLL_EVERY,
    HERE_POLL_SCHEDULE,
    HERE_TOKEN_URL,
)
from ..errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    ConnectionFailed,
    InvalidParameter,
    LimitExceeded,
)
from ..readers.here import PageProblem, PageTally
from ._base import BaseClient, credential, day_range, day_windows, endpoint, one_of, setting
from ._clock import PollSchedule
from ._http import Headers, retry_after_of
from .job import EXPIRED, FAILED, PENDING, READY, Poll, ReportJob

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["HereClient"]

log = get_logger(__name__)

DETAIL_LEVELS = ("summarized", "day", "month")  # reports: no "hour"
SEARCH_DETAIL_LEVELS = ("summarized", "hour", "day", "month")
GROUP_BY = ("project", "billingTag", "appId")
CHARGE_TYPES = ("all", "billable", "nonBillable")
CHANNELS = ("hot", "cold", "ds")
_APP_ID = re.compile(r"^[a-zA-Z0-9_-]*$")
# Filter -> (query parameter, maximum length).
_FILTERS = {
    "feature_id": ("featureId", 256),
    "app_id": ("appId", 128),
    "project_hrn": ("projectHrn", 256),
    "billing_tag": ("billingTag", 500),
    "category": ("category", 128),
}
_STATES = {
    "pending": PENDING,
    "inprogress": PENDING,
    "in_progress": PENDING,
    "completed": READY,
    "failed": FAILED,
    "archived": EXPIRED,
}
# Refetch a fetched token this long before HERE says it expires.
_TOKEN_MARGIN = timedelta(minutes=5)


def read_properties(path: Path) -> dict[str, str]:
    """A Java .properties file (``key = value`` or ``key: value``; ``#``/``!`` comments)."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        match = re.match(r"([^=:\s]+)\s*[=:\s]\s*(.*)$", line)
        if match:
            out[match.group(1)] = re.sub(r"\\(.)", r"\1", match.group(2).strip())
    return out


def _keys_from(
    credentials: str | Path | Mapping[str, str] | None,
) -> tuple[dict[str, str], str | None]:
    """(settings, where): the argument, $HERE_ACCESS_KEY_ID/SECRET, $HERE_CREDENTIALS, the file."""
    if isinstance(credentials, Mapping):
        return dict(credentials), "credentials="
    key_id = os.environ.get("HERE_ACCESS_KEY_ID", "").strip()
    key_secret = os.environ.get("HERE_ACCESS_KEY_SECRET", "").strip()
    if credentials is None and key_id and key_secret:
        return {"access_key_id": key_id, "access_key_secret": key_secret}, "HERE_ACCESS_KEY_ID"
    if credentials is not None:
        path = Path(credentials).expanduser()
        if not path.is_file():
            raise ConfigurationError(f"credentials: no file {path}")
    elif os.environ.get(HERE_CREDENTIALS_ENV, "").strip():
        path = Path(os.environ[HERE_CREDENTIALS_ENV].strip()).expanduser()
        if not path.is_file():
            raise ConfigurationError(f"{HERE_CREDENTIALS_ENV}: no file {path}")
    else:
        path = Path(HERE_CREDENTIALS_FILE).expanduser()
        if not path.is_file():
            return {}, None
    try:
        return read_properties(path), str(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"{path}: cannot read HERE credentials ({type(exc).__name__})"
        ) from None


def _pick(settings: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = settings.get(name)
        if value:
            return str(value)
    return None


def _count_records(path: Path) -> int:
    """Data rows in a (gzipped) CSV: newlines minus the header; a cut gzip raises."""
    with open(path, "rb") as f:
        zipped = f.read(2) == b"\x1f\x8b"
    lines = 0
    last = b"\n"
    try:
        with gzip.open(path, "rb") if zipped else open(path, "rb") as src:
            while chunk := src.read(1024 * 1024):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
    except (EOFError, OSError, zlib.error) as exc:
        raise ConnectionFailed(
            f"HERE report file is incomplete ({type(exc).__name__}): the download was cut",
            provider="here",
        ) from None
    if last != b"\n":
        lines += 1
    return max(0, lines - 1)


class HereClient(BaseClient):
    """Usage reports and usage search of a HERE platform realm (org).

    The token comes from ``token=``, else ``$HERE_TOKEN``, else is fetched with the
    access keys in ``credentials=`` (a credentials.properties path or a mapping),
    else ``$HERE_ACCESS_KEY_ID`` and ``$HERE_ACCESS_KEY_SECRET``, else the file named by
    ``$HERE_CREDENTIALS``, else ``~/.here/credentials.properties``. The realm from
    ``realm_id=`` or ``$HERE_REALM_ID``.
    """

    provider = "here"
    max_outstanding = None
    default_schedule = PollSchedule(HERE_POLL_SCHEDULE, HERE_POLL_EVERY)
    default_endpoint = HERE_API_URL
    file_suffix = ".csv.gz"

    @classmethod
    def from_cli(cls, args: Any, **common: Any) -> tuple[HereClient, dict[str, Any]]:
        """The client and options of ``usage-analysis fetch here``."""
        params = {
            "detail_level": args.detail_level,
            "group_by": args.group_by,
            "feature_id": args.feature_id,
            "app_id": args.app_id,
            "charge_type": args.charge_type,
            "project_hrn": args.project_hrn,
            "billing_tag": args.billing_tag,
            "category": args.category,
            "sub_accounts": args.sub_accounts,
        }
        return cls(realm_id=args.realm_id, **common), params

    @classmethod
    def from_journal(cls, account: str, endpoints: Mapping[str, str]) -> HereClient:
        """A client for a journal row (see :meth:`BaseClient.from_journal`)."""
        return cls(
            realm_id=account,
            base_url=endpoints.get("base_url"),
            token_url=endpoints.get("token_url"),
        )

    def __init__(
        self,
        *,
        token: str | Secret | None = None,
        credentials: str | Path | Mapping[str, str] | None = None,
        realm_id: str | None = None,
        base_url: str | None = None,
        token_url: str | None = None,
        max_records: int = HERE_MAX_RECORDS,
        **options: Any,
    ) -> None:
        self._token = credential(
            token, argument="token", env="HERE_TOKEN", required=False, what="HERE token"
        )
        self._key_id: Secret | None = None
        self._key_secret: Secret | None = None
        settings: dict[str, str] = {}
        if self._token is None or credentials is not None:
            settings, where = _keys_from(credentials)
            key_id = _pick(settings, "here.access.key.id", "access_key_id")
            secret = _pick(settings, "here.access.key.secret", "access_key_secret")
            if key_id and secret:
                self._key_id, self._key_secret = Secret(key_id), Secret(secret)
            elif self._token is None:
                looked = (
                    f" ({where} lacks here.access.key.id/here.access.key.secret)" if where else ""
                )
                raise ConfigurationError(
                    "no HERE token: pass token= or set HERE_TOKEN, or give access keys with "
                    f"credentials= or {HERE_CREDENTIALS_ENV} (default {HERE_CREDENTIALS_FILE}){looked}"
                )
        realm = setting(realm_id, env="HERE_REALM_ID", default=None)
        if not realm:
            raise ConfigurationError(
                "no HERE realm id (your org id): pass realm_id= or set HERE_REALM_ID"
            )
        if not 5 <= len(realm) <= 30:
            raise InvalidParameter(
                "realm_id", f"expected 5 to 30 characters (e.g. org123456789), got {realm!r}"
            )
        self.realm_id = realm
        self.base_url = endpoint(
            base_url, argument="base_url", env="HERE_API_URL", default=HERE_API_URL
        ).rstrip("/")
        file_url = _pick(settings, "here.token.endpoint.url", "token_url")
        self.token_url = endpoint(
            token_url,
            argument="token_url",
            env="HERE_TOKEN_URL",
            default=file_url or HERE_TOKEN_URL,
            fallback="here.token.endpoint.url" if file_url else "",
        )
        if max_records < 1:
            raise InvalidParameter(
                "max_records", f"expected a positive number, got {max_records!r}"
            )
        self.max_records = int(max_records)
        self._token_expires: datetime | None = None
        self._records: dict[str, int] = {}
        super().__init__(**options)

    def request(self, *args: Any, **kwargs: Any) -> ReportJob:
        """Same as :meth:`request_report` (the name shared by every client)."""
        return self.request_report(*args, **kwargs)

    def __repr__(self) -> str:
        return f"HereClient(account={self.account!r}, base_url={self.base_url!r})"

    @property
    def account(self) -> str:
        """The realm (org) id."""
        return self.realm_id

    def endpoints(self) -> dict[str, str]:
        """The API and token URLs (for resuming)."""
        return {"base_url": self.base_url, "token_url": self.token_url}

    # -- authentication -------------------------------------------------------

    def _fetch_token(self) -> Secret:
        """A bearer token from HERE's OAuth 1.0a (HMAC-SHA256) client-credentials grant."""
        assert self._key_id is not None and self._key_secret is not None
        body = b"grant_type=client_credentials"
        key_id, key_secret = self._key_id, self._key_secret

        def signed() -> dict[str, str]:
            # Signed afresh for every attempt: a retried request needs a new nonce.
            signer = oauth1.Client(
                key_id.get(),
                client_secret=key_secret.get(),
                signature_method=oauth1.SIGNATURE_HMAC_SHA256,
            )
            _, headers, _ = signer.sign(
                self.token_url,
                http_method="POST",
                body=body.decode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            return dict(headers)

        # secret_body: a token request answered elsewhere would hand a token to that host.
        data = self.http.send_json(
            "POST",
            self.token_url,
            what="token request",
            headers=signed,
            content=body,
            secret_body=True,
        )
        value = (
            data.get("access_token") or data.get("accessToken") if isinstance(data, dict) else None
        )
        if not value:
            raise AuthenticationError(
                "HERE token request: the answer has no access_token", provider=self.provider
            )
        lifetime = _seconds(data.get("expires_in") or data.get("expiresIn"))
        # Unknown or absurd lifetimes: no expiry kept, a 401 then fetches a new token.
        self._token_expires = (
            self.clock.now() + timedelta(seconds=lifetime) - _TOKEN_MARGIN
            if lifetime is not None
            else None
        )
        log.debug("here: fetched a bearer token with the access keys")
        return Secret(str(value))

    def _bearer(self) -> Secret:
        expired = self._token_expires is not None and self.clock.now() >= self._token_expires
        if self._token is None or (expired and self._key_id):
            self._token = self._fetch_token()
        return self._token

    def _headers(self, *, accept: str = "application/json") -> dict[str, str]:
        return {"Authorization": f"Bearer {self._bearer().get()}", "Accept": accept}

    def _call(self, method: str, url: str, *, what: str, **kwargs: Any) -> httpx.Response:
        """A request; a 401 with a fetched token fetches a new token once."""
        try:
            return self.http.send(method, url, what=what, headers=self._headers(), **kwargs)
        except AuthenticationError:
            if self._key_id is None or self._key_secret is None:
                raise
            log.debug("here: token refused; fetching a new one")
            self._token = self._fetch_token()
            return self.http.send(method, url, what=what, headers=self._headers(), **kwargs)

    def _send(self, method: str, url: str, *, what: str, **kwargs: Any) -> Any:
        """:meth:`_call`, then the JSON answer."""
        return self.http.parse_json(self._call(method, url, what=what, **kwargs), what=what)

    def _realm_url(self, path: str = "") -> str:
        return f"{self.base_url}/usage/realms/{quote(self.realm_id, safe='')}{path}"

    # -- parameters -----------------------------------------------------------

    def _params(
        self,
        start: date | datetime | str,
        end: date | datetime | str,
        *,
        detail_level: str,
        levels: Sequence[str],
        group_by: str | Sequence[str] | None,
        charge_type: str | None,
        channel_id: str | None,
        billing_subscription_id: str | Sequence[str] | None,
        sub_accounts: Sequence[str] | None,
        filters: Mapping[str, str | None],
    ) -> dict[str, Any]:
        first, last = day_range(start, end)
        params: dict[str, Any] = {
            "start": first.isoformat(),
            "end": last.isoformat(),
            "detail_level": one_of(detail_level, levels, parameter="detail_level"),
        }
        if group_by is not None:
            groups = [
                g.strip() for g in (group_by.split(",") if isinstance(group_by, str) else group_by)
            ]
            for g in groups:
                one_of(g, GROUP_BY, parameter="group_by")
            params["group_by"] = groups
        if charge_type is not None:
            params["charge_type"] = one_of(charge_type, CHARGE_TYPES, parameter="charge_type")
        if channel_id is not None:
            params["channel_id"] = one_of(channel_id, CHANNELS, parameter="channel_id")
        if billing_subscription_id is not None:
            ids = (
                [s.strip() for s in billing_subscription_id.split(",")]
                if isinstance(billing_subscription_id, str)
                else [str(s) for s in billing_subscription_id]
            )
            if not 1 <= len(ids) <= 20 or not all(ids):
                raise InvalidParameter(
                    "billing_subscription_id", f"expected 1 to 20 subscription ids, got {len(ids)}"
                )
            params["billing_subscription_id"] = ids
        for name, value in filters.items():
            if value is None:
                continue
            _, max_length = _FILTERS[name]
            if not isinstance(value, str) or not value or len(value) > max_length:
                raise InvalidParameter(
                    name, f"expected a string of 1 to {max_length} characters, got {value!r}"
                )
            if name == "app_id" and not _APP_ID.match(value):
                raise InvalidParameter(
                    name, f"expected letters, digits, '-' and '_' only, got {value!r}"
                )
            params[name] = value
        if sub_accounts is not None:
            if isinstance(sub_accounts, str):
                sub_accounts = [sub_accounts]
            if not all(isinstance(s, str) and s for s in sub_accounts):
                raise InvalidParameter("sub_accounts", f"expected org ids, got {sub_accounts!r}")
            params["sub_accounts"] = sorted(sub_accounts)
        return params

    @staticmethod
    def _query(params: Mapping[str, Any]) -> dict[str, str]:
        """The query string of a search, CSV or report request."""
        query = {
            # Both days are included: the window ends on the last second of ``end``.
            "startDate": f"{params['start']}T00:00:00",
            "endDate": f"{params['end']}T23:59:59",
            "detailLevel": params["detail_level"],
        }
        if params.get("group_by"):
            query["groupBy"] = ",".join(params["group_by"])
        if params.get("charge_type"):
            query["chargeType"] = params["charge_type"]
        if params.get("channel_id"):
            query["channelId"] = params["channel_id"]
        if params.get("billing_subscription_id"):
            query["billingSubscriptionId"] = ",".join(params["billing_subscription_id"])
        for name, (key, _) in _FILTERS.items():
            if params.get(name):
                query[key] = params[name]
        return query

    def _windows(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        first, last = date.fromisoformat(params["start"]), date.fromisoformat(params["end"])
        max_days = HERE_MAX_SPAN.days
        if params["detail_level"] == "month":
            spans = _month_windows(first, last, max_days)
        else:
            spans = day_windows(first, last, max_days)
        return [{**params, "start": a.isoformat(), "end": b.isoformat()} for a, b in spans]

    # -- public ---------------------------------------------------------------

    def request_report(
        self,
        start: date | datetime | str,
        end: date | datetime | str,
        *,
        detail_level: str = "day",
        group_by: str | Sequence[str] | None = None,
        sub_accounts: Sequence[str] | None = None,
        feature_id: str | None = None,
        app_id: str | None = None,
        charge_type: str | None = None,
        project_hrn: str | None = None,
        billing_tag: str | None = None,
        category: str | None = None,
        billing_subscription_id: str | Sequence[str] | None = None,
        channel_id: str | None = None,
        refresh: bool = False,
    ) -> ReportJob:
        """Ask for a usage report from ``start`` to ``end`` (both days included).

        Longer than 95 days: asked for in windows, joined into one file on download.
        """
        params = self._params(
            start,
            end,
            detail_level=detail_level,
            levels=DETAIL_LEVELS,
            group_by=group_by,
            charge_type=charge_type,
            channel_id=channel_id,
            billing_subscription_id=billing_subscription_id,
            sub_accounts=sub_accounts,
            filters={
                "feature_id": feature_id,
                "app_id": app_id,
                "project_hrn": project_hrn,
                "billing_tag": billing_tag,
                "category": category,
            },
        )
        return self._submit(params, refresh=refresh)

    def fetch_report(
        self,
        start: date | datetime | str,
        end: date | datetime | str,
        *,
        unified: bool = False,
        timeout: float | None = None,
        progress: bool = True,
        **options: Any,
    ) -> pd.DataFrame:
        """Request, wait, download and read a report: :meth:`request_report` in one call."""
        # One deadline over the request too (BaseClient.fetch).
        return self.fetch(
            start, end, unified=unified, timeout=timeout, progress=progress, **options
        )

    def search(
        self,
        start: date | datetime | str,
        end: date | datetime | str,
        *,
        detail_level: str = "day",
        group_by: str | Sequence[str] | None = None,
        feature_id: str | None = None,
        app_id: str | None = None,
        charge_type: str | None = None,
        project_hrn: str | None = None,
        billing_tag: str | None = None,
        category: str | None = None,
        billing_subscription_id: str | Sequence[str] | None = None,
        channel_id: str | None = None,
        limit: int = HERE_PAGE_LIMIT,
    ) -> list[dict[str, Any]]:
        """Usage records from the JSON search, every page (and every 95-day window)."""
        if not isinstance(limit, int) or not 1 <= limit <= HERE_PAGE_LIMIT:
            raise InvalidParameter("limit", f"expected 1 to {HERE_PAGE_LIMIT}, got {limit!r}")
        params = self._params(
            start,
            end,
            detail_level=detail_level,
            levels=SEARCH_DETAIL_LEVELS,
            group_by=group_by,
            charge_type=charge_type,
            channel_id=channel_id,
            billing_subscription_id=billing_subscription_id,
            sub_accounts=None,
            filters={
                "feature_id": feature_id,
                "app_id": app_id,
                "project_hrn": project_hrn,
                "billing_tag": billing_tag,
                "category": category,
            },
        )
        items: list[dict[str, Any]] = []
        for window in self._windows(params):
            items.extend(self._search_window(window, limit))
        return items

    def _search_window(self, window: Mapping[str, Any], limit: int) -> list[dict[str, Any]]:
        """Every page of one search window: all the records, or an error, never a part.

        The spec defines ``offset`` as a page number (total=10, limit=2 gives
        nextOffset 1, lastOffset 4); a server counting records instead works too,
        since the next request sends the ``nextOffset`` the server gave.

        - With ``total``: paging ends when ``total`` records are in hand, or when the
          server names no next page; then the count must equal ``total``.
        - Without ``total``: paging ends only on an empty page or a short one (fewer
          items than the page's ``limit``; one before ``lastOffset`` raises, one
          naming a ``nextOffset`` is followed). A full page without ``nextOffset`` is
          followed by the page after it (the step seen so far; on the first page
          offset 1, as the spec counts), which must then be empty or short: when it
          is not, whether offsets count pages or records cannot be told, and that
          raises rather than guess.

        Either way, a ``nextOffset`` that does not advance, a page that repeats an
        earlier one and records past ``lastOffset`` raise :class:`APIError`.
        """
        items: list[dict[str, Any]] = []
        offset = 0
        total: int | None = None
        last: int | None = None
        # Repeated, missing and extra pages: the one rule the reader applies to saved pages.
        tally = PageTally()
        step: int | None = None  # how far nextOffset moved, once seen
        guessed = False  # this page's offset was not named by the server
        where = f"(window {window['start']}..{window['end']})"
        while True:
            query = {**self._query(window), "limit": str(limit), "offset": str(offset)}
            page = self._send("GET", self._realm_url(), what="usage search", params=query)
            if not isinstance(page, dict):
                raise APIError(
                    "HERE usage search: expected a JSON object per page", provider=self.provider
                )
            found = page.get("items") or []
            if not isinstance(found, list):
                raise APIError("HERE usage search: 'items' is not a list", provider=self.provider)
            if found and last is not None and offset > last:
                raise APIError(
                    f"HERE usage search: the page at offset {offset} holds records past the "
                    f"last page the server named (lastOffset {last}) {where}; the count "
                    "cannot be trusted, so nothing was returned",
                    provider=self.provider,
                )
            last = _int_or_none(page.get("lastOffset"), last)
            problem = tally.add(found, page.get("total"))
            if problem is not None:
                self._page_error(problem, offset, where)
            total = tally.want
            items.extend(found)
            if len(items) > HERE_MAX_RECORDS:
                # Every page brings new records (repeats raise above): this bounds the loop.
                raise LimitExceeded(
                    f"HERE usage search: more than {HERE_MAX_RECORDS} records in one window; "
                    "narrow it, or use request_report()",
                    limit=f"{HERE_MAX_RECORDS} records",
                    provider=self.provider,
                )
            following = _int_or_none(page.get("nextOffset"), None)
            if total is not None:
                if not found or len(items) >= total:
                    break  # the count is checked below
                if following is None and last is not None and offset < last:
                    # No nextOffset but more pages: lastOffset tells pages (spec) from records.
                    following = offset + 1 if last * limit < total else offset + limit
                if following is None or following <= offset:
                    break  # fewer than total: raises below
            else:
                if guessed and found:
                    raise APIError(
                        f"HERE usage search: a full page named no next page and the answer has "
                        f"no total; the page after it (offset {offset}) is not empty, so "
                        f"whether offsets count pages or records cannot be told {where}; "
                        "nothing was returned rather than a guess",
                        provider=self.provider,
                    )
                size = _int_or_none(page.get("limit"), None)
                page_size = size if size is not None and 1 <= size <= limit else limit
                if not found:
                    break  # an empty page ends it
                if len(found) < page_size:
                    if last is not None and offset < last:
                        raise APIError(
                            f"HERE usage search: a short page of {len(found)} records at offset "
                            f"{offset} before the last page the server named (lastOffset "
                            f"{last}) {where}; records are missing, so nothing was returned",
                            provider=self.provider,
                        )
                    if following is None or following <= offset:
                        break  # a short page is the last one
                    # A short page naming a next one: follow it (it must then be empty or more).
                guessed = following is None and step is None
                if following is None:
                    following = offset + (step or 1)  # to see that nothing follows
            if following <= offset:
                raise APIError(
                    f"HERE usage search: nextOffset {following} does not advance past offset "
                    f"{offset} {where}; paging is stuck, so nothing was returned",
                    provider=self.provider,
                )
            if page.get("nextOffset") is not None:
                step = following - offset
            offset = following
        problem = tally.close()
        if problem is not None:
            self._page_error(problem, offset, where)
        return items

    def _page_error(self, problem: PageProblem, offset: int, where: str) -> None:
        """The page rule's finding (:class:`~usage_analysis.readers.here.PageTally`) as an APIError."""
        if problem.kind == "repeated":
            raise APIError(
                f"HERE usage search: the page at offset {offset} repeats an earlier page; "
                "the records would be counted twice",
                provider=self.provider,
            )
        raise APIError(
            f"HERE usage search returned {problem.have} records but says total={problem.want} "
            f"{where}: a page is missing or repeated; "
            "nothing was returned rather than a wrong count",
            provider=self.provider,
        )

    # -- provider hooks -------------------------------------------------------

    def _create(self, params: dict[str, Any]) -> tuple[str, Poll]:
        body = {"subAccounts": params["sub_accounts"]} if params.get("sub_accounts") else None
        data = self._send(
            "POST",
            self._realm_url("/reports"),
            what="report request",
            params=self._query(params),
            json_body=body,
        )
        if not isinstance(data, dict) or not data.get("id"):
            raise APIError("HERE report request: the answer has no id", provider=self.provider)
        return str(data["id"]), self._state_of(data)

    def _state_of(self, data: Mapping[str, Any]) -> Poll:
        raw = data.get("status")
        state = _STATES.get(str(raw).lower()) if raw is not None else PENDING
        if state is None:
            return Poll(FAILED, raw, message=f"HERE answered an unknown report status {raw!r}")
        # resultHref is not used: the download is always the documented /output path.
        message = data.get("message") or data.get("error") or data.get("cause")
        return Poll(state, raw, message=str(message) if message else None)

    def _poll(self, job: ReportJob) -> Poll:
        what = f"status of report {job.id}"
        response = self._call(
            "GET", self._realm_url(f"/reports/{quote(job.id, safe='')}"), what=what
        )
        data = self.http.parse_json(response, what=what)
        poll = self._state_of(data if isinstance(data, dict) else {})
        poll.retry_after = retry_after_of(response)
        return poll

    def _download_request(self, job: ReportJob) -> tuple[str | Secret, Headers]:
        # Always the documented /reports/{id}/output under the configured base URL: the
        # spec's own resultHref example (https://usage/realms/.../report/REPORT-1475/output)
        # is not a usable URL, and a token goes to the API host only (a redirect elsewhere
        # drops it, see _redirects).
        output = self._realm_url(f"/reports/{quote(job.id, safe='')}/output")
        return output, lambda: self._headers(accept="application/x-gzip, text/csv")

    def _read_options(self, job: ReportJob) -> dict[str, Any]:
        """Always the requested period (``end`` inclusive, so it ends the day after)
        and detail level. A summarized report has no dates at all, and a one-day
        report must not pass for a whole month when its rows' timestamps look monthly
        (a daily refresh on the 2nd must not archive the 1st as the month, nor skip
        the 2nd to the 19th)."""
        if "start" not in job.params:
            return {}
        first = date.fromisoformat(str(job.params["start"]))
        last = date.fromisoformat(str(job.params["end"]))
        options: dict[str, Any] = {"period": (first, last + timedelta(days=1))}
        if job.params.get("detail_level"):
            options["detail_level"] = job.params["detail_level"]
        return options

    def _validate_file(self, job: ReportJob, path: Path) -> None:
        self._records[job.id] = _count_records(path)

    def _recheck(self, job: ReportJob, path: Path) -> list[dict[str, Any]] | None:
        count = self._records.pop(job.id, None)
        if count is None:
            count = _count_records(path)
        if count < self.max_records:
            return None
        first, last = date.fromisoformat(job.params["start"]), date.fromisoformat(job.params["end"])
        if first == last:
            raise LimitExceeded(
                f"HERE report {job.id} holds {count} records for the single day {first}, the "
                "most one report can hold; narrow it with feature_id=, app_id= or category=",
                limit=f"{self.max_records} records",
                provider=self.provider,
            )
        middle = first + timedelta(days=(last - first).days // 2)
        log.debug(
            "here: report %s came back at the %d-record cap; asking for %s..%s and %s..%s instead",
            job.id,
            self.max_records,
            first,
            middle,
            middle + timedelta(days=1),
            last,
        )
        return [
            {**job.params, "start": first.isoformat(), "end": middle.isoformat()},
            {
                **job.params,
                "start": (middle + timedelta(days=1)).isoformat(),
                "end": last.isoformat(),
            },
        ]


def _seconds(value: Any) -> float | None:
    """A token lifetime in seconds, or None when absent, not a number, or beyond a year."""
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if not 0 < seconds <= 366 * 86400:  # also false for nan and inf
        return None
    return seconds


def _int_or_none(value: Any, default: int | None) -> int | None:
    """An integer paging field, or ``default`` when absent or not a number."""
    if isinstance(value, bool) or value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return default


def _month_end(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def _month_windows(first: date, last: date, max_days: int) -> list[tuple[date, date]]:
    """Windows of whole calendar months (a month's row is never split), each <= max_days."""
    windows: list[tuple[date, date]] = []
    start = first
    while start <= last:
        end: date | None = None
        month_end = _month_end(start)
        while True:
            candidate = min(last, month_end)
            if (candidate - start).days + 1 > max_days:
                break
            end = candidate
            if end == last:
                break
            month_end = _month_end(end + timedelta(days=1))
        if end is None:  # not even one month fits: whole days then
            end = min(last, start + timedelta(days=max_days - 1))
        windows.append((start, end))
        start = end + timedelta(days=1)
    return windows
