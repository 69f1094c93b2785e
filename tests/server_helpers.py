"""Helpers shared by the tests that start servers or drive Debian's Chromium."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

# Playwright drives Debian's Chromium (`make browser` installs it): it must not
# download a browser of its own.
CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps calling out, and this
# machine's closed network refuses it many times a second.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's Chromium at /usr/bin/chromium (`make browser` installs it)",
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
