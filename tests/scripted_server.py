"""A tiny real HTTP server on 127.0.0.1 whose answers a test scripts, and which records requests.

Used where a mock transport would hide what matters: redirects between two real
origins (127.0.0.1 and localhost, each on its own port) and bodies that drip.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from server_helpers import free_port


@dataclass
class Seen:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Answer = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Scripted:
    """A running server: its base URL (on the host name given), routes and what it saw."""

    host: str
    port: int
    routes: dict[str, Answer] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def headers_of(self, path: str) -> list[dict[str, str]]:
        return [s.headers for s in self.seen if s.path.split("?")[0] == path]


def reply(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
    """An answer with a Content-Length."""

    def answer(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return answer


@contextmanager
def scripted_server(host: str = "127.0.0.1") -> Iterator[Scripted]:
    """A server listening on 127.0.0.1 (a free port), addressed as ``host`` in its URL."""
    state = Scripted(host=host, port=free_port())

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            state.seen.append(
                Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            answer = state.routes.get(self.path.split("?")[0])
            if answer is None:
                reply(404, b"no route")(self)
                return
            # The client may give up mid-answer, as it should at a deadline.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                answer(self)

        do_GET = do_POST = do_PUT = _handle

    server = ThreadingHTTPServer(("127.0.0.1", state.port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
