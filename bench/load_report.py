"""The load test's report: latencies, the training queue, saved runs, memory and CPU."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from statistics import median

from bench.appserver import ROOT
from bench.load_drive import Clock, Results
from bench.stats import percentile, summarize


def summarize_seconds(values: list[float]) -> str:
    """p50, p95 and max of delays in seconds."""
    if not values:
        return "none"
    return (f"p50 {median(values):.1f} s, p95 {percentile(values, 95):.1f} s, "
            f"max {max(values):.1f} s ({len(values)})")

# Run in a child process: loading the runs imports TensorFlow, which the driver does without.
CHECK_RUNS = """
import json, sys
from datetime import datetime
from mnist_core.store import ModelStore
store = ModelStore(sys.argv[1])
report = []
for info in store.list_models():
    if info.shipped:
        continue
    entry = {"name": info.ref.removeprefix("runs/"), "metadata": info.metadata is not None}
    if info.metadata is not None:
        entry["saved"] = datetime.fromisoformat(info.metadata.created).timestamp()
        entry["seconds"] = info.metadata.seconds
    try:
        entry["params"] = store.load(info.ref).count_params()
    except Exception as e:
        entry["error"] = str(e)
    report.append(entry)
print(json.dumps(report))
"""


def server_times(trace: Path) -> list[tuple[float, float]]:
    """(wall-clock time, ms) per prediction, as the server timed it (traced_streamlit)."""
    if not trace.exists():
        return []
    entries = map(json.loads, trace.read_text().splitlines())
    return [(entry["t"], entry["ms"]) for entry in entries if "ms" in entry]


def check_runs(models: Path) -> list[dict]:
    """Every run in the models folder: name, when saved, training seconds, whether it loads."""
    checked = subprocess.run([sys.executable, "-c", CHECK_RUNS, str(models)], cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
    if checked.returncode != 0:
        print(checked.stderr[-2000:])
        return []
    return json.loads(checked.stdout)


def report(results: Results, models: Path, args: argparse.Namespace, copies: int,
           trace: Path, clock: Clock) -> int:
    """Print the figures; return the exit code."""
    failed = []
    latency = [s.result.latency_ms for s in results.strokes]
    print(f"\nsessions: {results.opened} of {args.sessions} opened; strokes: "
          f"{len(results.strokes)} (pauses: {args.stroke_pause[0]:g}-{args.stroke_pause[1]:g} s "
          f"between strokes, {args.digit_pause[0]:g}-{args.digit_pause[1]:g} s between digits)"
          f"; plus {results.unchanged} that changed nothing on screen (no new ink in the "
          "28x28 view, e.g. off the canvas)")
    print(f"errors: {len(results.errors)}")
    for error in results.errors[:20]:
        print(f"  {error}")
    if results.errors:
        failed.append(f"{len(results.errors)} errors")

    saved = check_runs(models)
    # When training really ran: from each saved run's metadata (saved at, seconds trained).
    training = [(run["saved"] - run["seconds"], run["saved"]) for run in saved
                if run.get("saved") and run.get("seconds") is not None]

    def while_training(at: float) -> bool:
        return any(start <= at <= end for start, end in training)

    print(f"prediction latency, mouse-up -> new prediction on screen: {summarize(latency)}")
    full = [s.result.latency_ms for s in results.strokes if s.at >= clock.all_open_at]
    probes = [s.result.latency_ms for s in results.strokes
              if s.probe and s.at >= clock.all_open_at]
    print(f"  in the {len(args.probe_sessions)} probe sessions (a browser of their own at "
          f"normal priority, like a participant's laptop), all {results.opened} open: "
          f"{summarize(probes)} (target p95 <= {args.target_p95:.0f} ms)")
    print(f"  in all sessions, all {results.opened} open (their browsers sharing this "
          f"machine's cores with the server): {summarize(full)}")
    if not probes or percentile(probes, 95) > args.target_p95:
        failed.append("prediction latency p95")
    if training:
        print("  while a run trained: " + summarize(
            [s.result.latency_ms for s in results.strokes if while_training(s.at)]))
        print("  otherwise:           " + summarize(
            [s.result.latency_ms for s in results.strokes if not while_training(s.at)]))
    served = server_times(trace)
    if served:
        print("the server's part (a stroke's rerun request -> its prediction sent): "
              f"{summarize([ms for _, ms in served])}")
        if training:
            print("  while a run trained: " + summarize(
                [ms for at, ms in served if while_training(at)]))
    parts = {
        "the canvas's own delay before sending": [s.result.send_ms for s in results.strokes],
        "sent -> answer received": [s.result.reply_ms - s.result.send_ms for s in results.strokes
                                    if s.result.reply_ms is not None
                                    and s.result.send_ms is not None],
        "received -> on screen": [s.result.latency_ms - s.result.reply_ms
                                  for s in results.strokes if s.result.reply_ms is not None],
    }
    print("  medians in the browser: " + ", ".join(
        f"{name} {median([v for v in values if v is not None]):.0f} ms"
        for name, values in parts.items() if any(v is not None for v in values)))

    print("training queue (one run at a time per two cores; the rest wait):")
    if len(results.runs) > 1 and not any("Queued" in run.first_status for run in results.runs):
        print("  (no run had to wait: the queue was not exercised)")
    by_name = {run["name"]: run for run in saved}
    for run in sorted(results.runs, key=lambda run: run.clicked or float("inf")):
        entry = by_name.get(run.saved_as or "")
        loads = entry is not None and "params" in entry
        timing = ""
        if entry is not None and entry.get("saved") and run.clicked:
            began = entry["saved"] - entry["seconds"]
            timing = (f"; began {began - run.clicked:.0f} s after the click, trained "
                      f"{entry['seconds']:.0f} s")
        print(f"  session {run.session}: {run.first_status or 'did not start'}{timing}; "
              f"page: {run.page_says or '-'}; saved file loads: {'yes' if loads else 'NO'}")
        if not (run.seen_done and loads):
            failed.append(f"run of session {run.session}")
    leftovers = list((models / "runs").glob(".tmp-*")) if (models / "runs").is_dir() else []
    loadable = [run for run in saved if "params" in run]
    print(f"  runs/ holds {len(saved)} runs, {len(loadable)} load; temp files left: "
          f"{len(leftovers)}")
    if len(saved) != len(results.runs) or len(loadable) != len(saved) or leftovers:
        failed.append("runs/ folder")

    failed += room_report(results, saved, args)

    if results.rss:
        values = [mb for _, mb in results.rss]
        print(f"server memory (RSS): {values[0]:.0f} MB at the start, max {max(values):.0f} MB, "
              f"{values[-1]:.0f} MB at the end; float32 copies of MNIST's training images: "
              f"{copies}")
    if results.drawing_seconds:
        seconds, cores = results.drawing_seconds, os.cpu_count() or 1
        print(f"CPU while drawing ({seconds:.0f} s x {cores} cores = {cores * seconds:.0f} "
              f"CPU-s, from all open to the end): server {results.server_cpu:.0f} CPU-s, "
              f"browser side (Chromium, Playwright, this script) {results.browser_cpu:.0f} "
              "CPU-s")
    print("result: " + ("ALL TARGETS MET" if not failed else "MISSED: " + "; ".join(failed)))
    return 1 if failed else 0


def room_report(results: Results, saved: list[dict], args: argparse.Namespace) -> list[str]:
    """The board filling in on the Room tab pages, and every page following the push."""
    failed = []
    saved_at = sorted(run["saved"] for run in saved if run.get("saved"))
    print(f"room board ({len(results.board_seen)} pages on the Room tab, at normal priority "
          "like a projector's machine):")
    delays = []
    for index, seen in sorted(results.board_seen.items()):
        for number, at in enumerate(saved_at, start=1):
            shown = next((when for when, runs in seen if runs >= number), None)
            if shown is not None:
                delays.append(shown - at)
        final = seen[-1][1] if seen else 0
        print(f"  session {index}: showed {final} of {len(saved_at)} runs")
        if final != len(saved_at):
            failed.append(f"board of session {index}")
    if delays:
        print(f"  a run on the board after its metadata was written: {summarize_seconds(delays)}")
    follows = [seconds for seconds in results.followed.values() if seconds is not None]
    print(f"presenter's push (dropout 0.5, 3 epochs): {len(follows)} of {results.opened} pages "
          f"followed; {summarize_seconds(follows)} after the click")
    normal, low = [], []
    for index, seconds in results.followed.items():
        if seconds is not None:
            (normal if index in args.probe_sessions or index < args.board else low).append(
                seconds)
    print(f"  in the pages with a normal-priority browser (probes, board): "
          f"{summarize_seconds(normal)}; in the low-priority ones: {summarize_seconds(low)}")
    if results.pushed_at == 0.0:
        print("  the presenter never pushed")
        failed.append("no push")
    elif len(follows) != results.opened:
        failed.append("pages that did not follow the push")
    return failed
