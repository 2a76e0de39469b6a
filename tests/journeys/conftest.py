"""The `make demo` stack for the user journeys: dev/demo.sh in a subprocess, private and stopped at the end.

The stack is the real one (gunicorn, Celery worker and beat, the trace indexer, the simulator), started by
dev/demo.sh with overrides so that it never collides with a developer's running demo:

- a free web port (EVENTSCOPE_DEMO_ADDR) and a private state dir (EVENTSCOPE_RUN_DIR: logs, demo password,
  secret key, and the SQLite file, or a private PostgreSQL database `<test database>_journeys` when the suite
  runs on PostgreSQL);
- the suite's Kafka (EVENTSCOPE_DEMO_KAFKA: used as is, never started or stopped by the script) and the
  suite's Redis server, on a Redis database of its own so its worker never picks up a task another test left
  in the default queue;
- its trace indexer limited to the demo shop's topics (EVENTSCOPE_DEMO_TRACE_TOPICS=shop.*): the suite's
  broker also holds every other test's topics.

The fixture waits (bounded, with a message naming what is missing) until the data the journeys read is live:
chains indexed (a complete one and a dead-lettered one), discovery done, the lineage graph built. After the
journeys it stops the script's whole process group (TERM, then KILL) and checks nothing is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
import requests
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
DEMO_SCRIPT = ROOT / "dev" / "demo.sh"
REDIS_DB = 13  # the stack's Celery queue and caches, apart from the suite's database 0
TRACE_PATTERN = "shop.*"
# The path of an order that went all the way (event types read from the Avro and JSON payloads), and the topic
# where failed records go.
COMPLETE_PATH = ["OrderPlaced", "StockReserved", "PaymentCompleted", "ShipmentCreated", "NotificationSent"]
DEAD_LETTERS = "shop.deadletter"
START_TIMEOUT_S = 150  # until web answers: venv check, migrate, seed, collectstatic, gunicorn
LIVE_DATA_TIMEOUT_S = 150  # until chains, discovery and lineage are there
STOP_TIMEOUT_S = 45  # beyond dev/demo.sh's own 30 s grace, after which it kills (and names) what did not stop


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_url_with_db(url: str, db: int) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{db}"))


@dataclass
class DemoStack:
    base_url: str
    username: str
    password: str
    run_dir: Path
    process: subprocess.Popen
    output: Path
    database_url: str | None = None
    complete_chain: str = ""  # a correlation ID whose chain went all the way (shipped, customer told)
    dead_lettered_chain: str = ""  # one that ended on shop.deadletter
    waited: dict[str, float] = field(default_factory=dict)  # seconds per readiness stage, for the log

    # -- HTTP helpers: the API with Basic auth, pages with a session login -------------------------------
    def api(self, path: str, *, method: str = "GET", body: dict | None = None) -> tuple[int, dict]:
        response = requests.request(
            method, self.base_url + path, json=body, auth=(self.username, self.password), timeout=15
        )
        return response.status_code, response.json() if response.ok else {}

    def page_session(self) -> requests.Session:
        session = requests.Session()
        session.get(self.base_url + "/accounts/login/", timeout=15).raise_for_status()
        session.post(
            self.base_url + "/accounts/login/",
            data={
                "username": self.username,
                "password": self.password,
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            headers={"Referer": self.base_url + "/accounts/login/"},
            timeout=15,
        ).raise_for_status()
        return session

    def logs(self, lines: int = 15) -> str:
        """The last lines of the script's output and of every process's log, for a failure message."""
        chunks = []
        for path in [self.output, *sorted((self.run_dir / "demo").glob("*.log"))]:
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                chunks.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(chunks)

    def check_running(self) -> None:
        if self.process.poll() is not None:
            pytest.fail(f"dev/demo.sh exited with status {self.process.returncode}\n{self.logs()}")


def _wait_for(stack: DemoStack, what: str, probe, timeout_s: float, interval_s: float = 2.0):
    """Call probe() until it returns something truthy; fail naming `what` (and the logs) after timeout_s."""
    started = time.monotonic()
    last_error = ""
    while True:
        stack.check_running()
        try:
            result = probe()
        except (OSError, requests.RequestException, ValueError) as exc:  # web not answering yet, a bad answer
            result, last_error = None, f"{type(exc).__name__}: {exc}"
        if result:
            stack.waited[what] = round(time.monotonic() - started, 1)
            return result
        if time.monotonic() - started > timeout_s:
            pytest.fail(
                f"the demo stack did not get {what} within {timeout_s:.0f}s"
                + (f" (last error: {last_error})" if last_error else "")
                + f"\n{stack.logs()}"
            )
        time.sleep(interval_s)


def _prepare_database(env: dict[str, str]) -> str | None:
    """SQLite in the run dir, or on PostgreSQL a fresh database beside the test database. Returns its URL."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        env.pop("DATABASE_URL", None)  # the default: <EVENTSCOPE_RUN_DIR>/eventscope.sqlite3
        return None
    import psycopg

    name = f"{os.environ.get('DATABASE_URL', '').rsplit('/', 1)[-1].split('?')[0] or 'eventscope'}_journeys"
    connection = psycopg.connect(
        dbname="postgres",
        user=database["USER"],
        password=database["PASSWORD"],
        host=database["HOST"] or "127.0.0.1",
        port=database["PORT"] or 5432,
        autocommit=True,
    )
    with connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    auth = f"{urllib.parse.quote(database['USER'])}:{urllib.parse.quote(database['PASSWORD'])}"
    url = f"postgres://{auth}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/{name}"
    env["DATABASE_URL"] = url
    return url


def _drop_database(url: str) -> None:
    import psycopg

    parts = urllib.parse.urlsplit(url)
    with psycopg.connect(
        dbname="postgres",
        user=urllib.parse.unquote(parts.username or ""),
        password=urllib.parse.unquote(parts.password or ""),
        host=parts.hostname,
        port=parts.port,
        autocommit=True,
    ) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


def _group_processes(pgid: int) -> list[str]:
    """The processes still in a process group: 'pid command' lines."""
    alive = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            # pgrp is the 5th field, after the parenthesised command (which may contain spaces).
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                alive.append(f"{proc.name} {cmdline[:120]}")
        except (OSError, IndexError, ValueError):  # the process ended while we looked
            continue
    return alive


def _stop(process: subprocess.Popen) -> list[str]:
    """TERM the script's process group (the script's trap stops its children), wait, KILL what is left.
    Returns what was still alive after TERM (empty when the stop was clean)."""
    pgid = process.pid  # start_new_session: the script leads its own group, every child is in it
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return []
    with contextlib.suppress(subprocess.TimeoutExpired):  # then look at the group itself
        process.wait(timeout=STOP_TIMEOUT_S)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _group_processes(pgid) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = _group_processes(pgid)
    if left:
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.killpg(pgid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_S)
    return left


def _find_chains(stack: DemoStack) -> bool:
    """A complete chain through every step and a dead-lettered one, from the flows the indexer built."""
    status, flows = stack.api("/api/v1/flows/?window=1h")
    if status != 200:
        return False
    for flow in flows["results"]:
        if flow["complete"] and flow["signature"] == COMPLETE_PATH:
            stack.complete_chain = flow["examples"][0]
        if flow["dead_lettered"] and flow["signature"][0] == "OrderPlaced" and flow["signature"][-1] == DEAD_LETTERS:
            stack.dead_lettered_chain = flow["examples"][0]
    return bool(stack.complete_chain and stack.dead_lettered_chain)


def _discovered(stack: DemoStack, since: str) -> bool:
    """A discovery run started after `since` succeeded and found the shop's consumer groups."""
    status, cluster = stack.api("/api/v1/clusters/default/")
    if status != 200 or cluster["last_run_status"] != "succeeded" or not cluster["last_run_started_at"]:
        return False
    if since and datetime.fromisoformat(cluster["last_run_started_at"]) <= datetime.fromisoformat(since):
        return False
    status, groups = stack.api("/api/v1/consumer-groups/?search=shop.shipping")
    return status == 200 and groups["count"] >= 1


def _lineage_built(stack: DemoStack, session: requests.Session) -> bool:
    """The graph has the shop's services and their consumer groups (refreshed after the first discovery)."""
    html = session.get(stack.base_url + "/lineage/?focus=service:payments", timeout=30).text
    return 'value="service:payments"' in html and 'value="group:default/shop.shipping"' in html


@pytest.fixture(scope="package")  # stopped after the journeys: the rest of the suite runs without it
def demo_stack(kafka_bootstrap, redis_url, tmp_path_factory) -> DemoStack:
    run_dir = tmp_path_factory.mktemp("demo-run")
    port = _free_port()
    env = {
        **os.environ,
        "EVENTSCOPE_RUN_DIR": str(run_dir),
        "EVENTSCOPE_DEMO_ADDR": f"127.0.0.1:{port}",
        "EVENTSCOPE_DEMO_KAFKA": kafka_bootstrap,
        "EVENTSCOPE_DEMO_RATE": "10",
        "EVENTSCOPE_DEMO_TRACE_TOPICS": TRACE_PATTERN,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "REDIS_URL": _redis_url_with_db(redis_url, REDIS_DB),
        "DJANGO_DEBUG": "false",
        "EVENTSCOPE_SECURE_COOKIES": "false",  # plain http on loopback
    }
    for name in ("DJANGO_SECRET_KEY", "EVENTSCOPE_ANONYMOUS_READ", "DJANGO_ALLOW_ASYNC_UNSAFE"):
        env.pop(name, None)
    database_url = _prepare_database(env)

    output = run_dir / "demo.out"
    with output.open("wb") as out:
        process = subprocess.Popen(
            ["bash", str(DEMO_SCRIPT)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    stack = DemoStack(
        base_url=f"http://127.0.0.1:{port}",
        username="demo",
        password="",
        run_dir=run_dir,
        process=process,
        output=output,
        database_url=database_url,
    )
    try:
        password_file = run_dir / "demo-password"
        _wait_for(
            stack,
            "the web server up",
            lambda: "Eventscope is running" in output.read_text(errors="replace") and password_file.exists(),
            START_TIMEOUT_S,
            interval_s=1.0,
        )
        stack.password = password_file.read_text().strip()
        _wait_for(
            stack, "a complete and a dead-lettered chain indexed", lambda: _find_chains(stack), LIVE_DATA_TIMEOUT_S
        )
        # The shop's consumer groups exist now (they consumed the chains): "Sync now" instead of waiting for the
        # beat's first discovery a minute after start.
        _, cluster = stack.api("/api/v1/clusters/default/")
        status, _ = stack.api("/api/v1/clusters/default/sync/", method="POST", body={})
        assert status in (200, 202), f"sync now answered {status}"
        since = cluster["last_run_started_at"] or ""
        _wait_for(
            stack, "a discovery run with the shop's groups", lambda: _discovered(stack, since), LIVE_DATA_TIMEOUT_S
        )
        session = stack.page_session()
        _wait_for(stack, "the lineage graph built", lambda: _lineage_built(stack, session), LIVE_DATA_TIMEOUT_S)
        print(f"demo stack at {stack.base_url} ready; waited {stack.waited}")
        yield stack
    finally:
        left = _stop(process)
        if database_url:
            _drop_database(database_url)
        assert not left, f"demo processes still running after TERM (killed): {left}"
        killed = [line for line in output.read_text(errors="replace").splitlines() if "did not stop within" in line]
        assert not killed, f"dev/demo.sh had to kill what did not stop on TERM: {killed}"
        assert _group_processes(process.pid) == [], "demo processes left running"
