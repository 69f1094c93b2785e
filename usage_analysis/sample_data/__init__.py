"""Deterministic sample data: the world, its usage, and every file kind the providers send.

``python -m usage_analysis.sample_data --provider here --kind report --rows 1000000
--seed 7 --out FILE`` writes a scale file; ``--samples DIR`` rewrites ``sample_data/``.
The emulator serves data from the same functions, so tests can compare a
downloaded report with :func:`particle_usage` and friends as ground truth.
"""

from __future__ import annotations

from .files import generate_file, write_samples
from .generate import (
    HERE_GROUPS,
    INFORMATICA_JOB_TYPES,
    PARTICLE_KIND_COLUMNS,
    here_usage,
    informatica_usage,
    particle_usage,
)
from .render import (
    HERE_LABELS,
    HERE_TIME_FORMAT,
    gzip_bytes,
    here_csv,
    here_json_pages,
    informatica_csv,
    informatica_zip,
    particle_csv,
)
from .world import HereWorld, InformaticaWorld, ParticleWorld, World, make_world

__all__ = [
    "HERE_GROUPS",
    "HERE_LABELS",
    "HERE_TIME_FORMAT",
    "INFORMATICA_JOB_TYPES",
    "PARTICLE_KIND_COLUMNS",
    "HereWorld",
    "InformaticaWorld",
    "ParticleWorld",
    "World",
    "generate_file",
    "gzip_bytes",
    "here_csv",
    "here_json_pages",
    "here_usage",
    "informatica_csv",
    "informatica_usage",
    "informatica_zip",
    "make_world",
    "particle_csv",
    "particle_usage",
    "write_samples",
]
