"""Authentication the three providers ask for: bearer tokens, HERE's signed token request, sessions."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

from oauthlib.common import UNICODE_ASCII_CHARACTER_SET
from oauthlib.oauth1 import RequestValidator, SignatureOnlyEndpoint
from starlette.requests import Request

__all__ = [
    "OAuth1Checker",
    "Session",
    "SessionStore",
    "bearer_token",
    "new_secret",
]


def bearer_token(request: Request, *, allow_query: bool = False) -> str | None:
    """The token of ``Authorization: Bearer <token>`` (or ``?access_token=``, when allowed)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if allow_query:
        # Particle still accepts the deprecated query-string token.
        return request.query_params.get("access_token") or None
    return None


def new_secret(nbytes: int = 32) -> str:
    """An unguessable URL-safe token (sessions, issued tokens, pre-signed links)."""
    return secrets.token_urlsafe(nbytes)


class _Validator(RequestValidator):  # type: ignore[misc]
    """Checks HERE client-credentials requests: one known key, HMAC-SHA256, no nonce replay."""

    def __init__(self, key: str, secret: str) -> None:
        super().__init__()
        self._key = key
        self._secret = secret
        self._nonces: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    @property
    def enforce_ssl(self) -> bool:
        # The emulator speaks plain HTTP on 127.0.0.1.
        return False

    @property
    def allowed_signature_methods(self) -> tuple[str, ...]:
        return ("HMAC-SHA256",)

    @property
    def safe_characters(self) -> set[str]:
        return set(UNICODE_ASCII_CHARACTER_SET) | set("-_.~")

    @property
    def client_key_length(self) -> tuple[int, int]:
        return 1, 128

    @property
    def nonce_length(self) -> tuple[int, int]:
        return 6, 128

    @property
    def dummy_client(self) -> str:
        return "dummy-client-key"

    def check_nonce(self, nonce: str) -> bool:
        low, high = self.nonce_length
        return low <= len(nonce) <= high

    def validate_client_key(self, client_key: str, request: object) -> bool:
        return secrets.compare_digest(client_key, self._key)

    def get_client_secret(self, client_key: str, request: object) -> str:
        # A dummy secret for unknown keys keeps the timing alike, as oauthlib asks.
        return self._secret if secrets.compare_digest(client_key, self._key) else "dummy-secret"

    def validate_timestamp_and_nonce(
        self,
        client_key: str,
        timestamp: str,
        nonce: str,
        request: object,
        request_token: str | None = None,
        access_token: str | None = None,
    ) -> bool:
        entry = (client_key, timestamp, nonce)
        with self._lock:
            if entry in self._nonces:
                return False
            self._nonces.add(entry)
        return True


class OAuth1Checker:
    """Verifies an OAuth 1.0a HMAC-SHA256 signed request with oauthlib."""

    def __init__(self, key: str, secret: str) -> None:
        self._endpoint = SignatureOnlyEndpoint(_Validator(key, secret))

    def verify(self, uri: str, method: str, body: str | None, headers: dict[str, str]) -> bool:
        """Whether the signature, key, timestamp and nonce are all valid."""
        valid, _request = self._endpoint.validate_request(
            uri, http_method=method, body=body, headers=headers
        )
        return bool(valid)


@dataclass
class Session:
    """An Informatica session: who logged in, and when the session was last used."""

    org_id: str
    user_id: str
    last_used: float


class SessionStore:
    """Informatica sessions that expire after an idle time (emulator clock)."""

    def __init__(self, idle_seconds: float) -> None:
        self.idle_seconds = idle_seconds
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, *, org_id: str, user_id: str, now: float) -> str:
        session_id = new_secret(24)
        with self._lock:
            self._sessions[session_id] = Session(org_id=org_id, user_id=user_id, last_used=now)
        return session_id

    def touch(self, session_id: str | None, now: float) -> Session | None:
        """The live session for ``session_id`` (and mark it used), or None if unknown/expired."""
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if now - session.last_used > self.idle_seconds:
                del self._sessions[session_id]
                return None
            session.last_used = now
            return session

    def close(self, session_id: str | None) -> bool:
        with self._lock:
            return self._sessions.pop(session_id or "", None) is not None
