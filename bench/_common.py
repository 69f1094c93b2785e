"""Shared benchmark machinery: timing, peak memory in a fresh process, and the report."""

from __future__ import annotations

import gc
import multiprocessing as mp
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"
CHILD_TIMEOUT = 3600.0  # one side of one benchmark, in its own process


def best_time(fn: Callable[[], Any], *, repeat: int = 3) -> float:
    """Best wall time of ``repeat`` runs of ``fn`` (seconds)."""
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _vm_hwm() -> int:
    """Peak resident memory of this process in bytes.

    /proc's VmHWM belongs to the address space, so it starts afresh after exec;
    getrusage's ru_maxrss does not (Linux carries the parent's peak over a fork).
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _child(target: Callable[..., Any], args: tuple[Any, ...], conn: Any) -> None:
    before = _vm_hwm()
    t0 = time.perf_counter()
    target(*args)
    seconds = time.perf_counter() - t0
    conn.send((seconds, before, _vm_hwm()))
    conn.close()


def in_fresh_process(target: Callable[..., Any], *args: Any) -> tuple[float, int, int]:
    """Run ``target(*args)`` in a new process; return (seconds, rss_before, peak_rss) in bytes.

    ``target`` must be importable (a module-level function).
    """
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(target, args, child))
    proc.start()
    child.close()  # the child's end lives in the child: its death ends the pipe here
    try:
        if not parent.poll(CHILD_TIMEOUT):
            proc.kill()
            raise RuntimeError(f"benchmark child gave no result in {CHILD_TIMEOUT:.0f} s")
        result = parent.recv()
    except EOFError:
        proc.join()
        raise RuntimeError(
            f"benchmark child died without a result (exit code {proc.exitcode})"
        ) from None
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f"benchmark child failed with exit code {proc.exitcode}")
    return result


@dataclass
class Report:
    """Collects lines of the form: name, measured, baseline, ratio, target."""

    rows: list[tuple[str, str, str, float, float | None]] = field(default_factory=list)

    def ratio(
        self,
        name: str,
        measured: float,
        baseline: float,
        *,
        target: float | None = None,
        unit: str = "s",
        baseline_name: str = "baseline",
    ) -> float:
        r = measured / baseline if baseline else float("inf")
        self.rows.append(
            (name, f"{measured:.3f} {unit}", f"{baseline_name} {baseline:.3f} {unit}", r, target)
        )
        ok = "" if target is None else ("  OK" if r <= target else "  MISSED")
        tgt = "" if target is None else f" (target <= {target:g}x)"
        print(
            f"{name:<58} {measured:10.3f} {unit:<3} vs {baseline_name} {baseline:10.3f} {unit:<3} "
            f"= {r:6.2f}x{tgt}{ok}",
            flush=True,
        )
        return r

    def absolute(
        self, name: str, measured: float, *, unit: str, target: float | None = None
    ) -> None:
        ok = "" if target is None else ("  OK" if measured <= target else "  MISSED")
        tgt = "" if target is None else f" (target <= {target:g} {unit})"
        print(f"{name:<58} {measured:10.3f} {unit}{tgt}{ok}", flush=True)
