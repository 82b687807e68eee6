"""Workshop links (?epochs=3&dropout=0.5&tab=train&presenter=1&model=quickstart, made valid)
and the presenter's pushes, which every page follows."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import streamlit as st

from mnist_core.config import (
    BATCH_SIZE_CHOICES,
    DEFAULTS,
    DROPOUT_CHOICES,
    EPOCH_CHOICES,
    LEARNING_RATE_CHOICES,
    TRAIN_IMAGE_CHOICES,
    TrainConfig,
    train_limit_for,
)
from mnist_core.room import ROOM_TABS, RoomState
from ui.resources import model_store
from ui.session import ModelChoice

TAB_NAMES = ROOM_TABS  # ?tab=... values, in the order of the tabs
TAB_KEY = "tab"  # session_state[TAB_KEY]: the open tab's label
# The Train tab's settings, kept in the URL too.
SETTING_KEYS = ("epochs", "dropout", "batch_size", "learning_rate", "train_images")
SEEN_PUSH = "seen_push"  # session_state: the version of the presenter's last push applied
PUSH_GUARD = "push_guard"  # session_state: (until, {key: (before, pushed)}) of the last push
# A page's request sent before it had drawn a push carries its earlier slider values and
# undoes the push (a slowed browser that clicked a tab, bench/load.py's 1 page in 40;
# bench/push_race.py). For this long a value put back to exactly what it was before the
# push is pushed again, once. The console's presets are kept the same way.
PUSH_GUARD_SECONDS = 10.0
TRUE_WORDS, FALSE_WORDS = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def tab_label(name: str) -> str:
    """The label of a tab by its ?tab= name: 'train' -> 'Train'."""
    return name.title()


@dataclass(frozen=True)
class Presets:
    """What a workshop link asks for, made valid; `warnings` says what had to be changed."""

    epochs: int = DEFAULTS.epochs
    dropout: float = DEFAULTS.dropout
    batch_size: int = DEFAULTS.batch_size
    learning_rate: float = DEFAULTS.learning_rate
    train_images: int = TRAIN_IMAGE_CHOICES[-1]
    tab: str | None = None  # one of TAB_NAMES
    presenter: bool = False
    model: str | None = None
    warnings: tuple[str, ...] = ()


def _shown(raw: str) -> str:
    """A query-parameter value as it can be quoted in a message (short, no Markdown)."""
    text = re.sub(r"[^\w .,+-]", "?", raw)
    return text if len(text) <= 20 else f"{text[:20]}..."


def _preset_number(params: Mapping[str, str], name: str, choices: Sequence[float],
                   warnings: list[str], log_scale: bool = False) -> float | None:
    """The allowed setting nearest to ?name=... (None if absent or not a number)."""
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or (log_scale and value <= 0):
        warnings.append(f"{name}={_shown(raw)} is not a number the app can use: ignored.")
        return None
    nearest = min(choices, key=lambda choice: abs(math.log(choice / value)) if log_scale
                  else abs(choice - value))
    if not min(choices) <= value <= max(choices):
        warnings.append(f"{name}={_shown(raw)} is out of range ({min(choices):g} to "
                        f"{max(choices):g}): using {nearest:g}.")
    elif not math.isclose(nearest, value, rel_tol=1e-9, abs_tol=1e-9):
        warnings.append(f"{name}={_shown(raw)} is not one of the settings: using the "
                        f"nearest, {nearest:g}.")
    return nearest


def _preset_word(params: Mapping[str, str], name: str, choices: dict[str, Any],
                 warnings: list[str], expected: str) -> Any:
    """The value of ?name=... looked up (case-insensitively) in `choices`, else None."""
    raw = params.get(name)
    if raw is None:
        return None
    if raw.strip().lower() in choices:
        return choices[raw.strip().lower()]
    warnings.append(f"{name}={_shown(raw)} is not {expected}: ignored.")
    return None


def parse_presets(params: Mapping[str, str], models: list[str]) -> Presets:
    """Read ?epochs=&dropout=&batch_size=&learning_rate=&tab=&presenter=&model= from a link;
    out-of-range values are clamped, garbage is ignored, each with a warning. Never raises."""
    warnings: list[str] = []
    epochs = _preset_number(params, "epochs", EPOCH_CHOICES, warnings)
    dropout = _preset_number(params, "dropout", DROPOUT_CHOICES, warnings)
    batch_size = _preset_number(params, "batch_size", BATCH_SIZE_CHOICES, warnings,
                                log_scale=True)
    learning_rate = _preset_number(params, "learning_rate", LEARNING_RATE_CHOICES, warnings,
                                   log_scale=True)
    train_images = _preset_number(params, "train_images", TRAIN_IMAGE_CHOICES, warnings,
                                  log_scale=True)
    tab = _preset_word(params, "tab", {name: name for name in TAB_NAMES}, warnings,
                       "a tab (learn, train, draw, evaluate or room)")
    presenter = _preset_word(params, "presenter", {**dict.fromkeys(TRUE_WORDS | {""}, True),
                                                   **dict.fromkeys(FALSE_WORDS, False)},
                             warnings, "on or off (1 or 0)")
    model = _preset_word(params, "model", {ref.lower(): ref for ref in models}, warnings,
                         "a model on this server")
    return Presets(
        epochs=DEFAULTS.epochs if epochs is None else int(epochs),
        dropout=DEFAULTS.dropout if dropout is None else dropout,
        batch_size=DEFAULTS.batch_size if batch_size is None else int(batch_size),
        learning_rate=DEFAULTS.learning_rate if learning_rate is None else learning_rate,
        train_images=TRAIN_IMAGE_CHOICES[-1] if train_images is None else int(train_images),
        tab=tab,
        presenter=bool(presenter),
        model=model,
        warnings=tuple(warnings),
    )


def session_presets(room: RoomState | None = None) -> tuple[Presets, bool]:
    """The link's presets, read on the session's first run (and put into the widgets, which
    keep the address bar up to date from then on); True on that first run. Then the
    presenter's latest push, if this page has not followed it yet."""
    first_run = "presets" not in st.session_state
    if first_run:
        params = st.query_params.to_dict()
        models = [info.ref for info in model_store().list_models()]
        presets = parse_presets(params, models)
        st.session_state.presets = presets
        for key in SETTING_KEYS:  # the clamped values, before the widgets are built
            st.session_state[key] = getattr(presets, key)
        if presets.tab:
            st.session_state[TAB_KEY] = tab_label(presets.tab)
        if room is not None and any(key in params for key in (*SETTING_KEYS, "tab")):
            st.session_state[SEEN_PUSH] = room.version  # the link's settings win over a push
    if room is not None:
        take_up_push(room)
    return st.session_state.presets, first_run


def take_up_push(room: RoomState) -> None:
    """Before the widgets are built: the presenter's push not followed yet, and the pushed
    values a stale request of this page put back."""
    follow_push(room)
    restore_push()


def follow_push(room: RoomState) -> bool:
    """Take up the presenter's push once (before the widgets are built): the settings and
    the tab it sent; a slider moved afterwards keeps its value. True if it took one up."""
    if room.version == st.session_state.get(SEEN_PUSH, 0):
        return False
    st.session_state[SEEN_PUSH] = room.version
    pushed = dict(room.settings)
    if room.tab:
        pushed[TAB_KEY] = tab_label(room.tab)
    changed = {key: (st.session_state.get(key), value) for key, value in pushed.items()
               if st.session_state.get(key) != value}
    st.session_state.update(pushed)
    remember_changes(PUSH_GUARD, changed)
    return True


def remember_changes(guard: str, changed: dict[str, tuple[Any, Any]]) -> None:
    """Note values the server set ({key: (before, now)}), so that a request the page sent
    before it drew them cannot undo them (see PUSH_GUARD_SECONDS)."""
    st.session_state[guard] = (time.monotonic() + PUSH_GUARD_SECONDS, changed)


def undone_changes(guard: str) -> dict[str, Any]:
    """The values noted under `guard` that a stale request has put back to their earlier
    ones (within PUSH_GUARD_SECONDS, each once): {key: the value set}."""
    noted = st.session_state.get(guard)
    if noted is None:
        return {}
    until, changed = noted
    if time.monotonic() > until:
        del st.session_state[guard]
        return {}
    return {key: now for key, (before, now) in changed.items()
            if st.session_state.get(key) == before}


def restore_changes(guard: str) -> bool:
    """Set again what a stale request undid (before the widgets are built); True if any."""
    undone = undone_changes(guard)
    if not undone:
        return False
    until, changed = st.session_state[guard]
    st.session_state[guard] = (until, {key: change for key, change in changed.items()
                                       if key not in undone})
    st.session_state.update(undone)
    return True


def undone_push() -> dict[str, Any]:
    """The presenter's pushed values a stale request of this page undid."""
    return undone_changes(PUSH_GUARD)


def restore_push() -> bool:
    """Push again what a stale request of this page undid; True if any."""
    return restore_changes(PUSH_GUARD)


def preset_warnings_ui(presets: Presets) -> None:
    """What the link asked for that the app had to change (shown on the first run only)."""
    with st.container(key="preset_warnings"):
        lines = "\n".join(f"- {warning}" for warning in presets.warnings)
        st.warning(f"The link's settings were adjusted:\n{lines}", icon=":material/link:")


def current_values(presets: Presets) -> dict[str, float]:
    """The Train tab's settings (SETTING_KEYS) as the user has set them (the presets until
    then)."""
    return {key: st.session_state.get(key, getattr(presets, key)) for key in SETTING_KEYS}


def current_settings(presets: Presets) -> TrainConfig:
    """The Train tab's settings as a TrainConfig (the training images as its train_limit)."""
    values = current_values(presets)
    images = values.pop("train_images")
    return TrainConfig(**values, train_limit=train_limit_for(images))


def keep_link_current(presets: Presets) -> None:
    """Keep the address bar a live link of the open tab and the training settings (those
    at their defaults left out)."""
    # Not bind="query-params": it drops a widget's parameter while the widget is not on the
    # page (the Train tab is built only while open) and writes the tab as its label.
    values = current_values(presets)
    wanted = {key: f"{value:g}" for key, value in values.items()
              if value != getattr(Presets, key)}
    label = st.session_state.get(TAB_KEY)
    open_tab = next((name for name in TAB_NAMES if tab_label(name) == label), None)
    if open_tab:
        wanted["tab"] = open_tab
    for key in (*SETTING_KEYS, "tab"):
        if key not in wanted and key in st.query_params:
            del st.query_params[key]
        elif key in wanted and st.query_params.get(key) != wanted[key]:
            st.query_params[key] = wanted[key]



def share_link(base: str, settings: TrainConfig, tab: str | None, presenter: bool,
               choice: ModelChoice | None) -> str:
    """A link that opens the app with these settings (and no identity: sessions are personal,
    no presenter secret: the console is the presenter's)."""
    params: dict[str, Any] = {"epochs": settings.epochs, "dropout": f"{settings.dropout:g}"}
    if settings.batch_size != DEFAULTS.batch_size:
        params["batch_size"] = settings.batch_size
    if settings.learning_rate != DEFAULTS.learning_rate:
        params["learning_rate"] = f"{settings.learning_rate:g}"
    if settings.train_limit:
        params["train_images"] = settings.train_limit
    if tab:
        params["tab"] = tab
    if presenter:
        params["presenter"] = 1
    if choice is not None and choice.ref is not None:
        params["model"] = choice.ref
    return f"{base.split('?')[0]}?{urlencode(params, safe='/')}"
