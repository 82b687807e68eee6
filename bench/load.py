"""Load test: many real browser sessions drawing on one app server, some of them training."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from bench.appserver import APP, AppServer, chromium_path, copy_shipped_models, mnist_copies
from bench.load_drive import PRESENTER_SECRET, Clock, Results, drive
from bench.load_report import report

EPILOG = """\
Every session draws synthetic digits stroke by stroke and times each stroke from mouse-up to
the new prediction on screen; --trainers of them press Train at about the same moment, each
with other settings; --board of them watch the Room tab fill in. The presenter's console is
opened first; --push-after s into the drawing it pushes "dropout 0.5, 3 epochs", and every
page is timed until its settings show it. The
browsers run at low priority, except the --probes sessions, which have a Chromium of their
own at normal priority, like a participant's laptop: the latency target is checked on them.

exit status: 0 all targets met, 1 a target missed (errors, the probes' p95 over
--target-p95, a run not saved), 2 out of time (--time-limit).

    .venv/bin/python -m bench.load                  # 40 sessions, ~6 minutes
    .venv/bin/python -m bench.load --sessions 10 --duration 30
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=40, help="browser sessions (40)")
    parser.add_argument("--trainers", type=int, default=6,
                        help="sessions that also start a training run, each with other "
                        "settings (dropout 0 / 0.2 / 0.5, 1,000 or 10,000 images), at most "
                        "the sessions not on the board: --trainers 40 gives 36 (6)")
    parser.add_argument("--board", type=int, default=4,
                        help="sessions (the first ones) that watch the Room tab instead of "
                        "drawing, like the projector (4)")
    parser.add_argument("--push-after", type=float, default=20,
                        help="seconds after all have opened and the trainers have pressed "
                        "Train when the presenter pushes dropout 0.5, 3 epochs (20)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each run (2)")
    parser.add_argument("--duration", type=float, default=60,
                        help="seconds all sessions keep drawing once all are open (60)")
    parser.add_argument("--stroke-pause", type=float, nargs=2, default=(0.5, 1.5),
                        metavar=("MIN", "MAX"), help="seconds between strokes (0.5 1.5)")
    parser.add_argument("--digit-pause", type=float, nargs=2, default=(10.0, 20.0),
                        metavar=("MIN", "MAX"),
                        help="seconds looking at the answer before the next digit (10 20)")
    parser.add_argument("--probes", type=int, default=8,
                        help="sessions (the last ones) with a browser of their own at normal "
                        "priority, whose latency is checked against the target (8)")
    parser.add_argument("--browser-niceness", type=int, default=19,
                        help="OS niceness of the browsers, which stand for the participants' "
                        "machines (19, the lowest; 0 = same priority as the server)")
    parser.add_argument("--train-timeout", type=float, default=120,
                        help="seconds a run may still take once the drawing stops (120)")
    parser.add_argument("--time-limit", type=float, default=420,
                        help="give up (exit 2) after this many seconds in all (420)")
    parser.add_argument("--target-p95", type=float, default=1000,
                        help="prediction latency p95 target in ms (1000)")
    parser.add_argument("--app", type=Path, default=APP,
                        help="the app script (default streamlit_app.py; another copy of it "
                             "to compare a change before/after)")
    args = parser.parse_args()
    args.probe_sessions = set(range(max(0, args.sessions - args.probes), args.sessions))
    if chromium_path() is None:
        parser.error("chromium is not installed (apt-get install chromium)")

    base = Path(tempfile.mkdtemp(prefix="bench-load-"))
    models = copy_shipped_models(base / "models")
    trace = base / "server-trace.jsonl"
    server = AppServer(models, base / "server.log", app=args.app.resolve(), trace=trace,
                       env={"MNIST_PRESENTER_SECRET": PRESENTER_SECRET}).start()
    results = Results(evidence=base)
    clock = Clock()
    copies, out_of_time = 0, False
    print(f"server log: {server.log}", flush=True)
    try:
        server.wait_healthy()
        asyncio.run(asyncio.wait_for(drive(server, args, results, clock),
                                     timeout=args.time_limit))
    except TimeoutError:
        out_of_time = True
        print(f"RAN OUT OF TIME ({args.time_limit:.0f} s): the figures below are partial")
    try:
        copies = mnist_copies(server.pid)
    finally:
        server.stop()
    code = report(results, models, args, copies, trace, clock)
    return 2 if out_of_time else code


if __name__ == "__main__":
    sys.exit(main())
