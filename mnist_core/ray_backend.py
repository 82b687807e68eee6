"""Training on a Ray cluster: the room's RoomWorker hosted in Ray actors, one per worker core.

RayExecutor is an executor like those of mnist_core.executors (start / add / command /
close): the web server keeps the queue, the store and the pages; the actors train. MNIST
goes into Ray's object store once per cluster; progress, holds and the finished weights come
back as the same events a local worker emits, so the JobManager saves them as it always does.
Ray is imported only here, and only when MNIST_TRAINING_BACKEND=ray.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import threading
from collections.abc import Callable
from typing import Any

import mnist_core
from mnist_core.config import TrainConfig
from mnist_core.data import MnistData, load_mnist
from mnist_core.errors import BackendError
from mnist_core.executors import CLOSE, WORKER_NICENESS, serve

log = logging.getLogger(__name__)

EVENT_WAIT = 0.5  # s: an events() call returns after this long with nothing to report
CONNECT_TIMEOUT = 3.0  # s: a cluster that does not answer by then is not there


def reachable(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Raise BackendError unless something listens at `address` ("host:port", "ray://..."):
    ray.init itself retries an absent cluster for minutes."""
    if address == "auto" or address.startswith("local"):
        return  # a cluster started on this machine: Ray finds it itself
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as e:
        raise BackendError(f"the Ray cluster at {address} cannot be reached ({e})") from e


def connect(address: str | None) -> Any:
    """Join the cluster at `address` (or start a Ray on this machine); returns ray."""
    if address:
        reachable(address)
    try:
        import ray
    except ImportError as e:
        raise BackendError("Ray is not installed: pip install -r requirements.txt") from e
    if ray.is_initialized():
        return ray
    started: queue.Queue = queue.Queue()

    def keep() -> None:
        try:
            ray.init(
                address=address,
                # The workers get this package (not the data, not the models) from the head.
                runtime_env={"py_modules": [mnist_core], "env_vars": {"MNIST_TF_THREADS": "1"}},
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        except BaseException as e:  # Ray raises ConnectionError, RuntimeError, ValueError, ...
            started.put(e)
            return
        started.put(None)
        threading.Event().wait()

    # The Ray processes a driver starts die with the thread that started them (tasks hang
    # once it ends), and Streamlit runs each page run in a thread of its own: so one thread
    # that lives as long as the server starts them.
    threading.Thread(target=keep, name="ray-keeper", daemon=True).start()
    error = started.get()
    if error is not None:
        raise BackendError(f"Ray could not start or join a cluster at "
                           f"{address or 'this machine'}: {error}") from error
    return ray


class RoomActor:
    """Lives in a Ray worker process: one RoomWorker, its commands in, its events out."""

    def __init__(self, data: MnistData, progress_interval: float) -> None:
        with contextlib.suppress(OSError):  # beside a web server: its pages first
            os.nice(WORKER_NICENESS)
        from mnist_core.room_trainer import RoomWorker

        self._commands: queue.Queue = queue.Queue()
        self._events: queue.Queue = queue.Queue()
        worker = RoomWorker(self._events.put, lambda: data, progress_interval)
        threading.Thread(target=serve, args=(worker, self._commands), daemon=True).start()

    def send(self, message: tuple) -> None:
        """A command for the worker: ("add", job_id, config), ("stop", job_id), ..."""
        self._commands.put(message)

    def events(self, wait: float = EVENT_WAIT) -> list[Any]:
        """The worker's events since the last call, waiting up to `wait` s for the first."""
        try:
            out = [self._events.get(timeout=wait)]
        except queue.Empty:
            return []
        with contextlib.suppress(queue.Empty):
            while True:
                out.append(self._events.get_nowait())
        return out

    def pid(self) -> int:
        """The worker process's id (tests kill it to check that only its runs fail)."""
        return os.getpid()


class _Host:
    """One actor, the runs it holds and the thread that relays its events."""

    def __init__(self, actor: Any, ray: Any, on_event: Callable[[Any], None],
                 on_exit: Callable[[_Host], None]) -> None:
        self.actor, self.ray = actor, ray
        self.runs: set[str] = set()
        self.lock = threading.Lock()
        self._on_event, self._on_exit = on_event, on_exit
        threading.Thread(target=self._relay, name="ray-events", daemon=True).start()

    def _relay(self) -> None:
        from mnist_core.room_trainer import Failed, Finished

        reason = "it was closed"
        while True:
            try:
                events = self.ray.get(self.actor.events.remote())
            except BaseException as e:  # ActorDiedError, a lost node, ray.shutdown's exit
                reason = f"{type(e).__name__}"
                break
            for event in events:
                if isinstance(event, (Finished, Failed)):
                    with self.lock:
                        self.runs.discard(event.job_id)
                self._on_event(event)
        self._on_exit(self)
        with self.lock:
            lost, self.runs = sorted(self.runs), set()
        for job_id in lost:
            self._on_event(Failed(job_id, f"The Ray worker training this run stopped "
                                          f"unexpectedly ({reason}): start the run again."))


class RayExecutor:
    """`workers` RoomActors on the cluster (made with the first run), runs spread evenly."""

    def __init__(self, address: str | None = None, workers: int | None = None,
                 data_loader: Callable[[], MnistData] = load_mnist,
                 progress_interval: float = 0.25) -> None:
        self.ray = connect(address)
        self.address = address
        self._workers = workers
        self.progress_interval = progress_interval
        self._data_loader = data_loader
        self._data_ref: Any = None
        self._actor_class = self.ray.remote(num_cpus=1, max_concurrency=2)(RoomActor)
        self._hosts: list[_Host] = []
        self._where: dict[str, _Host] = {}
        self._lock = threading.Lock()
        self._on_event: Callable[[Any], None] | None = None

    @property
    def workers(self) -> int:
        """Actors to keep: as asked, else one per CPU the cluster has now (workers join)."""
        return self._workers or max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def start(self, on_event: Callable[[Any], None]) -> None:
        self._on_event = on_event

    def add(self, job_id: str, config: TrainConfig, save_to: Any = None) -> None:
        """Train a run on the cluster; this server saves it (`save_to` is ignored: a host may
        not share this disk)."""
        workers = self.workers  # asked outside the lock: a call to the cluster
        with self._lock:
            if self._data_ref is None:  # once per cluster: every actor reads this copy
                self._data_ref = self.ray.put(self._data_loader())
            while len(self._hosts) < workers:
                actor = self._actor_class.remote(self._data_ref, self.progress_interval)
                self._hosts.append(_Host(actor, self.ray, self._event, self._forget))
            host = min(self._hosts, key=lambda h: len(h.runs))
            with host.lock:
                host.runs.add(job_id)
            self._where[job_id] = host
        host.actor.send.remote(("add", job_id, config))

    def command(self, job_id: str, name: str, *args: Any) -> None:
        with self._lock:
            host = self._where.get(job_id)
        if host is not None:
            host.actor.send.remote((name, job_id, *args))

    def close(self) -> None:
        with self._lock:
            hosts, self._hosts = self._hosts, []
        for host in hosts:
            with contextlib.suppress(Exception):
                host.actor.send.remote(CLOSE)
                self.ray.kill(host.actor)

    def pids(self) -> list[int]:
        """The actors' process ids (for tests and benchmarks)."""
        with self._lock:
            hosts = list(self._hosts)
        return self.ray.get([host.actor.pid.remote() for host in hosts])

    def _event(self, event: Any) -> None:
        from mnist_core.room_trainer import Failed, Finished

        if isinstance(event, (Finished, Failed)):
            with self._lock:
                self._where.pop(event.job_id, None)
        self._on_event(event)

    def _forget(self, host: _Host) -> None:
        """An actor died: the next run starts a fresh one in its place."""
        with self._lock:
            if host in self._hosts:
                self._hosts.remove(host)
            for job_id in [j for j, h in self._where.items() if h is host]:
                del self._where[job_id]


def train_on_ray(config: TrainConfig, data: MnistData,
                 progress: Callable[[Any], None] | None = None,
                 address: str | None = None) -> Any:
    """One run on a Ray actor, blocking until it ends (the CLI's --backend ray); returns a
    TrainResult holding an ordinary quickstart model, as mnist_core.training.train does."""
    from mnist_core.errors import ConfigError
    from mnist_core.room_trainer import stackable
    from mnist_core.training import OneRun

    if not stackable(config):
        raise ConfigError("the Ray backend trains the quickstart network (--arch mlp, "
                          "no --augment)")
    run = OneRun(progress)
    executor = RayExecutor(address, workers=1, data_loader=lambda: data)
    executor.start(run)
    try:
        executor.add("cli", config)
        event = run.ended()
    finally:
        executor.close()
    return run.result(event, BackendError)
