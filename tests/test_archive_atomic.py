"""A report's write is one commit: killed writers and concurrent writers never double-count."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from usage_analysis import archive
from usage_analysis.archive import _write
from usage_analysis.schema import coerce_unified

DEVICES = 400
FIRST, LAST = "2026-01-01", "2026-03-31"

# One process imports everything once (10 s on a loaded machine), then forks a
# writer per command, so each writer starts at once and can be killed mid-write:
#   "write FIRST LAST FACTOR" -> prints the writer's pid
#   "wait PID"                -> prints its exit status once it has ended
ZYGOTE = textwrap.dedent(
    """
    import logging, os, sys, traceback
    import numpy as np, pandas as pd
    from usage_analysis import archive
    from usage_analysis.schema import coerce_unified

    root, n = sys.argv[1], int(sys.argv[2])

    def report(first, last, factor):
        days = pd.date_range(first, last, freq="D", tz="UTC")
        devices = [f"dev-{i:04d}" for i in range(n)]
        start = pd.DatetimeIndex(np.repeat(days.to_numpy(), len(devices)), tz="UTC")
        return coerce_unified(pd.DataFrame({
            "provider": "particle", "account_id": "acme", "product": "Trackers",
            "resource_id": np.tile(devices, len(days)), "meter_id": "data_operations",
            "category": "device", "period_start": start,
            "period_end": start + pd.Timedelta(days=1),
            "quantity": factor * (1 + start.day.to_numpy() % 5),
            "unit": "data operations",
        }))

    print("ready", flush=True)
    for line in sys.stdin:
        command, *args = line.split()
        if command == "wait":
            _, status = os.waitpid(int(args[0]), 0)
            print(status, flush=True)
            continue
        pid = os.fork()
        if pid == 0:
            logging.basicConfig(level=logging.DEBUG, format="%(message)s")
            logging.getLogger("usage_analysis").setLevel(logging.DEBUG)
            try:
                frame = report(args[0], args[1], float(args[2]))
                archive.archive_frame(frame, report_id=f"x{args[2]}", archive=root)
            except BaseException:
                traceback.print_exc()
                os._exit(1)
            os._exit(0)
        print(pid, flush=True)
    """
)


def truth(first: str, last: str, factor: float) -> dict[str, float]:
    days = pd.date_range(first, last, freq="D", tz="UTC")
    per_day = pd.Series(factor * (1 + days.day % 5) * DEVICES, index=days.strftime("%Y-%m"))
    return per_day.groupby(level=0).sum().to_dict()


def monthly(root: Path) -> dict[str, float]:
    got = archive.sql(
        "select month, sum(quantity) as q from usage group by all order by all", archive=root
    )
    via_history = archive.history(archive=root, columns=["period_start", "quantity"])
    by_month = via_history.groupby(via_history["period_start"].dt.strftime("%Y-%m"))[
        "quantity"
    ].sum()
    result = dict(zip(got["month"], got["q"], strict=True))
    assert result == by_month.to_dict()
    return result


class Writers:
    """The forking process of ZYGOTE, driven line by line."""

    def __init__(self, root: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE, str(root), str(DEVICES)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.ask(None) == "ready"

    def ask(self, line: str | None) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if line is not None:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if not answer:
            raise AssertionError(self.proc.stderr.read() if self.proc.stderr else "no answer")
        return answer

    def start(self, first: str, last: str, factor: float) -> int:
        return int(self.ask(f"write {first} {last} {factor}"))

    def wait(self, pid: int) -> int:
        return int(self.ask(f"wait {pid}"))

    def close(self) -> str:
        _, err = self.proc.communicate(timeout=60)
        return err


@pytest.mark.slow
def test_a_writer_killed_at_20_random_points_leaves_old_or_new_never_both(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    reports = {1.0: truth(FIRST, LAST, 1.0), 2.0: truth(FIRST, LAST, 2.0)}
    writers = Writers(root)
    try:
        assert writers.wait(writers.start(FIRST, LAST, 1.0)) == 0
        began = time.monotonic()  # how long one whole write takes, start to end
        assert writers.wait(writers.start(FIRST, LAST, 2.0)) == 0
        duration = time.monotonic() - began
        state = 2.0
        assert monthly(root) == reports[state]

        rng = random.Random(12)
        outcomes = []
        for _ in range(20):
            other = 1.0 if state == 2.0 else 2.0
            pid = writers.start(FIRST, LAST, other)
            delay = rng.uniform(0, duration * 1.2)
            time.sleep(delay)
            os.kill(pid, signal.SIGKILL)  # kill -9: no cleanup of any kind
            writers.wait(pid)
            now = monthly(root)
            # One report or the other, every month from the same one: never a sum.
            assert now in (reports[state], reports[other]), (delay, now)
            outcomes.append(now == reports[other])
            state = other if now == reports[other] else state

        assert not all(outcomes), "no kill landed before the commit: the test proved nothing"
        # Writing after all those kills gives exactly the new report.
        other = 1.0 if state == 2.0 else 2.0
        assert writers.wait(writers.start(FIRST, LAST, other)) == 0
        assert monthly(root) == reports[other]
    finally:
        writers.close()


@pytest.mark.slow
def test_two_processes_archiving_overlapping_reports_at_once_give_the_truth(
    tmp_path: Path,
) -> None:
    root = tmp_path / "archive"
    expected = truth(FIRST, LAST, 1.0)
    writers = Writers(root)
    try:
        for _ in range(3):
            a = writers.start("2026-01-01", "2026-02-15", 1.0)
            b = writers.start("2026-02-01", "2026-03-31", 1.0)
            assert writers.wait(a) == 0
            assert writers.wait(b) == 0
            assert monthly(root) == expected
    finally:
        log = writers.close()
    rows = archive.history(archive=root, columns=["resource_id", "period_start"])
    assert not rows.duplicated().any()
    assert len(rows) == DEVICES * 90
    # Logged for whoever reads the test output: how often the race really happened.
    print("commit conflicts retried:", log.count("commit conflict"))


def usage(first: str, last: str, quantity: float) -> pd.DataFrame:
    days = pd.date_range(first, last, freq="D", tz="UTC")
    return coerce_unified(
        pd.DataFrame(
            {
                "provider": "particle",
                "account_id": "acme",
                "resource_id": "dev-a",
                "category": "device",
                "period_start": days,
                "period_end": days + pd.Timedelta(days=1),
                "quantity": quantity,
                "unit": "data operations",
            }
        )
    )


@pytest.mark.slow
def test_a_commit_racing_another_starts_again_from_the_new_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "archive"
    archive.archive_frame(usage("2026-01-01", "2026-01-31", 1.0), archive=root)
    s = _write.store(root, None)
    stale = _write.open_table(s)  # what a writer saw before another one committed
    archive.archive_frame(usage("2026-01-10", "2026-01-20", 5.0), archive=root)

    real = _write.open_table
    calls: list[int] = []

    def first_stale(store: object, as_of: object = None) -> object:
        calls.append(1)
        return stale if len(calls) == 1 else real(store, as_of)  # type: ignore[arg-type]

    monkeypatch.setattr(_write, "open_table", first_stale)
    done = archive.archive_frame(usage("2026-01-15", "2026-01-25", 7.0), archive=root)

    # Version 0 is the empty table; its first try (on version 1) conflicted with 2.
    assert done.version == 3
    assert len(calls) >= 2
    back = archive.history(archive=root, sort=True)
    assert back["quantity"].tolist() == [1.0] * 9 + [5.0] * 5 + [7.0] * 11 + [1.0] * 6
