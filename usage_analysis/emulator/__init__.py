"""A local emulator of the Particle, HERE and Informatica report APIs.

A real HTTP server on 127.0.0.1 that speaks each provider's API as
``../shared/PROVIDERS.md`` describes it, with data from ``usage_analysis.sample_data``::

    from usage_analysis.emulator import running

    with running(seed=7, speed="fast", faults=0.0) as emu:
        emu.base_url, emu.credentials, emu.env()
        emu.advance(60)                      # move its clock instead of sleeping
        emu.ground_truth("here", startDate="2026-10-01T00:00:00", endDate=...)

``usage-analysis emulator --port 8765`` runs it in the foreground. See docs/emulator.md.
"""

from __future__ import annotations

from .app import create_app
from .options import SPEEDS, EmulatorOptions, FaultRates
from .server import Emulator, running
from .state import EmulatorState

__all__ = [
    "SPEEDS",
    "Emulator",
    "EmulatorOptions",
    "EmulatorState",
    "FaultRates",
    "create_app",
    "running",
]
