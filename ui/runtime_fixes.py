"""A mend for a race in Streamlit's runtime that a busy room hits: a fragment's timer made
a session drop everything its last run drew (installed once per server process)."""

from __future__ import annotations

import functools
from typing import Any

RETRY_SECONDS = 0.005  # how often a held-back fragment rerun looks again
HOLD_SECONDS = 2.0  # at most this long; then it goes ahead as Streamlit would


def _finished_runner(session: Any) -> bool:
    """Whether the session's script runner has ended its runs while the server has not yet
    handled all it sent (its last event, SHUTDOWN, clears session._scriptrunner)."""
    from streamlit.runtime.scriptrunner_utils.script_requests import ScriptRequestType

    runner = getattr(session, "_scriptrunner", None)
    requests = getattr(runner, "_requests", None)
    return getattr(requests, "_state", None) is ScriptRequestType.STOP


def hold_fragment_reruns_for_finished_runs() -> None:
    """Make a fragment's rerun that arrives as a run ends wait until that run's messages
    have been handled, instead of starting a new script runner at once."""
    # Streamlit 1.67 handles a runner's messages on the server's event loop, after the
    # runner's thread. A rerun request in between finds the runner ended and starts a new
    # one; the session then ignores the old runner's messages still waiting. For a whole
    # page's run that is all of it: the page lost its Train tab and its timers, and kept
    # showing an unfinished run. 40 pages ending their runs together: 116-134 script runs a
    # round were thrown away so, and 3 of 11 rounds left a page without its result.
    # A whole-page rerun is left alone: it redraws everything anyway.
    from streamlit.runtime.app_session import AppSession

    if getattr(AppSession.request_rerun, "holds_for_finished_runs", False):
        return
    request_rerun = AppSession.request_rerun

    def request_when_handled(self: AppSession, client_state: Any, args: tuple, kwargs: dict,
                             waited: float) -> None:
        if (client_state is not None and client_state.fragment_id and waited < HOLD_SECONDS
                and _finished_runner(self)):
            self._event_loop.call_later(RETRY_SECONDS, request_when_handled, self,
                                        client_state, args, kwargs, waited + RETRY_SECONDS)
            return
        request_rerun(self, client_state, *args, **kwargs)

    @functools.wraps(request_rerun)  # its __wrapped__ is Streamlit's own
    def held_request_rerun(self: AppSession, client_state: Any, *args: Any,
                           **kwargs: Any) -> None:
        request_when_handled(self, client_state, args, kwargs, 0.0)

    held_request_rerun.holds_for_finished_runs = True  # type: ignore[attr-defined]
    AppSession.request_rerun = held_request_rerun  # type: ignore[method-assign]

