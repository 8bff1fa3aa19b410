"""What the load bench (bench/load.py) and the soak (bench/soak.py) share: a production-shaped
service on loopback and an open-loop client.

- `bench_env`, `prepare`: a fresh PostgreSQL database and Redis db, migrations, the demo seed
  (products, published rule set, API client + token, a trained champion), collectstatic;
- `start_server` (granian, the production default, or gunicorn), `stop_server`: the web server with
  DEBUG off, as in production;
- `Client`, `Phase`, `percentiles`: keep-alive connections that send at fixed arrival times and
  measure latency from the *intended* send time (no coordinated omission);
- `measure_calls`: one function timed in-process, back to back and paced at 100/s (the floor, the
  decision without HTTP);
- `/proc` helpers for CPU seconds, RSS and child processes (Linux).

Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import queue
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def bench_env(
    port: int, *, db_name: str, redis_url: str, var_dir: Path, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment of a production-like server (DEBUG off) on loopback."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{db_name}",
        REDIS_URL=redis_url,
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",  # plain HTTP on loopback; TLS ends at the load balancer
        VERDICT_VAR_DIR=str(var_dir),
        API_THROTTLE_RATE="10000000/min",
        LOG_LEVEL="WARNING",
        MLFLOW_DISABLE_TELEMETRY="true",
        PYTHONUNBUFFERED="1",
        **(extra or {}),
    )
    return env


def reset_database(db_name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {db_name}")


def flush_redis_db(redis_url: str) -> None:
    """Empty the one Redis database the run uses (never FLUSHALL)."""
    parts = urlsplit(redis_url)
    db = (parts.path or "/0").lstrip("/") or "0"
    subprocess.run(
        [
            "redis-cli",
            "-h",
            parts.hostname or "127.0.0.1",
            "-p",
            str(parts.port or 6379),
            "-n",
            db,
            "FLUSHDB",
        ],
        check=False,
        capture_output=True,
    )


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def prepare(env: dict[str, str], *, train_rows: int = 20000) -> str:
    """A fresh database and Redis db, migrated and seeded; returns the API token."""
    db_name = env["DATABASE_URL"].rsplit("/", 1)[1]
    var_dir = Path(env["VERDICT_VAR_DIR"])
    reset_database(db_name)
    flush_redis_db(env["REDIS_URL"])
    (var_dir / "demo_api_token").unlink(missing_ok=True)  # a fresh database needs a fresh token
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "seed_demo", "--applications", "0", "--train-rows", str(train_rows))
    manage(env, "collectstatic", "--noinput", "-v", "0")  # as a deployment would
    return (var_dir / "demo_api_token").read_text().strip()


def request_bodies(count: int, *, seed: int = 2026, prefix: str = "B") -> list[bytes]:
    """`count` distinct, realistic API request bodies."""
    from decisioning.payloads import request_body
    from modeling.synthetic import generate

    now = dt.datetime.now(dt.UTC)
    cases = generate(count, seed=seed, start=now - dt.timedelta(days=1), end=now)
    return [
        json.dumps(request_body(c.app, product="personal-loan", reference=f"{prefix}-{i}")).encode()
        for i, c in enumerate(cases)
    ]


def start_gunicorn(
    env: dict[str, str], *, port: int, workers: int, threads: int, app: str | None = None
) -> subprocess.Popen:
    """gunicorn in its own process group; returns once /healthz answers (exits if it never does).
    `app` replaces Verdict (and its production hooks) by another WSGI app, e.g. the HTTP floor's."""
    gunicorn = subprocess.Popen(
        [
            PY,
            "-m",
            "gunicorn",
            *([app] if app else ["config.wsgi", "-c", "config/gunicorn.py"]),  # production settings, warm-up
            "-k",
            "gthread",
            "-w",
            str(workers),
            "--threads",
            str(threads),
            "-b",
            f"127.0.0.1:{port}",
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    return _wait_healthy(gunicorn, port, "gunicorn")


def _wait_healthy(server: subprocess.Popen, port: int, name: str) -> subprocess.Popen:
    deadline = time.time() + 60
    while time.time() < deadline:
        if server.poll() is not None:
            sys.exit(f"{name} exited with {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.3)
    stop_process_group(server)
    sys.exit(f"{name} did not start")


def start_granian(
    env: dict[str, str], *, port: int, workers: int, threads: int, app: str | None = None
) -> subprocess.Popen:
    """granian as in production (README "Production"): WSGI, the warmed entry point
    `config.wsgi_warm`, `threads` blocking threads per worker; returns once /healthz answers.
    `app` serves another WSGI app with the same settings (the HTTP floor's)."""
    cmd = [
        str(Path(PY).with_name("granian")), "--interface", "wsgi", app or "config.wsgi_warm:application",
        "--workers", str(workers), "--blocking-threads", str(threads), "--runtime-threads", "1",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-ws",
    ]
    return _wait_healthy(subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True), port, "granian")


def start_server(
    env: dict[str, str], *, port: int, workers: int, threads: int, server: str = "granian",
    app: str | None = None,
) -> subprocess.Popen:
    """The production web server: granian (default) or gunicorn (the supported alternative)."""
    start = {"granian": start_granian, "gunicorn": start_gunicorn}[server]
    return start(env, port=port, workers=workers, threads=threads, app=app)


def cpu_calibration_ms(repeats: int = 7) -> float:
    """Milliseconds of a fixed pure-Python workload (median of `repeats`): how fast this machine
    runs Python now, so that bench reports from different VMs, or one VM's slow and fast hours,
    can be compared (session 5's VM took ~3.5 times session 4's time for the same decision)."""

    def work() -> int:
        table: dict[str, int] = {}
        for i in range(60_000):
            key = f"k{i % 997}"
            table[key] = table.get(key, 0) + i * i % 7
        return sum(sorted(table.values()))

    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        work()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def python_build() -> dict[str, object]:
    """The interpreter the bench (and the server it starts) runs on: its build matters as much as a
    VM (session 6: Debian's CPython 3.11 — built with profile-guided optimisation, its executable
    linked statically — ran the calibration ~20 % faster than pyenv's default build, which loads
    libpython as a shared library and was configured without --enable-optimizations). Whether
    libpython is shared is read from this process's memory map (Linux); the configure flags are
    reported as recorded, which distribution builds that optimise in their own steps may not do."""
    import platform
    import sysconfig

    try:
        maps = Path("/proc/self/maps").read_text()
        libpython = "shared" if "libpython" in maps else "static"
    except OSError:
        libpython = "unknown"
    config_args = str(sysconfig.get_config_var("CONFIG_ARGS") or "")
    return {
        "version": platform.python_version(),
        "executable": os.path.realpath(sys.executable),
        "libpython": libpython,
        "configure_flags": [f for f in ("--enable-optimizations", "--with-lto") if f in config_args],
    }


def stop_process_group(
    process: subprocess.Popen, *, sig: int = signal.SIGINT, timeout: float = 15
) -> None:
    """Stop a process started with `start_new_session=True` and everything it started."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=timeout)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def stop_server(server: subprocess.Popen) -> None:
    stop_process_group(server, sig=signal.SIGINT)  # quick shutdown: the run is over


def proc_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (from /proc; Linux)."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            continue
    return total / tick


def rss_mb(pid: int) -> float | None:
    """Resident set size of one process in MiB, or None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def children_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@dataclass
class Phase:
    rate: float
    duration: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    wall: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0


class Client(threading.Thread):
    """One keep-alive connection; takes (intended_time, body, key) jobs and records latency from
    the intended time into `phase_ref[0]` (swap it under `lock` to start a new interval).

    HTTP/1.1 over a plain socket: the request head is prebuilt, the response read by its
    Content-Length (or chunks) — half of http.client's CPU per request (0.12 against 0.24 ms at
    300/s against a trivial app), which matters when the load generator shares two cores with the
    server it measures. Latency is to the response's last byte."""

    def __init__(
        self, port: int, token: str, jobs: queue.Queue, phase_ref: list[Phase], lock: threading.Lock
    ) -> None:
        super().__init__(daemon=True)
        self.port, self.token, self.jobs, self.phase_ref, self.lock = (
            port,
            token,
            jobs,
            phase_ref,
            lock,
        )
        self.sock: socket.socket | None = None
        self.buffer = b""
        self.head = (
            f"POST /api/v1/decisions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Token {token}\r\n"
            "Content-Type: application/json\r\nIdempotency-Key: %s\r\nContent-Length: %d\r\n\r\n"
        ).encode()

    def _recv(self) -> bytes:
        assert self.sock is not None
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        return chunk

    def _read_until(self, marker: bytes) -> bytes:
        while (end := self.buffer.find(marker)) < 0:
            self.buffer += self._recv()
        out, self.buffer = self.buffer[:end], self.buffer[end + len(marker):]
        return out

    def _read_exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self.buffer += self._recv()
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def _response(self) -> tuple[int, bool]:
        """(status, keep the connection) once the whole response is read."""
        lines = self._read_until(b"\r\n\r\n").split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        if headers.get(b"transfer-encoding") == b"chunked":
            while size := int(self._read_until(b"\r\n").split(b";")[0], 16):
                self._read_exactly(size + 2)
            self._read_until(b"\r\n")  # no trailers from our servers: the final empty line
        else:
            self._read_exactly(int(headers.get(b"content-length", b"0")))
        return status, headers.get(b"connection") != b"close"

    def _close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buffer = None, b""

    def _send(self, body: bytes, key: str) -> int:
        request = self.head % (key.encode(), len(body)) + body
        for attempt in range(2):
            try:
                if self.sock is None:
                    self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                    self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.sock.sendall(request)
                status, keep = self._response()
                if not keep:
                    self._close()
                return status
            except (OSError, ValueError, IndexError):
                self._close()
                if attempt == 1:
                    return 0
        return 0

    def run(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                self._close()
                return
            intended, body, key = job
            delay = intended - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            status = self._send(body, key)
            latency = (time.perf_counter() - intended) * 1000
            with self.lock:
                phase = self.phase_ref[0]
                phase.latencies_ms.append(latency)
                phase.statuses[str(status)] = phase.statuses.get(str(status), 0) + 1
                if status != 201:
                    phase.errors += 1


def measure_calls(call: Callable[[], object], *, back_to_back: int, paced_seconds: float = 0.0,
                  warm: int = 100) -> dict[str, dict[str, float] | None]:
    """Time `call` in this process: `warm` calls first (then the start-up heap frozen, as the web
    workers do), `back_to_back` calls with no gap, then calls at 100/s for `paced_seconds` (each at
    its scheduled time, the machine idle in between). Per mode: P50/P95/P99/max wall time and the
    mean process CPU per call, in ms; `paced_100_per_s` is None when `paced_seconds` is 0."""
    import gc

    def timed() -> tuple[float, float]:
        c0, t0 = time.process_time(), time.perf_counter()
        call()
        return (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000

    def summary(samples: list[tuple[float, float]]) -> dict[str, float]:
        return {"n": len(samples), **percentiles([w for w, _ in samples]),
                "cpu_ms": statistics.fmean(c for _, c in samples)}

    for _ in range(warm):
        call()
    gc.collect()
    gc.freeze()
    out: dict[str, dict[str, float] | None] = {"back_to_back": summary([timed() for _ in range(back_to_back)]),
                                               "paced_100_per_s": None}
    if paced_seconds:
        paced, start = [], time.perf_counter()
        for i in range(int(100 * paced_seconds)):
            delay = start + i / 100 - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            paced.append(timed())
        out["paced_100_per_s"] = {"seconds": paced_seconds, **summary(paced)}
    return out


def percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {
            "p50": values[0] if values else 0.0,
            "p95": 0.0,
            "p99": 0.0,
            "max": max(values or [0.0]),
        }
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": q[49], "p95": q[94], "p99": q[98], "max": max(values)}
