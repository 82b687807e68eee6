"""ui/sidebar.py: when the status line reruns the whole page."""

from __future__ import annotations

import pytest

from ui.sidebar import status_needs_page_run


@pytest.mark.parametrize(("status", "drawn_loading", "reruns"), [
    (None, True, False),  # TensorFlow still loading: the line says so, nothing more
    (False, True, True),  # it has loaded: the page is drawn again, now with it
    (True, True, True),  # loaded while runs train: the same
    (False, False, False),  # the room's runs ended: only the line changes (40 pages at once)
    (True, False, False),  # runs train: the line counts them
])
def test_the_status_line_reruns_the_page_only_once_tensorflow_has_loaded(
        status, drawn_loading, reruns) -> None:
    assert status_needs_page_run(status, drawn_loading) is reruns
