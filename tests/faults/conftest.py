"""Fault-injection fixtures: a gate in front of the S3 server, a private Redis, `flask worker` processes."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

from tests.fixtures.services import need_program
from tests.fixtures.smtp import free_port

ROOT = Path(__file__).resolve().parents[2]
#: Headers that belong to one hop of the connection, not to the request the proxy passes on.
HOP_HEADERS = {"connection", "keep-alive", "expect", "transfer-encoding", "proxy-connection"}


def wait_for(condition: Callable[[], object], *, timeout: float, what: str, interval: float = 0.1,
             details: Callable[[], str] = str):
    """Poll `condition` until it returns something truthy; fail the test with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}\n{details()}")
        time.sleep(interval)


class S3Gate:
    """An HTTP proxy in front of the S3 server that can hold every PUT after the first `hold_after`.

    A held PUT never reaches the store: it is an upload stuck in flight, and the worker that sent it can be
    killed at exactly that moment.
    """

    def __init__(self, upstream: str):
        self.upstream = urlsplit(upstream)
        self.hold_after: int | None = None
        self.puts = 0
        self.held = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()
        gate = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, and `Expect: 100-continue` answered as boto3 expects

            def log_message(self, *args):
                pass

            def do_PUT(self):
                with gate._lock:
                    gate.puts += 1
                    hold = gate.hold_after is not None and gate.puts > gate.hold_after
                if hold:
                    gate.held.set()
                    gate._release.wait(timeout=120)
                    self.close_connection = True
                    return
                self._forward()

            do_GET = do_HEAD = do_POST = do_DELETE = lambda self: self._forward()  # noqa: E731

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection(gate.upstream.hostname, gate.upstream.port, timeout=60)
                try:
                    conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                    for name, value in self.headers.items():
                        if name.lower() not in HOP_HEADERS:
                            conn.putheader(name, value)
                    conn.endheaders(body)
                    answer = conn.getresponse()
                    data = answer.read()
                finally:
                    conn.close()
                self.send_response(answer.status, answer.reason)
                # A HEAD answer keeps the object's Content-Length (its size), though it carries no body.
                passed = HOP_HEADERS if self.command == "HEAD" else HOP_HEADERS | {"content-length"}
                for name, value in answer.getheaders():
                    if name.lower() not in passed:
                        self.send_header(name, value)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def hold_puts_after(self, count: int) -> None:
        """Let `count` more PUTs through, then hold every further one."""
        with self._lock:
            self.hold_after, self.puts = count, 0
        self.held.clear()
        self._release.clear()

    def open(self) -> None:
        """Pass everything through again; held requests are dropped (their sender is gone)."""
        with self._lock:
            self.hold_after = None
        self._release.set()

    def close(self) -> None:
        self.open()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def s3_gate(s3_server):
    gate = S3Gate(s3_server)
    yield gate
    gate.close()


@pytest.fixture(scope="session")
def private_redis():
    """A redis-server of our own on a free port (never the shared one): its queue holds only this test's tasks."""
    program = need_program("redis-server")
    folder = tempfile.mkdtemp(prefix="ouderkamer-redis-")
    port = free_port()
    process = subprocess.Popen([program, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                "no", "--dir", folder], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        wait_for(lambda: _pings(client), timeout=20, what=f"redis-server on port {port}")
        yield url
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


class Worker:
    """`flask worker` in its own process group (so ffmpeg dies with it), logging to a file."""

    def __init__(self, env: dict[str, str], log: Path):
        self.log = log
        self._out = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "-w", "1", "--no-periodic"],
            cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        """SIGKILL the worker and everything it started: no clean-up code runs."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._out.close()  # closing twice is harmless

    def stop(self) -> None:
        """Stop gracefully (SIGINT lets the running task finish), else kill."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._out.close()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def start_worker(tmp_path):
    """Start `flask worker` processes with a given environment; every one still running is killed at teardown."""
    workers: list[Worker] = []

    def start(env: dict[str, str]) -> Worker:
        worker = Worker(env, tmp_path / f"worker-{len(workers) + 1}.log")
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        if worker.process.poll() is None:
            worker.kill()
