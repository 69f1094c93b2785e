"""Benchmarks run by ``make bench``: every figure is printed as a ratio to a baseline
timed in the same run, so the numbers mean the same on any machine."""
