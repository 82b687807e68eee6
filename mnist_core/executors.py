"""Where the room's RoomWorker runs: a thread of this process, or warm worker processes.

An executor takes runs and commands and calls `on_event` with the worker's Events (from
its own threads). The messages are plain tuples and picklable dataclasses, so a Ray actor
hosting a RoomWorker can implement the same interface:

    start(on_event)              # on_event(Progress | Held | Finished | Failed)
    add(job_id, config, save_to) # a stackable TrainConfig; the executor picks a worker, which
                                 # saves the run there (SaveTo) if it shares this disk
    command(job_id, name, *args) # "stop", "pause", "resume", "step"(n), "slow_motion"(s)
    close()

A worker that dies fails only its own runs (a Failed event each) and is replaced at the
next run; nothing waits on it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mnist_core.config import TrainConfig
from mnist_core.data import MnistData, load_mnist

if TYPE_CHECKING:
    from mnist_core.room_trainer import SaveTo

log = logging.getLogger(__name__)

WORKER_NICENESS = 10  # training takes the CPU the server's pages and drawings leave over
COMMAND_POLL = 0.05  # s: an idle or all-held worker looks at its commands this often
CLOSE = ("close",)


class Executor(Protocol):
    """Hosts RoomWorkers; see the module docstring."""

    def start(self, on_event: Callable[[Any], None]) -> None: ...
    def add(self, job_id: str, config: TrainConfig, save_to: SaveTo | None = None) -> None: ...
    def command(self, job_id: str, name: str, *args: Any) -> None: ...
    def close(self) -> None: ...


def serve(worker: Any, commands: Any, warm: bool = True) -> None:
    """A worker's loop: apply the commands waiting, train a round (or, idle, compile ahead
    with `warm`), repeat until closed."""
    while True:
        block = not worker.work()
        if block and warm:
            block = not worker.warm_up()
        while True:
            try:
                message = commands.get(timeout=COMMAND_POLL) if block else commands.get_nowait()
            except queue.Empty:
                break
            if message == CLOSE:
                worker.close()  # the runs being saved still reach the server
                return
            name, job_id, *args = message
            if name == "add":
                config, *save_to = args
                worker.add(job_id, config, save_to=save_to[0] if save_to else None)
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

    def add(self, job_id: str, config: TrainConfig, save_to: SaveTo | None = None) -> None:
        if self._thread is None:  # lazily: the first run starts the worker
            self._thread = threading.Thread(target=self._serve, name="room-worker", daemon=True)
            self._thread.start()
        self._commands.put(("add", job_id, config, save_to))

    def command(self, job_id: str, name: str, *args: Any) -> None:
        self._commands.put((name, job_id, *args))

    def close(self) -> None:
        self._commands.put(CLOSE)

    def _serve(self) -> None:
        from mnist_core.room_trainer import Failed, RoomWorker
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
            serve(worker, self._commands, warm=False)  # compiling ahead: a worker's job
        except BaseException as e:  # the thread dies: its runs fail, the next run restarts it
            log.exception("the room's worker thread failed")
            self._thread = None  # first: a run submitted once these have failed starts one
            for job_id in list(worker.runs):
                self._on_event(Failed(job_id, f"the trainer failed: {type(e).__name__}: {e}"))


ROOT = Path(__file__).resolve().parent.parent  # so that `-m mnist_core.executors` imports


def _worker_main(command_fd: int, event_fd: int, progress_interval: float,
                 niceness: int) -> None:
    """A worker process: one TensorFlow thread, a lower priority, MNIST converted once;
    commands and events are pickled messages on two pipes."""
    from multiprocessing.connection import Connection

    os.environ["MNIST_TF_THREADS"] = "1"  # read when mnist_core.tf_setup is imported
    with contextlib.suppress(OSError):  # not allowed here: train at the same priority
        os.nice(niceness)
    incoming = Connection(command_fd, writable=False)
    outgoing = Connection(event_fd, readable=False)
    commands: queue.Queue = queue.Queue()

    def read() -> None:
        try:
            while True:
                commands.put(incoming.recv())
        except (EOFError, OSError):  # the server is gone: a worker never outlives it
            commands.put(CLOSE)

    threading.Thread(target=read, name="commands", daemon=True).start()
    sending = threading.Lock()

    def emit(event: Any) -> None:
        with sending:
            outgoing.send(event)

    from mnist_core.room_trainer import RoomWorker

    serve(RoomWorker(emit, load_mnist, progress_interval), commands)


class _Process:
    """One worker process, the runs it holds, and the thread that reads its events."""

    def __init__(self, progress_interval: float, niceness: int,
                 on_event: Callable[[Any], None], on_exit: Callable[[_Process], None]) -> None:
        from multiprocessing.connection import Connection

        command_read, command_write = os.pipe()
        event_read, event_write = os.pipe()
        env = {**os.environ, "MNIST_TF_THREADS": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                           os.environ.get("PYTHONPATH")]))}
        # A fresh interpreter running this module: multiprocessing's spawn would import
        # the parent's __main__ again, which under Streamlit is the app's script.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mnist_core.executors", str(command_read), str(event_write),
             str(progress_interval), str(niceness)],
            pass_fds=(command_read, event_write), env=env, stdin=subprocess.DEVNULL)
        os.close(command_read)
        os.close(event_write)  # the child's end: EOF on ours when it exits
        self.pid = self.process.pid
        self._commands = Connection(command_write, readable=False)
        self._events = Connection(event_read, writable=False)
        self.runs: set[str] = set()
        self.lock = threading.Lock()
        self._on_event, self._on_exit = on_event, on_exit
        # Read the pipe at once, deliver (a save per finished run) in a second thread: a
        # worker is never held up sending, say, a finished run's 400 kB of weights.
        self._delivery: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, name="room-events", daemon=True).start()
        threading.Thread(target=self._deliver, name="room-delivery", daemon=True).start()

    def _deliver(self) -> None:
        while (event := self._delivery.get()) is not None:
            self._on_event(event)

    def send(self, message: tuple) -> None:
        """A command to the worker (lost if it died: its runs fail by the reader)."""
        with self.lock, contextlib.suppress(OSError):
            self._commands.send(message)

    def _read(self) -> None:
        from mnist_core.room_trainer import Failed, Finished

        while True:
            try:
                event = self._events.recv()
            except (EOFError, OSError):
                break
            if isinstance(event, (Finished, Failed)):
                with self.lock:
                    self.runs.discard(event.job_id)
            self._delivery.put(event)
        self._on_exit(self)
        try:
            code = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        with self.lock:
            lost, self.runs = sorted(self.runs), set()
        self._events.close()
        with contextlib.suppress(OSError):
            self._commands.close()
        for job_id in lost:
            self._delivery.put(Failed(job_id, f"The training worker process stopped "
                                              f"unexpectedly (exit code {code}): start the "
                                              f"run again."))
        self._delivery.put(None)


class ProcessExecutor:
    """`workers` warm worker processes (started with the first run), runs spread evenly."""

    def __init__(self, workers: int, progress_interval: float = 0.25,
                 niceness: int = WORKER_NICENESS) -> None:
        self.workers = workers
        self.progress_interval = progress_interval
        self.niceness = niceness
        self._procs: list[_Process] = []
        self._where: dict[str, _Process] = {}
        self._lock = threading.Lock()
        self._on_event: Callable[[Any], None] | None = None

    def start(self, on_event: Callable[[Any], None]) -> None:
        self._on_event = on_event

    def add(self, job_id: str, config: TrainConfig, save_to: SaveTo | None = None) -> None:
        with self._lock:
            while len(self._procs) < self.workers:
                self._procs.append(_Process(self.progress_interval, self.niceness,
                                            self._event, self._forget))
            proc = min(self._procs, key=lambda p: len(p.runs))
            with proc.lock:
                proc.runs.add(job_id)
            self._where[job_id] = proc
        proc.send(("add", job_id, config, save_to))

    def command(self, job_id: str, name: str, *args: Any) -> None:
        with self._lock:
            proc = self._where.get(job_id)
        if proc is not None:
            proc.send((name, job_id, *args))

    def close(self) -> None:
        with self._lock:
            procs, self._procs = self._procs, []
        for proc in procs:
            proc.send(CLOSE)
        for proc in procs:
            try:
                proc.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.process.kill()

    def _event(self, event: Any) -> None:
        from mnist_core.room_trainer import Failed, Finished

        if isinstance(event, (Finished, Failed)):
            with self._lock:
                self._where.pop(event.job_id, None)
        self._on_event(event)

    def pids(self) -> list[int]:
        """The worker processes' ids (for tests and benchmarks)."""
        with self._lock:
            return [proc.pid for proc in self._procs]

    def _forget(self, proc: _Process) -> None:
        """A worker ended: the next run starts a fresh one in its place."""
        with self._lock:
            if proc in self._procs:
                self._procs.remove(proc)
            for job_id in [j for j, p in self._where.items() if p is proc]:
                del self._where[job_id]


if __name__ == "__main__":  # a worker process (started by _Process)
    _worker_main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
