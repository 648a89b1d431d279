"""What the benchmarks share: private databases and servers, gunicorn as in production, a small HTTP load client.

Every helper cleans up after itself: a database created here is dropped, a server started here is stopped.
App modules are imported inside functions, after `isolate()` has set the environment they read at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SHARED_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET_KEY = "bench-secret-" + "x" * 40
MiB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def isolate(instance: Path, **env: str) -> dict[str, str]:
    """Point this process (and the children it starts) at a private instance folder; returns the child env."""
    os.environ["INSTANCE_PATH"] = str(instance)
    for name in ("REDIS_URL", "DATABASE_URL", "S3_BUCKET", "S3_ENDPOINT_URL", "RATELIMIT_STORAGE_URI"):
        os.environ.pop(name, None)  # nothing of the developer's setup leaks in (wsgi.py reads .env without override)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    return dict(os.environ)


def production_env(instance: Path, database_url: str, base_url: str, **extra: str) -> dict[str, str]:
    """The settings a production web process gets (docs/deployment.md), on private databases and folders."""
    return {"OUDERKAMER_ENV": "production", "SECRET_KEY": SECRET_KEY, "INSTANCE_PATH": str(instance),
            "DATABASE_URL": database_url, "PUBLIC_BASE_URL": base_url, "MAIL_TRANSPORT": "log",
            "SMS_TRANSPORT": "log", "JITSI_BASE_URL": "https://meet.example.org", "JITSI_APP_ID": "ouderkamer",
            "JITSI_APP_SECRET": "bench-jitsi-" + "y" * 32, **extra}


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"ouderkamer-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database with a unique name on the shared server, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+psycopg")
    name = f"bench_{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def migrated_app(database_url: str, **overrides):
    """The real app on `database_url`, migrated to the newest revision (call after isolate())."""
    from flask_migrate import upgrade

    from core.app import create_app

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY, "MAIL_TRANSPORT": "memory",
                      "SMS_TRANSPORT": "memory", **overrides})
    with app.app_context():
        upgrade(revision="heads")
    return app


def wait_for_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (our own http://127.0.0.1 URL)
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered {url} within {timeout} s")


@contextlib.contextmanager
def started(argv: list[str], *, env: dict | None = None, ready_url: str | None = None,
            log: Path | None = None, cwd: Path = ROOT) -> Iterator[subprocess.Popen]:
    """Run a server in its own process group until the block ends; SIGTERM (then SIGKILL) to that group only."""
    out = open(log, "ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if ready_url:
            wait_for_http(ready_url, proc=proc)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if log:
            out.close()


@contextlib.contextmanager
def gunicorn(app_spec: str, env: dict, *, port: int, workers: int = 2, log: Path | None = None, extra: tuple = (),
             ready_path: str = "/healthz") -> Iterator[subprocess.Popen]:
    """gunicorn with `workers` sync workers on 127.0.0.1:`port`, as docs/deployment.md runs the web process."""
    argv = [str(BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}", *extra, app_spec]
    with started(argv, env=env, ready_url=f"http://127.0.0.1:{port}{ready_path}", log=log) as proc:
        yield proc


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """A throw-away redis-server on a free port (no persistence), for rate-limit counters nobody else touches."""
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with started(argv):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 server in its own process on a free port (objects live in its memory)."""
    port = free_port()
    with started([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                 ready_url=f"http://127.0.0.1:{port}/moto-api/"):
        yield f"http://127.0.0.1:{port}"


def children(pid: int) -> list[int]:
    """Direct children of a process (gunicorn's workers)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            for line in status.read_text().splitlines():
                if line.startswith("PPid:") and int(line.split()[1]) == pid:
                    found.append(int(status.parent.name))
    return found


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM) so far, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of `values`."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


# --- a small HTTP/1.1 client on asyncio (one connection per request: gunicorn's sync workers close them) ------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


@dataclass
class Tally:
    """Latencies (s) and outcomes of many requests."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def add(self, reply: Reply) -> None:
        self.latencies.append(reply.seconds)
        self.statuses[reply.status] = self.statuses.get(reply.status, 0) + 1

    def summary(self) -> dict:
        ms = [x * 1000 for x in self.latencies]
        return {"requests": len(ms), "p50_ms": round(percentile(ms, 50), 1), "p99_ms": round(percentile(ms, 99), 1),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())}}


async def request(port: int, path: str, *, method: str = "GET", headers: dict | None = None, body: bytes = b"",
                  source_ip: str | None = None, timeout: float = 30.0) -> Reply:
    """One request on a fresh connection to 127.0.0.1:`port`, optionally from another loopback address."""
    start = time.perf_counter()
    local = (source_ip, 0) if source_ip else None
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, local_addr=local), timeout)
    try:
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close",
                 "User-Agent: ouderkamer-bench", *(f"{k}: {v}" for k, v in (headers or {}).items())]
        if body or method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    seconds = time.perf_counter() - start
    head, _, payload = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split()[1]) if status_line.startswith("HTTP/") else 0
    parsed = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return Reply(status, parsed, payload, seconds)


async def closed_loop(make_request, *, concurrency: int, total: int) -> tuple[Tally, float]:
    """`total` requests from `concurrency` clients that each send the next one as soon as the last is answered.

    `make_request(i)` returns the coroutine of request i (it may run a few requests and return their replies).
    Returns the tally and the requests per second.
    """
    tally, counter = Tally(), iter(range(total))

    async def client():
        for i in counter:
            try:
                replies = await make_request(i)
            except (TimeoutError, OSError, ValueError, IndexError) as exc:
                tally.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            for reply in replies if isinstance(replies, list) else [replies]:
                tally.add(reply)

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return tally, (len(tally.latencies) / elapsed if elapsed else 0.0)


def source_address(i: int) -> str:
    """A distinct loopback address per client (127.1.0.1, 127.1.0.2, ...): Linux routes all of 127/8 to lo."""
    return f"127.{1 + i // 65025}.{(i // 255) % 255}.{1 + i % 255}"


@contextlib.contextmanager
def profiled(pid: int, out: Path | None, rate: int = 100) -> Iterator[None]:
    """Sample `pid` and its children on CPU with py-spy while the block runs (collapsed stacks); no-op if None."""
    if out is None:
        yield
        return
    argv = [str(BIN / "py-spy"), "record", "--subprocesses", "-r", str(rate), "-f", "raw", "-o", str(out),
            "-p", str(pid)]
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches before the load starts
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            spy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()


def top_of_profile(raw: Path, *, within: str = "", count: int = 25) -> list[tuple[float, str]]:
    """The functions with the largest inclusive share of py-spy's collapsed stacks (optionally only under `within`)."""
    inclusive, total = {}, 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        if within and not any(within in f for f in frames):
            continue
        total += int(n)
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + int(n)
    ranked = sorted(inclusive.items(), key=lambda kv: -kv[1])[:count]
    return [(round(100 * n / total, 1), frame) for frame, n in ranked] if total else []


def cpu_seconds(pids: list[int], *, with_children: bool = False) -> float:
    """User + system CPU time the processes have used so far (a figure the machine's other load barely moves);
    `with_children` adds that of their finished children (ffmpeg runs of a worker)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += sum(int(f) for f in fields[11:15 if with_children else 13])
    return total / ticks
