"""bench/protocol_client.py: sessions that speak Streamlit's protocol, with no browser, on
the real server: pressing Train together, each is shown its own run; and a room's runs
ending leaves the pages whole."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator

import pytest

from bench.protocol_client import ProtocolPage
from bench.traced_streamlit import RESULT_MARK
from tests.conftest import app_server

DROPOUTS = (0.0, 0.1, 0.3)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    env = {"MNIST_TRAIN_LIMIT": "2000", "MNIST_STATUS_SECONDS": "3600"}
    with app_server(tmp_path_factory.mktemp("protocol"), env) as app:
        yield app


async def press_train_together(url: str) -> list[str]:
    """One page per dropout presses Train at once; what each was told it saved."""
    pages = [ProtocolPage(url, f"epochs=1&dropout={rate}&tab=train") for rate in DROPOUTS]
    async with contextlib.AsyncExitStack() as stack:
        for page in pages:
            await stack.enter_async_context(page)
        await asyncio.gather(*(page.loaded("train") for page in pages))
        seen = [len(page.texts) for page in pages]
        await asyncio.gather(*(page.click("train") for page in pages))
        await asyncio.gather(*(page.wait_for_text(RESULT_MARK, since, timeout=180)
                               for page, since in zip(pages, seen, strict=True)))
        saved = []
        for page, since in zip(pages, seen, strict=True):
            await page.wait_for_text("Saved as **", since)
            said = next(text for _, text in page.texts[since:] if "Saved as **" in text)
            saved.append(re.search(r"Saved as \*\*(.+?)\*\*", said).group(1))
        return saved


def test_pages_pressing_train_together_are_each_shown_their_own_run(server) -> None:
    saved = asyncio.run(press_train_together(server.url))
    for name, rate in zip(saved, DROPOUTS, strict=True):
        assert name.startswith(f"mlp-e1-d{rate:.2f}-"), saved
    assert len(set(saved)) == len(DROPOUTS)
    assert all((server.models / "runs" / f"{name}.keras").exists() for name in saved)


async def ended_while_the_room_trained(url: str) -> tuple[int, int]:
    """Page A's run ends while B's is held; then B stops and the trainer is idle. A's whole
    runs before and 4.5 s after (more than its status line's 3-s timer)."""
    held = ProtocolPage(url, "epochs=20&tab=train")
    early = ProtocolPage(url, "epochs=1&tab=train")
    async with held, early:
        await asyncio.gather(held.loaded("train"), early.loaded("train"))
        await held.click("train")
        await held.loaded("pause")  # its run trains: hold it there
        await held.click("pause")
        await held.loaded("resume")
        since = len(early.texts)
        await early.click("train")
        await early.wait_for_text(RESULT_MARK, since, timeout=180)
        await asyncio.sleep(1.0)  # its whole run after the result, the room still training
        before = len(early.page_runs)
        await held.click("stop")
        await held.wait_for_text("Stopped at epoch", timeout=60)
        await asyncio.sleep(4.5)
        return before, len(early.page_runs)


def test_a_page_is_not_drawn_again_whole_when_the_rooms_runs_end(server) -> None:
    """Only its status line changes ("Trainer: idle"): 40 pages rerunning whole as the
    room's runs ended was a burst of work for the server (ui/sidebar.py)."""
    before, after = asyncio.run(ended_while_the_room_trained(server.url))
    assert before >= 1 and after == before
