"""The benchmark harness itself: a child that dies must not hang the run."""

from __future__ import annotations

import os

import pytest

from bench._common import in_fresh_process


def _dies() -> None:
    os._exit(3)


def _returns() -> None:
    return None


@pytest.mark.slow
def test_a_child_that_dies_raises_instead_of_hanging() -> None:
    with pytest.raises(RuntimeError, match=r"died without a result \(exit code 3\)"):
        in_fresh_process(_dies)


@pytest.mark.slow
def test_a_child_that_finishes_reports_time_and_memory() -> None:
    seconds, before, peak = in_fresh_process(_returns)
    assert 0 <= seconds < 60
    assert 0 < before <= peak
