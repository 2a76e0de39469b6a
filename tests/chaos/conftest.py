"""Private services and processes for the fault tests: they stop Kafka and Redis, so never the shared ones.

Each chaos session starts its own Apache Kafka (dev/kafka.sh with a temporary EVENTSCOPE_KAFKA_DIR), its own
redis-server on a free port, and a database of its own (a SQLite file, or a scratch PostgreSQL database when
the suite runs on PostgreSQL), migrated once. Eventscope's processes (gunicorn, Celery worker and beat, the
trace indexer) run as subprocesses pointed at them, as in production; the tests read the database with plain
SQL and the pages over HTTP. The broker, Redis and database that `make test` gave the rest of the suite are
never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings

REPO = Path(settings.BASE_DIR)
KAFKA_SH = REPO / "dev" / "kafka.sh"
VENV_BIN = Path(sys.executable).parent
PASSWORD = "chaos-pass-4711!"

# Settings of the default cluster come from the environment: the private broker is plain PLAINTEXT.
_SCRUBBED = (
    "EVENTSCOPE_KAFKA_SECURE",
    "EVENTSCOPE_SECURE_KAFKA",
    "EVENTSCOPE_KAFKA_DIR",
    "EVENTSCOPE_KAFKA_PORT",
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SSL_CA_FILE",
    "DATABASE_URL",
    "REDIS_URL",
    "KAFKA_BOOTSTRAP_SERVERS",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """Poll until condition() is truthy; fail the test saying what did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# Private Kafka and Redis
# ---------------------------------------------------------------------------------------------
class PrivateKafka:
    """A broker of dev/kafka.sh in a state dir of its own; stop() and start() keep its data and port."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.port = free_port()
        self.bootstrap = ""

    def _run(self, command: str) -> subprocess.CompletedProcess:
        env = {key: value for key, value in os.environ.items() if key not in _SCRUBBED}
        env.update(EVENTSCOPE_KAFKA_DIR=str(self.state_dir), EVENTSCOPE_KAFKA_PORT=str(self.port))
        return subprocess.run(
            [str(KAFKA_SH), command], env=env, capture_output=True, text=True, timeout=240, check=False
        )

    def start(self) -> str:
        done = self._run("start")
        if done.returncode != 0:
            pytest.fail(f"the private Kafka did not start: {done.stderr[-2000:]}")
        bootstrap = done.stdout.strip().splitlines()[-1]
        if self.bootstrap and bootstrap != self.bootstrap:
            pytest.fail(f"the private Kafka came back at {bootstrap}, not {self.bootstrap} (its port was taken)")
        self.bootstrap = bootstrap
        return bootstrap

    def stop(self) -> None:
        done = self._run("stop")
        if done.returncode != 0:
            pytest.fail(f"the private Kafka did not stop: {done.stderr[-2000:]}")


class PrivateRedis:
    """A redis-server on a free port, without persistence; stop() and start() keep the port."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.pidfile = state_dir / "redis.pid"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (make test installs it as root; apt-get install redis-server)")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--daemonize", "yes",
             "--dir", str(self.state_dir), "--pidfile", str(self.pidfile),
             "--logfile", str(self.state_dir / "redis.log"), "--save", "", "--appendonly", "no"],
            check=True,
            capture_output=True,
            timeout=30,
        )  # fmt: skip
        wait_for(lambda: port_open(self.port), 15, f"the private Redis on port {self.port}", interval=0.1)

    def stop(self) -> None:
        pid = int(self.pidfile.read_text().strip())
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not port_open(self.port), 15, "the private Redis to stop", interval=0.1)


# ---------------------------------------------------------------------------------------------
# A database of its own
# ---------------------------------------------------------------------------------------------
class ChaosDatabase:
    """A SQLite file, or a scratch PostgreSQL database when the suite runs on PostgreSQL; read with plain SQL."""

    def __init__(self, tmp_dir: Path):
        params = settings.DATABASES["default"]
        self.vendor = "postgresql" if "postgresql" in params["ENGINE"] else "sqlite"
        if self.vendor == "postgresql":
            self.name = f"eventscope_chaos_{uuid.uuid4().hex[:8]}"
            self._server = {
                "user": params["USER"],
                "password": params["PASSWORD"],
                "host": params["HOST"] or "localhost",
                "port": params["PORT"] or 5432,
            }
            server = self._server
            self.url = f"postgres://{server['user']}:{server['password']}@{server['host']}:{server['port']}/{self.name}"
            self._admin(f'CREATE DATABASE "{self.name}"')
        else:
            self.path = tmp_dir / "chaos.sqlite3"
            self.url = f"sqlite:///{self.path}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(dbname="postgres", autocommit=True, **self._server) as conn:
            conn.execute(sql)

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Rows of a read; `%s` placeholders on both databases."""
        if self.vendor == "postgresql":
            import psycopg

            with psycopg.connect(dbname=self.name, **self._server) as conn:
                return conn.execute(sql, params).fetchall()
        with sqlite3.connect(self.path, timeout=20) as conn:
            return conn.execute(sql.replace("%s", "?"), params).fetchall()

    def scalar(self, sql: str, params: tuple = ()) -> Any:
        return self.query(sql, params)[0][0]

    def write_in_progress(self) -> bool:
        """True while another connection holds an open write transaction (one that has written something)."""
        if self.vendor == "postgresql":
            return bool(
                self.scalar(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
                )
            )
        conn = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")  # takes the write lock at once, or fails: a writer holds it
            conn.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            return True
        finally:
            conn.close()

    def drop(self) -> None:
        if self.vendor == "postgresql":
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# ---------------------------------------------------------------------------------------------
# Eventscope's processes
# ---------------------------------------------------------------------------------------------
class Stack:
    """Eventscope's processes against the private services: start, stop, kill by pid, read their logs."""

    def __init__(self, env: dict[str, str], log_dir: Path, database: ChaosDatabase, kafka: PrivateKafka,
                 redis: PrivateRedis):  # fmt: skip
        self.env = env
        self.log_dir = log_dir
        self.database = database
        self.kafka = kafka
        self.redis = redis
        self.processes: dict[str, subprocess.Popen] = {}
        self.web_url = ""

    # commands ---------------------------------------------------------------------------------
    def manage(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, str(REPO / "manage.py"), *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(
                f"manage.py {' '.join(args)} exited {done.returncode}: {done.stdout[-1500:]}{done.stderr[-3000:]}"
            )
        return done

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        assert name not in self.processes or self.processes[name].poll() is not None, f"{name} is running"
        log = (self.log_dir / f"{name}.log").open("a")
        # A session of its own: stopping a process also stops what it forked (Celery's pool), by its group id.
        process = subprocess.Popen(
            argv, env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.processes[name] = process
        return process

    def stop(self, name: str, timeout: float = 30) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        # Celery's pool processes leave with their parent; anything of the group still there goes now.
        with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
            os.killpg(process.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)

    def log(self, name: str, tail: int = 4000) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def assert_running(self, *names: str) -> None:
        for name in names:
            assert self.processes[name].poll() is None, f"{name} exited: {self.log(name)}"

    # the processes --------------------------------------------------------------------------
    def start_web(self) -> str:
        port = free_port()
        self.start(
            "web",
            [str(VENV_BIN / "gunicorn"), "eventscope.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", "2", "--threads", "4", "--timeout", "120", "--access-logfile", "-"],
        )  # fmt: skip
        self.web_url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(f"{self.web_url}/healthz"), 60, "gunicorn answering /healthz")
        return self.web_url

    def start_worker(self, concurrency: int = 2) -> subprocess.Popen:
        return self.start(
            "worker",
            [str(VENV_BIN / "celery"), "-A", "eventscope", "worker", "-l", "info", "--concurrency", str(concurrency),
             "--pool", "prefork", "-n", f"chaos-{uuid.uuid4().hex[:6]}@%h", "--without-mingle", "--without-gossip"],
        )  # fmt: skip

    def start_beat(self) -> subprocess.Popen:
        return self.start(
            "beat",
            [str(VENV_BIN / "celery"), "-A", "eventscope", "beat", "-l", "info",
             "--schedule", str(self.log_dir / "celerybeat-schedule")],
        )  # fmt: skip

    def start_indexer(self, *include: str) -> subprocess.Popen:
        patterns = [arg for pattern in include for arg in ("--include", pattern)]
        return self.start(
            "indexer",
            [sys.executable, str(REPO / "manage.py"), "index_traces", *patterns, "--progress-interval", "5",
             "--batch-size", "2000", "--resolve-interval", "5"],
        )  # fmt: skip

    # HTTP -----------------------------------------------------------------------------------
    def login(self) -> requests.Session:
        """A browser-like session logged in on the login page (pages), also sending Basic (API)."""
        session = requests.Session()
        session.get(f"{self.web_url}/accounts/login/", timeout=30)
        response = session.post(
            f"{self.web_url}/accounts/login/",
            data={"username": "chaos", "password": PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
            timeout=30,
            allow_redirects=False,
        )
        assert response.status_code == 302, response.text[:2000]
        return session

    def default_cluster(self) -> tuple[int, str]:
        return tuple(self.database.query("SELECT id, name FROM catalog_cluster WHERE is_default")[0])


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="session")
def chaos_stack(tmp_path_factory) -> Iterator[Stack]:
    """Private Kafka, Redis and database, migrated and seeded; each test starts the processes it needs."""
    root = tmp_path_factory.mktemp("chaos")
    kafka = PrivateKafka(root / "kafka")
    redis = PrivateRedis(root / "redis")
    database = ChaosDatabase(root)
    stack = None
    try:
        kafka.start()
        redis.start()
        env = {key: value for key, value in os.environ.items() if key not in _SCRUBBED}
        env.update(
            DATABASE_URL=database.url,
            KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
            REDIS_URL=redis.url,
            EVENTSCOPE_RUN_DIR=str(root / "run"),
            EVENTSCOPE_SECURE_COOKIES="false",
            DJANGO_DEBUG="false",
            EVENTSCOPE_LAG_POLL_INTERVAL_S="3",
            EVENTSCOPE_KAFKA_TIMEOUT_S="5",
            EVENTSCOPE_LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        stack = Stack(env, root, database, kafka, redis)
        stack.manage("migrate", "--noinput", "-v0")
        stack.manage("seed_demo", "--username", "chaos", "--role", "admin", "--password", PASSWORD)
        yield stack
    finally:
        if stack is not None:
            stack.stop_all()
        kafka.stop()
        if redis.pidfile.exists():
            with contextlib.suppress(ProcessLookupError):  # a test left it stopped
                redis.stop()
        database.drop()
