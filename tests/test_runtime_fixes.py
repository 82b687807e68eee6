"""ui.runtime_fixes against Streamlit's real AppSession: a fragment's timer that fires as a
run ends no longer makes the session drop that run's messages."""

from __future__ import annotations

import asyncio
from unittest.mock import MagicMock

import pytest
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.runtime.app_session import AppSession
from streamlit.runtime.script_data import ScriptData
from streamlit.runtime.scriptrunner import ScriptRunnerEvent
from streamlit.runtime.scriptrunner_utils.script_requests import ScriptRequests

from ui import runtime_fixes

TIMER = "panel-timer"  # a fragment with run_every, as the Train tab's run panel


class Runner:
    """A script runner as the session sees it: still running, or ended (its thread has
    ended its last run and takes no more reruns)."""

    def __init__(self, ended: bool = True) -> None:
        self._requests = ScriptRequests()
        if ended:
            self._requests.request_stop()

    def request_rerun(self, rerun_data) -> bool:
        return self._requests.request_rerun(rerun_data)

    def request_stop(self) -> None:
        self._requests.request_stop()


@pytest.fixture
def streamlit_alone(monkeypatch):
    """Streamlit's own request_rerun for this test (the app's runs may have mended it)."""
    monkeypatch.setattr(AppSession, "request_rerun",
                        getattr(AppSession.request_rerun, "__wrapped__", AppSession.request_rerun))


@pytest.fixture
def mended(streamlit_alone):
    """The mend installed on Streamlit's own request_rerun, for this test."""
    runtime_fixes.hold_fragment_reruns_for_finished_runs()
    return AppSession.request_rerun


def session_with(runner: Runner) -> tuple[AppSession, list]:
    """A real AppSession (in the running event loop) whose current runner is `runner`,
    and the list of the rerun data of every runner it starts from then on."""
    session = AppSession(ScriptData("/nonexistent/app.py", is_hello=False), MagicMock(),
                         MagicMock(), None, {})
    session._fragment_storage.register(TIMER, lambda: None)
    session._scriptrunner = runner
    started: list = []
    session._create_scriptrunner = started.append
    return session, started


def timer_tick(fragment_id: str = TIMER) -> ClientState:
    """What a page sends when a fragment's run_every timer fires ("" for a whole rerun)."""
    return ClientState(fragment_id=fragment_id, is_auto_rerun=bool(fragment_id))


async def settle(seconds: float = 0.05) -> None:
    await asyncio.sleep(seconds)


def test_streamlit_alone_starts_a_runner_whose_start_drops_the_ended_runs_messages(
        streamlit_alone):
    """The race mended: the new runner is current at once, so the ended runner's messages
    still on the event loop are ignored (if Streamlit changes this, the mend can go)."""
    async def scenario():
        runner = Runner()
        session, started = session_with(runner)
        session.request_rerun(timer_tick())
        assert [data.fragment_id for data in started] == [TIMER]

    asyncio.run(scenario())


def test_a_timer_tick_as_a_run_ends_waits_until_that_runs_messages_are_handled(mended):
    async def scenario():
        runner = Runner()
        session, started = session_with(runner)
        session.request_rerun(timer_tick())
        await settle()
        assert started == []  # held: the ended runner's messages come first
        # The ended runner's last message: the session lets go of it.
        session._handle_scriptrunner_event_on_event_loop(runner, ScriptRunnerEvent.SHUTDOWN)
        await settle()
        assert [data.fragment_id for data in started] == [TIMER]

    asyncio.run(scenario())


def test_a_held_tick_goes_ahead_after_the_longest_hold(mended, monkeypatch):
    monkeypatch.setattr(runtime_fixes, "HOLD_SECONDS", 0.02)

    async def scenario():
        session, started = session_with(Runner())
        session.request_rerun(timer_tick())
        await settle(0.2)
        assert [data.fragment_id for data in started] == [TIMER]

    asyncio.run(scenario())


@pytest.mark.parametrize(("runner_ended", "tick", "runners_started"), [
    (False, TIMER, 0),  # a runner still running takes the tick itself, as before
    (True, "", 1),  # a whole-page rerun starts at once: it redraws everything anyway
])
def test_other_reruns_are_not_held(mended, runner_ended, tick, runners_started):
    async def scenario():
        session, started = session_with(Runner(ended=runner_ended))
        session.request_rerun(timer_tick(tick))
        assert len(started) == runners_started

    asyncio.run(scenario())


def test_installing_twice_wraps_once(mended):
    runtime_fixes.hold_fragment_reruns_for_finished_runs()
    assert AppSession.request_rerun is mended
