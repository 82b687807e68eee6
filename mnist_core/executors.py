"""Where the room's RoomWorker runs: a thread of this process, or warm worker processes.

An executor takes runs and commands and calls `on_event` with the worker's Events (from
its own threads). The messages are plain tuples and picklable dataclasses, so a Ray actor
hosting a RoomWorker can implement the same interface:

    start(on_event)              # on_event(Progress | Held | Finished | Failed)
    add(job_id, config)          # a stackable TrainConfig; the executor picks a worker
    command(job_id, name, *args) # "stop", "pause", "resume", "step"(n), "slow_motion"(s)
    close()

A worker that dies fails only its own runs (a Failed event each) and is replaced at the
next run; nothing waits on it.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

from mnist_core.config import TrainConfig
from mnist_core.data import MnistData, load_mnist

log = logging.getLogger(__name__)

WORKER_NICENESS = 10  # training takes the CPU the server's pages and drawings leave over
COMMAND_POLL = 0.05  # s: an idle or all-held worker looks at its commands this often
CLOSE = ("close",)


class Executor(Protocol):
    """Hosts RoomWorkers; see the module docstring."""

    def start(self, on_event: Callable[[Any], None]) -> None: ...
    def add(self, job_id: str, config: TrainConfig) -> None: ...
    def command(self, job_id: str, name: str, *args: Any) -> None: ...
    def close(self) -> None: ...


def serve(worker: Any, commands: Any) -> None:
    """A worker's loop: apply the commands waiting, train a round, repeat until closed."""
    while True:
        block = not worker.work()
        while True:
            try:
                message = commands.get(timeout=COMMAND_POLL) if block else commands.get_nowait()
            except queue.Empty:
                break
            if message == CLOSE:
                return
            name, job_id, *args = message
            if name == "add":
                worker.add(job_id, *args)
            else:
                worker.command(job_id, name, *args)
            block = False  # a command came: train before blocking again


class ThreadExecutor:
    """One RoomWorker in a thread of this process (tests, one-core machines)."""

    def __init__(self, data_loader: Callable[[], MnistData] = load_mnist,
                 progress_interval: float = 0.25) -> None:
        self.data_loader = data_loader
        self.progress_interval = progress_interval
        self._commands: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._on_event: Callable[[Any], None] | None = None

    def start(self, on_event: Callable[[Any], None]) -> None:
        self._on_event = on_event

    def add(self, job_id: str, config: TrainConfig) -> None:
        if self._thread is None:  # lazily: the first run starts the worker
            self._thread = threading.Thread(target=self._serve, name="room-worker", daemon=True)
            self._thread.start()
        self._commands.put(("add", job_id, config))

    def command(self, job_id: str, name: str, *args: Any) -> None:
        self._commands.put((name, job_id, *args))

    def close(self) -> None:
        self._commands.put(CLOSE)

    def _serve(self) -> None:
        from mnist_core.room import Failed, RoomWorker
        from mnist_core.tf_setup import lower_compute_priority

        lowered = False

        def emit(event: Any) -> None:
            nonlocal lowered
            if not lowered:  # TensorFlow's threads exist by now: drawings first
                lower_compute_priority()
                lowered = True
            self._on_event(event)

        worker = RoomWorker(emit, self.data_loader, self.progress_interval)
        try:
            serve(worker, self._commands)
        except BaseException as e:  # the thread dies: its runs fail, the next run restarts it
            log.exception("the room's worker thread failed")
            for job_id in list(worker.runs):
                self._on_event(Failed(job_id, f"the trainer failed: {type(e).__name__}: {e}"))
            self._thread = None


def _worker_main(commands: Any, events: Any, progress_interval: float) -> None:
    """A worker process: one TensorFlow thread, a lower priority, MNIST converted once."""
    os.environ["MNIST_TF_THREADS"] = "1"  # read when mnist_core.tf_setup is imported
    with contextlib.suppress(OSError):  # not allowed here: train at the same priority
        os.nice(WORKER_NICENESS)
    from mnist_core.room import RoomWorker

    serve(RoomWorker(events.put, load_mnist, progress_interval), commands)


class _Process:
    """One worker process, the runs it holds, and the thread that reads its events."""

    def __init__(self, context: Any, progress_interval: float,
                 on_event: Callable[[Any], None], on_exit: Callable[[_Process], None]) -> None:
        self.commands, self.events = context.Queue(), context.Queue()
        self.runs: set[str] = set()
        self.lock = threading.Lock()
        self.process = context.Process(target=_worker_main, name="mnist-room-worker",
                                       args=(self.commands, self.events, progress_interval),
                                       daemon=True)
        self.process.start()
        self._on_event, self._on_exit = on_event, on_exit
        threading.Thread(target=self._read, name="room-events", daemon=True).start()

    def _read(self) -> None:
        from mnist_core.room import Failed, Finished

        while True:
            try:
                event = self.events.get(timeout=0.5)
            except queue.Empty:
                if self.process.is_alive():
                    continue
                break
            except (EOFError, OSError):
                break
            if isinstance(event, (Finished, Failed)):
                with self.lock:
                    self.runs.discard(event.job_id)
            self._on_event(event)
        self._on_exit(self)
        code = self.process.exitcode
        with self.lock:
            lost, self.runs = sorted(self.runs), set()
        for job_id in lost:
            self._on_event(Failed(job_id, f"The training worker process stopped unexpectedly "
                                          f"(exit code {code}): start the run again."))


class ProcessExecutor:
    """`workers` warm worker processes (started with the first run), runs spread evenly."""

    def __init__(self, workers: int, progress_interval: float = 0.25) -> None:
        self.workers = workers
        self.progress_interval = progress_interval
        self._context = multiprocessing.get_context("spawn")  # no fork of a threaded TF
        self._procs: list[_Process] = []
        self._where: dict[str, _Process] = {}
        self._lock = threading.Lock()
        self._on_event: Callable[[Any], None] | None = None

    def start(self, on_event: Callable[[Any], None]) -> None:
        self._on_event = on_event

    def add(self, job_id: str, config: TrainConfig) -> None:
        with self._lock:
            while len(self._procs) < self.workers:
                self._procs.append(_Process(self._context, self.progress_interval,
                                            self._event, self._forget))
            proc = min(self._procs, key=lambda p: len(p.runs))
            with proc.lock:
                proc.runs.add(job_id)
            self._where[job_id] = proc
        proc.commands.put(("add", job_id, config))

    def command(self, job_id: str, name: str, *args: Any) -> None:
        with self._lock:
            proc = self._where.get(job_id)
        if proc is not None:
            proc.commands.put((name, job_id, *args))

    def close(self) -> None:
        with self._lock:
            procs, self._procs = self._procs, []
        for proc in procs:
            proc.commands.put(CLOSE)
        for proc in procs:
            proc.process.join(timeout=5)
            if proc.process.is_alive():
                proc.process.kill()

    def _event(self, event: Any) -> None:
        from mnist_core.room import Failed, Finished

        if isinstance(event, (Finished, Failed)):
            with self._lock:
                self._where.pop(event.job_id, None)
        self._on_event(event)

    def pids(self) -> list[int]:
        """The worker processes' ids (for tests and benchmarks)."""
        with self._lock:
            return [proc.process.pid for proc in self._procs]

    def _forget(self, proc: _Process) -> None:
        """A worker ended: the next run starts a fresh one in its place."""
        with self._lock:
            if proc in self._procs:
                self._procs.remove(proc)
            for job_id in [j for j, p in self._where.items() if p is proc]:
                del self._where[job_id]
