"""Percentiles and one-line summaries of timings, for run.py and load.py."""

from __future__ import annotations

from statistics import median


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile by nearest rank (no interpolation between two timings)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summarize(values: list[float]) -> str:
    """p50, p95 and max of stroke latencies in ms, and how many there were."""
    if not values:
        return "no strokes"
    return (f"p50 {median(values):.0f} ms, p95 {percentile(values, 95):.0f} ms, "
            f"max {max(values):.0f} ms ({len(values)} strokes)")
