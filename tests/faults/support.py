"""Real services to break: a TCP proxy in front of PostgreSQL, a private redis-server, the API
under gunicorn and a Celery worker as subprocesses of the test.

Every process is started in its own session (process group) and stopped by its id, so a failing
test leaves nothing running: the fixtures stop them in `finally`, and `atexit` catches a test run
that is interrupted.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import os
import pickle
import secrets
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable

_live: set[subprocess.Popen] = set()


def _stop_all() -> None:
    for process in list(_live):
        kill_group(process)


atexit.register(_stop_all)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    check: Callable[[], Any], *, timeout: float, interval: float = 0.05, what: str = ""
) -> Any:
    """Poll `check` until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout} s waiting for {what or check} (last: {last!r})"
    )


def spawn(
    args: list[str], *, env: dict[str, str] | None = None, log: Path | None = None
) -> subprocess.Popen:
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 — the child owns it
    process = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    if log:
        out.close()
    _live.add(process)
    return process


def kill_group(process: subprocess.Popen, sig: int = signal.SIGKILL, timeout: float = 10) -> None:
    """Signal the process's whole group (gunicorn's and Celery's children too) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
    # The group may outlive its leader (a pool child): make sure nothing of it is left.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    _live.discard(process)


def children_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


# ---- PostgreSQL behind a proxy we can cut ---------------------------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a real server. Faults:

    - `refuse()`: every open connection is cut and new ones are refused (a stopped server);
    - `blackhole()`: every open connection is cut and new ones get no answer at all — the
      listening socket's accept queue is full, so the kernel drops their SYNs (an unreachable host:
      the client waits for its connect timeout);
    - `restore()`: back to forwarding.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._plugs: list[socket.socket] = []
        self._stopped = threading.Event()
        self.accepted = 0
        self._thread: threading.Thread | None = None

    def start(self) -> TcpProxy:
        self._listen(backlog=128)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def _listen(self, *, backlog: int) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # The old listener lingers until the serving thread's select() lets go of it (< 0.1 s).
        deadline = time.monotonic() + 3
        while True:
            try:
                listener.bind(("127.0.0.1", self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    listener.close()
                    raise
                time.sleep(0.02)
        listener.listen(backlog)
        self._listener = listener

    def _serve(self) -> None:
        while not self._stopped.is_set():
            listener = self._listener
            if listener is None or self._plugs:
                time.sleep(0.02)
                continue
            try:
                ready, _, _ = select.select([listener], [], [], 0.05)
                if not ready:
                    continue
                client, _ = listener.accept()
            except (OSError, ValueError):  # closed under us by a fault: look again
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=3)
            except OSError:
                client.close()
                continue
            with self._lock:
                self.accepted += 1
                self._conns.update((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 0.5)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    peers[s].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            self._close(a)
            self._close(b)

    def _close(self, s: socket.socket) -> None:
        with self._lock:
            self._conns.discard(s)
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            s.close()

    def cut_connections(self) -> None:
        with self._lock:
            conns = list(self._conns)
        for s in conns:
            self._close(s)

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        for plug in self._plugs:
            plug.close()
        self._plugs = []

    def refuse(self) -> None:
        self._close_listener()
        self.cut_connections()

    def blackhole(self) -> None:
        self._close_listener()
        self.cut_connections()
        # Nobody accepts, and two plugs fill the accept queue of a backlog-0 listener: the kernel
        # now drops every new SYN (as a partitioned network would).
        self._listen(backlog=0)
        self._plugs = []
        for _ in range(3):
            plug = socket.socket()
            plug.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                plug.connect(("127.0.0.1", self.port))
            self._plugs.append(plug)
        time.sleep(0.1)

    def restore(self) -> None:
        self._close_listener()
        self._listen(backlog=128)

    def stop(self) -> None:
        self._stopped.set()
        self._close_listener()
        self.cut_connections()


# ---- Redis ------------------------------------------------------------------------------------


class RedisServer:
    """A private redis-server on its own port, killed with SIGKILL on demand."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="verdict-faults-redis-"))
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> RedisServer:
        self.process = spawn(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--loglevel",
                "warning",
            ],
        )
        wait_until(self.ping, timeout=10, what="redis-server")
        return self

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.process is not None:
            kill_group(self.process)
            self.process = None

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)


# ---- the service as subprocesses --------------------------------------------------------------


def database_url_for(settings_dict: dict[str, Any], *, port: int | None = None) -> str:
    """The URL of the test database pytest-django created (optionally through a proxy port)."""
    if settings_dict["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or "postgres"
    host = settings_dict.get("HOST") or "127.0.0.1"
    return f"postgres://{user}@{host}:{port or settings_dict.get('PORT') or 5432}/{settings_dict['NAME']}"


def service_env(
    *, database_url: str, redis_url: str = "", scorer_file: Path, var_dir: Path, **extra: str
) -> dict[str, str]:
    """Production settings (config.settings, DEBUG off) for a subprocess of the test."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        VERDICT_VAR_DIR=str(var_dir),
        API_THROTTLE_RATE="10000000/min",
        LOG_LEVEL="WARNING",
        MLFLOW_DISABLE_TELEMETRY="true",
        PYTHONUNBUFFERED="1",
        FAULTS_SCORER_FILE=str(scorer_file),
        MODEL_REFRESH_SECONDS="0",
        **extra,
    )
    return env


def write_scorer(scorer: Any, path: Path) -> Path:
    path.write_bytes(pickle.dumps(scorer))
    return path


class ApiServer:
    """The web server (granian as in production, or gunicorn) serving tests.faults.wsgi
    (config.wsgi with the test's champion installed)."""

    def __init__(
        self, env: dict[str, str], *, log: Path, workers: int = 1, threads: int = 4
    ) -> None:
        self.env, self.log, self.workers, self.threads = env, log, workers, threads
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self, *, timeout: float = 45) -> ApiServer:
        # granian is production's web server (make serve); FAULTS_SERVER=gunicorn for the other.
        if os.environ.get("FAULTS_SERVER", "granian") == "granian":
            command = [
                str(Path(PY).with_name("granian")), "--interface", "wsgi", "tests.faults.wsgi:application",
                "--workers", str(self.workers), "--blocking-threads", str(self.threads),
                "--runtime-threads", "1", "--host", "127.0.0.1", "--port", str(self.port),
                "--log-level", "warning", "--no-ws",
            ]
        else:
            command = [
                PY, "-m", "gunicorn", "tests.faults.wsgi", "-k", "gthread", "-w", str(self.workers),
                "--threads", str(self.threads), "-b", f"127.0.0.1:{self.port}", "--timeout", "60",
                "--graceful-timeout", "2", "--log-level", "warning",
            ]
        self.process = spawn(command, env=self.env, log=self.log)

        def up() -> bool:
            assert self.process is not None and self.process.poll() is None, self.tail()
            try:
                return self.get("/healthz", timeout=1)[0] == 200
            except OSError:
                return False

        wait_until(up, timeout=timeout, interval=0.1, what="the API server's /healthz")
        return self

    def kill(self) -> None:
        if self.process is not None:
            kill_group(self.process, signal.SIGKILL)
            self.process = None

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log.read_text()[-n:]
        except OSError:
            return ""

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 15,
    ) -> tuple[int, dict[str, str], Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(
                method,
                path,
                body=data,
                headers={"Content-Type": "application/json", **(headers or {})},
            )
            response = conn.getresponse()
            raw = response.read()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw.decode(errors="replace")
            return response.status, {k.lower(): v for k, v in response.getheaders()}, parsed
        finally:
            conn.close()

    def get(self, path: str, *, timeout: float = 15) -> tuple[int, dict[str, str], Any]:
        return self.request("GET", path, timeout=timeout)

    def decide(
        self, token: str, body: dict[str, Any], *, key: str | None = None, timeout: float = 15
    ) -> tuple[int, dict[str, str], Any]:
        headers = {"Authorization": f"Token {token}"}
        if key:
            headers["Idempotency-Key"] = key
        return self.request(
            "POST", "/api/v1/decisions", body=body, headers=headers, timeout=timeout
        )


class CeleryWorker:
    """`celery worker` (prefork, one child) on the given broker, in its own process group."""

    def __init__(self, env: dict[str, str], *, log: Path, queues: str = "celery,batches") -> None:
        self.env, self.log, self.queues = env, log, queues
        self.process: subprocess.Popen | None = None

    def start(self) -> CeleryWorker:
        self.process = spawn(
            [
                PY,
                "-m",
                "celery",
                "-A",
                "tests.faults.celery_app",
                "worker",
                "-c",
                "1",
                "-P",
                "prefork",
                "-Q",
                self.queues,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "INFO",
                "-n",
                f"faults-{secrets.token_hex(3)}@%h",
            ],
            env=self.env,
            log=self.log,
        )
        return self

    def pool_children(self) -> list[int]:
        return children_of(self.process.pid) if self.process else []

    def kill(self) -> None:
        if self.process is not None:
            kill_group(self.process, signal.SIGKILL)
            self.process = None

    def tail(self, n: int = 4000) -> str:
        try:
            return self.log.read_text()[-n:]
        except OSError:
            return ""


# ---- a webhook receiver that can hold a request open ------------------------------------------


class HoldingReceiver:
    """Records every POST; while `hold` is set, it keeps the request open (the sender is then
    mid-task) until `release()` — or until the sender's connection is gone."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[dict[str, Any]] = []
        self.hold = threading.Event()
        self._released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                if receiver.hold.is_set():
                    receiver._released.wait(30)
                with contextlib.suppress(OSError):
                    self.send_response(200)
                    self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/verdict"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> HoldingReceiver:
        self._thread.start()
        return self

    def release(self) -> None:
        self.hold.clear()
        self._released.set()

    def stop(self) -> None:
        self._released.set()
        self.server.shutdown()
        self.server.server_close()

    def delivery_ids(self) -> list[str]:
        return [r["headers"].get("X-Verdict-Delivery", "") for r in self.requests]


_eager_config: dict[str, Any] = {}


def use_broker(url: str | None) -> None:
    """Point this (test) process's Celery app at a real broker, or back to what it was with None.

    The suite runs Celery eagerly (config.settings_test); a test that needs publishing to go
    through a broker — to see what a dead broker or a rolled-back transaction does — switches it
    here and back in a `finally`."""
    from config.celery import app

    if not _eager_config:
        _eager_config.update(eager=app.conf.task_always_eager, url=app.conf.broker_url)
    if url is None:
        app.conf.task_always_eager = _eager_config["eager"]
        app.conf.broker_url = _eager_config["url"]
    else:
        app.conf.task_always_eager = False
        app.conf.broker_url = url
    # Drop the app's references only: kombu keeps its pools in a global registry keyed by the
    # broker URL, and closing one there breaks every later publish to that URL (even an eager
    # call acquires a producer).
    app._pool = None
    app.amqp._producer_pool = None
