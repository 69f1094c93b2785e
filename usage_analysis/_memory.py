"""Give memory freed after a large read back to the operating system (issue 21).

Two allocators keep what a read freed for reuse, so a notebook's resident memory
stays at its peak long after the frames are gone: Arrow's pool (mimalloc or
jemalloc: parse buffers, Parquet pages) and glibc's malloc (the inflated bytes of
a gzipped or zipped report, freed as one block but kept on the heap). Both are
asked to return it; each call costs a few milliseconds.
"""

from __future__ import annotations

import ctypes
import platform
import sys
from functools import cache
from typing import Any

import pyarrow as pa

__all__ = ["release_memory"]


@cache
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim`` (``None`` elsewhere: musl, macOS and Windows return freed
    blocks by themselves or offer no such call)."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_memory() -> None:
    """Return the memory Arrow's pool and malloc keep unused to the operating system."""
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
