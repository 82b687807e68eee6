"""Who this browser session is, and the model it has chosen for Draw, Evaluate and Learn."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from mnist_core.constants import DRAWING_MODEL, QUICKSTART_MODEL
from mnist_core.errors import MnistStudioError
from mnist_core.naming import model_label, number_repeats, percent, plural, run_numbers
from mnist_core.store import ModelInfo
from ui.format import plain
from ui.resources import (
    cached_model,
    file_fingerprint,
    model_store,
    tensorflow_ready,
    trainer,
    wait_for_tensorflow,
)

if TYPE_CHECKING:
    from mnist_core.jobs import JobSnapshot

OWNER_PATTERN = re.compile(r"[0-9a-f]{32}")
OWNER_COOKIE = "mnist_studio_session"
OWNER_COOKIE_SECONDS = 7 * 24 * 3600  # a workshop week
session_cookie = st.components.v2.component(
    "mnist_studio.session_cookie",
    js=(Path(__file__).resolve().parent / "assets" / "session_cookie.js").read_text())
WATCHED = "watched_job"  # session_state: this session's run, seen queued or training
MEMORY_PREFIX = "memory:"  # a picker option for a run of this session that could not be saved


@dataclass(frozen=True)
class ModelChoice:
    """A model to use: a saved one (its store ref) or a run of this session kept in memory."""

    ref: str | None = None
    job_id: str | None = None

    @classmethod
    def from_option(cls, option: str) -> ModelChoice:
        """The choice a picker option stands for."""
        if option.startswith(MEMORY_PREFIX):
            return cls(job_id=option.removeprefix(MEMORY_PREFIX))
        return cls(ref=option)

    @property
    def option(self) -> str:
        """The picker option (and cache key) of this choice."""
        return self.ref if self.ref is not None else f"{MEMORY_PREFIX}{self.job_id}"

    @property
    def name(self) -> str:
        """How the page names it: 'quickstart', 'mlp-e5-…', 'your run (not saved)'."""
        return self.ref.removeprefix("runs/") if self.ref else "your run (not saved)"


QUICKSTART = ModelChoice(ref=QUICKSTART_MODEL)


@dataclass(frozen=True)
class Session:
    """This browser session: its owner id and the model chosen in the sidebar."""

    owner: str
    choice: ModelChoice | None = None
    label: str | None = None  # how the sidebar's picker names the choice

    def jobs(self) -> list[JobSnapshot]:
        """This session's training runs, oldest first ([] while TensorFlow is loading)."""
        if not tensorflow_ready():
            return []  # no run can exist before TensorFlow is loaded
        return trainer().jobs(self.owner)

    def job(self, job_id: str | None) -> JobSnapshot | None:
        """One of this session's runs, or None (never another session's)."""
        return next((job for job in self.jobs() if job.job_id == job_id), None)


def session_owner() -> str:
    """This browser's session id: from its cookie (so a refresh finds its runs), else new.

    Never from the URL: an address shown on a projector must not hand out a session.
    """
    if "owner" not in st.session_state:
        from_cookie = st.context.cookies.get(OWNER_COOKIE)
        valid = isinstance(from_cookie, str) and OWNER_PATTERN.fullmatch(from_cookie)
        st.session_state.owner = from_cookie if valid else uuid.uuid4().hex
    if "session" in st.query_params:  # from links of earlier versions: identity stays out
        del st.query_params["session"]
    with st.sidebar:  # an invisible element: out of the main column's layout
        session_cookie(data={"name": OWNER_COOKIE, "owner": st.session_state.owner,
                             "maxAge": OWNER_COOKIE_SECONDS}, key="session_cookie")
    return st.session_state.owner


def model_options(session: Session, everyone: bool = True,
                  keep: tuple[str, ...] = ()) -> tuple[list[str], dict[str, str],
                                                      dict[str, ModelInfo]]:
    """The picker's options and labels: shipped models, unsaved runs of this session, saved
    runs (only this session's and those in `keep` unless `everyone`); and the store's infos."""
    infos = {info.ref: info for info in model_store().list_models() if info.usable}
    jobs = session.jobs()
    mine = {job.ref for job in jobs if job.ref} | {
        ref for ref, info in infos.items()
        if info.metadata and info.metadata.owner == session.owner}
    numbers = run_numbers(infos.values())
    labels = {ref: model_label(info, numbers.get(ref)) for ref, info in infos.items()}
    labels = {ref: f"★ {label}" if ref in mine else label for ref, label in labels.items()}
    shipped = [ref for ref, info in infos.items() if info.shipped]
    runs = [ref for ref, info in infos.items()
            if not info.shipped and (everyone or ref in mine or ref in keep)]
    unsaved = []
    for job in reversed(jobs):
        if job.ref is None and job.model is not None:  # finished, not saved, still kept
            option = ModelChoice(job_id=job.job_id).option
            unsaved.append(option)
            labels[option] = (f"★ Your run · {plural(job.config.epochs, 'epoch')} · dropout "
                              f"{job.config.dropout:g} · {percent(job.test_accuracy)} "
                              "(not saved)")
    options = shipped + unsaved + runs
    # The picker sends back the label, not the option: number repeated labels, the oldest
    # (listed last) keeping its own.
    numbered = number_repeats([labels.get(option, option) for option in reversed(options)])
    labels = dict(zip(reversed(options), numbered, strict=True))
    return options, labels, infos


def default_model(options: list[str]) -> str | None:
    """The drawing model if it exists, else the quickstart, else the first one."""
    for ref in (DRAWING_MODEL, QUICKSTART_MODEL):
        if ref in options:
            return ref
    return options[0] if options else None


def load_model(session: Session, choice: ModelChoice | None = None) -> Any:
    """The chosen keras model (the sidebar's unless given), or None after showing why not."""
    choice = choice or session.choice
    if choice is None or not wait_for_tensorflow():
        return None
    if choice.job_id is not None:
        job = session.job(choice.job_id)
        model = None if job is None else job.model
        if model is None:
            st.error("That unsaved model is gone (the server was restarted, or it was one of "
                     "many that could not be saved). Pick another.")
        return model
    store = model_store()
    try:
        mtime_ns = store.resolve(choice.ref).stat().st_mtime_ns
        with st.spinner(f"Loading model {choice.name}..."):
            return cached_model(str(store.root), choice.ref, mtime_ns)
    except FileNotFoundError:
        st.error(f"Model **{choice.name}** no longer exists. Pick another model in the sidebar.")
    except MnistStudioError as e:
        st.error(f"Can't use model **{choice.name}**: {plain(e)}\n\n"
                 "Pick another model in the sidebar.")
    return None


def lesson_choice(session: Session) -> tuple[ModelChoice, str]:
    """The trained model Learn shows: the sidebar's if it is the quickstart's network (an
    quickstart network), else the shipped quickstart; and a note saying which it is."""
    choice = session.choice
    if choice is not None and choice.job_id is not None:
        job = session.job(choice.job_id)
        if job is not None and job.config.arch == "mlp":
            return choice, choice.name
    elif choice is not None:
        try:
            arch = model_store().read_metadata(choice.ref).config.arch
        except MnistStudioError:
            arch = None
        if arch == "mlp":
            return choice, choice.name
    note = QUICKSTART_MODEL
    if choice is not None and choice != QUICKSTART:
        note += f" (the sidebar's {choice.name} is another kind of network)"
    return QUICKSTART, note


def model_identity(choice: ModelChoice) -> str | None:
    """What a model's evaluation is cached under: its file's content hash, or its job."""
    store = model_store()
    if choice.job_id is not None:
        return f"{store.root}:{choice.option}"  # job ids are never reused by a server's trainer
    try:
        path = store.resolve(choice.ref)
        stat = path.stat()
    except (OSError, MnistStudioError):
        return None
    return file_fingerprint(str(path), stat.st_mtime_ns, stat.st_size)
