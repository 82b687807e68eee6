"""Training you can watch: pause, one step at a time, slow motion, and the network's units
forming as it learns (on the Train tab, for this session's running run)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st
from PIL import Image

from ui.format import percent
from ui.inside import diverging
from ui.resources import trainer

if TYPE_CHECKING:
    from mnist_core.jobs import JobSnapshot

SLOW_SECONDS = 1.0  # slow motion: a pause after each report (~128 batches)


def watch_ui(job: JobSnapshot) -> None:
    """Pause / resume / step buttons and slow motion for a running job, then the peek."""
    manager = trainer()
    with st.container(horizontal=True, key="watch_controls", vertical_alignment="center"):
        if job.paused:
            st.button("Resume", key="resume", icon=":material/play_arrow:", type="primary",
                      on_click=manager.resume, args=(job.job_id,))
            st.button("One step", key="step", icon=":material/skip_next:",
                      on_click=manager.step, args=(job.job_id,),
                      help="Train about 128 more batches, then hold again.")
        else:
            st.button("Pause", key="pause", icon=":material/pause:",
                      on_click=manager.pause, args=(job.job_id,),
                      help="Hold the run where it is (it keeps its place on the trainer).")
        slow = st.toggle("Slow motion", value=job.slow_motion > 0, key="slow_motion",
                         help="Wait a second after every 128 batches, so a room can follow.")
        if slow != (job.slow_motion > 0):
            manager.slow_motion(job.job_id, SLOW_SECONDS if slow else 0.0)
    if job.paused:
        st.caption("Paused: the run holds its place and uses no CPU.")
    peek_ui(job)


PEEK_SCALE, PEEK_GAP = 3, 6  # each unit's 28x28 weights 3x enlarged; px between them


@st.cache_data(max_entries=64, show_spinner=False)
def peek_strip(units: np.ndarray) -> bytes:
    """The units' weights (K, 28, 28) side by side as one PNG, transparent between them.

    Made once per epoch, not on every poll: six images encoded twice a second for each
    page took over half of the server's time per poll (bench/protocol_client.py)."""
    tiles = [diverging(unit, PEEK_SCALE) for unit in units]  # (84, 84, 3) uint8 each
    height, width = tiles[0].shape[:2]
    strip = np.zeros((height, len(tiles) * (width + PEEK_GAP) - PEEK_GAP, 4), np.uint8)
    for k, tile in enumerate(tiles):
        left = k * (width + PEEK_GAP)
        strip[:, left:left + width, :3], strip[:, left:left + width, 3] = tile, 255
    out = io.BytesIO()
    Image.fromarray(strip, "RGBA").save(out, format="PNG")
    return out.getvalue()


def peek_ui(job: JobSnapshot) -> None:
    """Six hidden units' weights and one test digit's answer, as of the last epoch or pause."""
    peek = job.peek
    if peek is None:
        return
    with st.container(key="watch_peek"):
        digit = int(peek.probabilities.argmax())
        st.markdown(f"**As it learns:** test image {peek.digit_index} (a {peek.label}) is read as "
                    f"**{digit}** ({percent(float(peek.probabilities[digit]))}); "
                    "six hidden units' weights (red wants ink, blue wants none):")
        st.image(peek_strip(peek.units), width="stretch")
        st.caption("Redrawn after each epoch and at each pause: random noise at first, "
                   "templates of strokes later.")
