"""`streamlit ...` with a server-side stopwatch for predictions and a stall log, for load.py."""

# python -m bench.traced_streamlit TRACE_FILE run streamlit_app.py [streamlit options]
# TRACE_FILE: a JSON line per prediction, a page's rerun request -> the message carrying the
# digit, and one per run result sent ({"t", "result": session id}). It hooks two private
# Runtime methods (Streamlit 1.67): if gone, it runs untraced.
# TRACE_FILE.stalls: what the busy threads were doing whenever the GIL or CPU was not to be had.

from __future__ import annotations

import json
import re
import sys
import threading
import time

# Only the predicted digit's markdown reads so (ui/draw.py prediction_ui: "# 7\n#### 99% sure");
# its earlier mark, an inline font size, moved to page.css, and this stopwatch went quiet.
PREDICTION = re.compile(r"# \d\n#### ")
RESULT_MARK = "**Finished:**"  # only a finished run's result alert (ui/train.py) has it


def install(trace_path: str) -> bool:
    """Wrap Runtime.handle_backmsg and Runtime._send_message; False if they are gone."""
    from streamlit.runtime import runtime

    cls = runtime.Runtime
    if not (hasattr(cls, "handle_backmsg") and hasattr(cls, "_send_message")):
        return False
    out = open(trace_path, "a", buffering=1)  # noqa: SIM115 (open for the server's life)
    lock = threading.Lock()
    pending: dict[str, float] = {}  # session id -> time of its latest rerun request
    handle_backmsg, send_message = cls.handle_backmsg, cls._send_message

    def traced_handle_backmsg(self, session_id, msg, *args, **kwargs):
        if msg.WhichOneof("type") == "rerun_script":
            pending[session_id] = time.perf_counter()
        return handle_backmsg(self, session_id, msg, *args, **kwargs)

    def traced_send_message(self, session_info, msg, *args, **kwargs):
        try:
            element = msg.delta.new_element if msg.WhichOneof("type") == "delta" else None
            if element is not None and RESULT_MARK in element.alert.body:
                # A run's result leaving the server (room_browser.py: server-side figures).
                with lock:
                    out.write(json.dumps({"t": time.time(), "result": session_info.session.id})
                              + "\n")
            elif element is not None and PREDICTION.match(element.markdown.body):
                started = pending.pop(session_info.session.id, None)
                if started is not None:
                    ms = (time.perf_counter() - started) * 1000
                    with lock:
                        out.write(json.dumps({"t": time.time(), "ms": round(ms, 1)}) + "\n")
        except Exception:  # never let the stopwatch break the server
            pass
        return send_message(self, session_info, msg, *args, **kwargs)

    cls.handle_backmsg = traced_handle_backmsg
    cls._send_message = traced_send_message
    return True


def watch_stalls(log_path: str, tick: float = 0.05, late: float = 0.15) -> None:
    """A thread that wakes every `tick` s; when it wakes over `late` s late (the GIL or the
    CPU was not to be had), it logs what every busy thread is doing right then."""
    import os
    import traceback

    out = open(log_path, "a", buffering=1)  # noqa: SIM115 (open for the server's life)
    idle = ("wait (threading.py", "select (selectors.py", "get (queue.py", "sleep")

    def run() -> None:
        me = threading.get_ident()
        names = {}
        while True:
            before = time.perf_counter()
            time.sleep(tick)
            lag = time.perf_counter() - before - tick
            if lag < late:
                continue
            names.update({t.ident: t.name for t in threading.enumerate()})
            lines = [f"STALL {time.time():.2f} late {lag * 1000:.0f} ms "
                     f"load {os.getloadavg()[0]:.1f}"]
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                stack = traceback.extract_stack(frame)[-6:]
                text = " <- ".join(f"{f.name} ({f.filename.rsplit('/', 1)[-1]}:{f.lineno})"
                                   for f in reversed(stack))
                if not any(marker in text.split(" <- ")[0] for marker in idle):
                    lines.append(f"  {names.get(ident, ident)}: {text}")
            out.write("\n".join(lines) + "\n")

    threading.Thread(target=run, name="stall-watch", daemon=True).start()


def main() -> None:
    trace_path, *streamlit_args = sys.argv[1:]
    watch_stalls(trace_path + ".stalls")
    if not install(trace_path):
        print("traced_streamlit: Streamlit's Runtime has changed; running untraced",
              file=sys.stderr)
    from streamlit.web import cli

    sys.argv = ["streamlit", *streamlit_args]
    cli.main()


if __name__ == "__main__":
    main()
