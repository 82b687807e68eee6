"""mnist_core.data's fallback download: bounded in time, verified, never blocking everyone.
Only loopback servers: no test here touches the network."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mnist_core import data as data_module
from mnist_core.data import load_mnist
from mnist_core.errors import DataError

IDLE_TIMEOUT = 1.0  # seconds without a byte before the download gives up (patched in)
TOTAL_TIMEOUT = 3.0  # seconds a caller waits for the whole download (patched in)
SLACK = 3.0  # thread start, the failure message, a loaded CI machine


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback server that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/mnist.npz"
    stop.set()
    thread.join(5)
    for connection in held:
        connection.close()
    listener.close()


def http_server(respond: Callable[[BaseHTTPRequestHandler], None]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with contextlib.suppress(OSError):  # the client gave up
                respond(self)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/mnist.npz"
    server.shutdown()
    server.server_close()


@pytest.fixture
def dripping_server() -> Iterator[str]:
    """Answers at once, then sends the body one byte every 0.2 s (never idle for long)."""

    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "11490434")
        handler.end_headers()
        for _ in range(10_000):
            handler.wfile.write(b"P")
            handler.wfile.flush()
            time.sleep(0.2)

    yield from http_server(respond)


def serving(content: bytes) -> Callable[[BaseHTTPRequestHandler], None]:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)

    return respond


@pytest.fixture
def mnist_server(mnist) -> Iterator[str]:
    yield from http_server(serving(Path(mnist.source).read_bytes()))


@pytest.fixture
def garbage_server() -> Iterator[str]:
    yield from http_server(serving(b"<html>captive portal: please log in</html>"))


@pytest.fixture
def no_bundle(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No bundled copy, an empty Keras cache, nothing loaded yet, short timeouts."""
    monkeypatch.setattr(data_module, "BUNDLED_DATA_PATH", tmp_path / "missing.npz")
    monkeypatch.delenv("MNIST_DATA", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setattr(data_module, "_cache", {})
    monkeypatch.setattr(data_module, "DOWNLOAD_IDLE_TIMEOUT", IDLE_TIMEOUT)
    monkeypatch.setattr(data_module, "DOWNLOAD_TIMEOUT", TOTAL_TIMEOUT)
    return tmp_path / "keras-home" / "datasets"


def timed_load(seconds: float) -> tuple[object, float]:
    """load_mnist() in a thread: (its result or exception, seconds taken); fails the test
    rather than hang when it takes longer than `seconds`."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(load_mnist())
        except Exception as e:
            outcome.append(e)

    start = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"load_mnist still running after {seconds} s"
    return outcome[0], time.monotonic() - start


def test_a_silent_server_fails_within_the_timeout(no_bundle, silent_server, monkeypatch):
    monkeypatch.setattr(data_module, "MNIST_ORIGIN", silent_server)
    error, seconds = timed_load(TOTAL_TIMEOUT + SLACK)
    assert isinstance(error, DataError), error
    text = str(error)
    assert f"Keras download: no answer from 127.0.0.1 within {IDLE_TIMEOUT:g} s" in text
    assert "missing.npz: file not found" in text and "Fix:" in text
    assert seconds < IDLE_TIMEOUT + SLACK
    assert not list(no_bundle.glob("*")) if no_bundle.is_dir() else True


def test_a_dripping_server_fails_at_the_total_timeout(no_bundle, dripping_server,
                                                      monkeypatch):
    monkeypatch.setattr(data_module, "MNIST_ORIGIN", dripping_server)
    error, seconds = timed_load(TOTAL_TIMEOUT + SLACK)
    assert isinstance(error, DataError), error
    assert f"did not finish within {TOTAL_TIMEOUT:g} s" in str(error)
    assert TOTAL_TIMEOUT - 0.5 < seconds < TOTAL_TIMEOUT + SLACK


def test_callers_waiting_meanwhile_fail_fast_too(no_bundle, silent_server, monkeypatch):
    """Ten pages asking for the data during the hang: all answered within one timeout, not
    one after another (the failure is remembered for a while)."""
    monkeypatch.setattr(data_module, "MNIST_ORIGIN", silent_server)
    results: list[tuple[object, float]] = []
    threads = [threading.Thread(target=lambda: results.append(timed_load(30)))
               for _ in range(10)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 10
    assert all(isinstance(error, DataError) for error, _ in results)
    assert time.monotonic() - start < IDLE_TIMEOUT + SLACK
    again, seconds = timed_load(SLACK)  # right after: the remembered failure, at once
    assert isinstance(again, DataError) and seconds < 0.5


def test_a_download_is_verified_and_cached(no_bundle, mnist_server, monkeypatch):
    monkeypatch.setattr(data_module, "MNIST_ORIGIN", mnist_server)
    data, _ = timed_load(60)
    assert not isinstance(data, Exception), data
    assert data.x_train.shape == (60000, 28, 28)
    assert [path.name for path in no_bundle.iterdir()] == ["mnist.npz"]  # no temp file left
    assert Path(data.source) == no_bundle / "mnist.npz"


def test_a_wrong_download_is_refused_and_not_cached(no_bundle, garbage_server, monkeypatch):
    monkeypatch.setattr(data_module, "MNIST_ORIGIN", garbage_server)
    error, _ = timed_load(60)
    assert isinstance(error, DataError), error
    assert "Keras download:" in str(error) and "unreadable or truncated" in str(error)
    assert not list(no_bundle.iterdir())


def test_an_unreachable_origin_is_reported(no_bundle, monkeypatch):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: connection refused
    monkeypatch.setattr(data_module, "MNIST_ORIGIN", f"http://127.0.0.1:{port}/mnist.npz")
    error, seconds = timed_load(TOTAL_TIMEOUT + SLACK)
    assert isinstance(error, DataError) and "refused" in str(error).lower()
    assert seconds < IDLE_TIMEOUT + SLACK
