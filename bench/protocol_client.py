"""A participant without a browser: Streamlit's own messages over its websocket.

It stands for a browser on the participant's own device: it sends the server what the page
would (the first run, a button's click, each fragment timer's rerun on time) and renders
nothing, so that N of them measure the server alone, not N Chromiums sharing its cores.
Streamlit 1.67's protocol (streamlit.proto), as its frontend speaks it:

    async with ProtocolPage(url, "epochs=1&tab=train") as page:
        await page.loaded()
        await page.click("train")
        sent = await page.wait_for_text("**Finished:**")  # time.time() it arrived
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import urlsplit

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

TIMEOUT = 300.0


class ProtocolPage:
    """One session: its websocket, the widgets seen (by key), its fragment timers."""

    def __init__(self, url: str, query: str = "") -> None:
        parts = urlsplit(url)
        self.http = f"{parts.scheme}://{parts.netloc}"
        self.ws_url = f"ws://{parts.netloc}/_stcore/stream"
        self.query = query
        self.widgets: dict[str, str] = {}  # user key -> widget id
        self.texts: list[tuple[float, str]] = []  # (time.time(), markdown or alert body)
        self.page_hash = ""
        self.page_runs: list[float] = []  # when each whole run of the page began
        self._timers: dict[str, asyncio.Task] = {}
        self._socket = None
        self._reader: asyncio.Task | None = None

    async def __aenter__(self) -> ProtocolPage:
        self._socket = await websockets.connect(
            self.ws_url, subprotocols=["streamlit"], origin=self.http, max_size=None)
        self._reader = asyncio.create_task(self._read())
        await self._rerun()
        return self

    async def __aexit__(self, *exc) -> None:
        for timer in self._timers.values():
            timer.cancel()
        if self._reader is not None:
            self._reader.cancel()
        await self._socket.close()

    async def loaded(self, key: str = "train", timeout: float = TIMEOUT) -> None:
        """Wait until a widget with this key has been drawn."""
        deadline = time.monotonic() + timeout
        while key not in self.widgets:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no widget {key!r} after {timeout:.0f} s")
            await asyncio.sleep(0.05)

    async def click(self, key: str) -> None:
        """Press the button with this key, as the page sends it (a trigger, a full run)."""
        await self._rerun(widgets=[WidgetState(id=self.widgets[key], trigger_value=True)])

    async def wait_for_text(self, mark: str, since: int = 0,
                            timeout: float = TIMEOUT) -> float:
        """When (time.time()) a markdown or alert holding `mark` first arrived, from the
        `since`th text on."""
        deadline = time.monotonic() + timeout
        while True:
            for arrived, text in self.texts[since:]:
                if mark in text:
                    return arrived
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {mark!r} after {timeout:.0f} s")
            await asyncio.sleep(0.02)

    async def _rerun(self, widgets: list[WidgetState] = (), fragment: str = "",
                     auto: bool = False) -> None:
        message = BackMsg()
        state = message.rerun_script
        state.query_string = self.query
        state.page_script_hash = self.page_hash
        state.widget_states.widgets.extend(widgets)
        state.fragment_id = fragment
        state.is_auto_rerun = auto
        await self._socket.send(message.SerializeToString())

    async def _every(self, seconds: float, fragment: str) -> None:
        """A fragment's timer: the frontend's setInterval, which a busy page never delays."""
        while True:
            await asyncio.sleep(seconds)
            await self._rerun(fragment=fragment, auto=True)

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for data in self._socket:
                message = ForwardMsg()
                message.ParseFromString(data)
                self._take(message, time.time())

    def _take(self, message: ForwardMsg, arrived: float) -> None:
        kind = message.WhichOneof("type")
        if kind == "new_session":
            self.page_hash = message.new_session.page_script_hash
            if not message.metadata.run.fragment_ids:  # a whole run: it sends its timers
                self.page_runs.append(arrived)
                for timer in self._timers.values():
                    timer.cancel()
                self._timers.clear()
        elif kind == "auto_rerun":
            rerun = message.auto_rerun
            if rerun.fragment_id not in self._timers:
                self._timers[rerun.fragment_id] = asyncio.create_task(
                    self._every(rerun.interval, rerun.fragment_id))
        elif kind == "stop_auto_rerun":
            for fragment in message.stop_auto_rerun.fragment_ids:
                timer = self._timers.pop(fragment, None)
                if timer is not None:
                    timer.cancel()
        elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
            element = message.delta.new_element
            what = element.WhichOneof("type")
            widget = getattr(element, what, None) if what else None
            widget_id = getattr(widget, "id", "") if widget is not None else ""
            if widget_id.startswith("$$ID-"):
                self.widgets[widget_id.rsplit("-", 1)[-1]] = widget_id
            if what == "alert":
                self.texts.append((arrived, element.alert.body))
            elif what == "markdown":
                self.texts.append((arrived, element.markdown.body))
