"""Schema registry benchmarks: the hot read path under gunicorn, idempotent registration, a big check.

1. `GET /registry/schemas/ids/{id}` (what every consumer asks once per schema id, with HTTP Basic
   credentials as Confluent's clients send them) against the trivial `/healthz` on the same
   gunicorn (2 workers, a fresh migrated SQLite file) in the same run. Goal: at least 1,500 req/s
   and 70% of the trivial endpoint. `GET /registry/` (the registry's stack doing nothing) is
   measured too, as the floor of what the schema lookup can cost.
2. Registering an already registered schema (every producer start) against a plain lookup of it
   (`POST /subjects/{s}`), on the same server.
3. A FULL_TRANSITIVE check of a 200-field Avro schema against 100 versions (goal: under 200 ms),
   against the same check at FULL (latest version only).

Load comes from `wrk` (Debian's package) when it is installed, else from a pool of Python threads
with keep-alive sessions; either way bounded in time or count, against loopback only.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from django.conf import settings

from schemas.compatibility import CompatibilityLevel, ParsedSchema, SchemaType
from schemas.compatibility.levels import check_compatibility

WORKERS = 2
CONNECTIONS = 8
WRK_SECONDS = 5
PYTHON_REQUESTS = 3000  # per measurement, when wrk is missing
ROUNDS = 3  # alternating rounds; the median of each endpoint is reported
SUBJECT = "bench-orders-value"
USER, PASSWORD = "bench", "bench-pass-1234"
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"

BASE_FIELDS = 100
VERSIONS = 100
_FIELD_TYPES: list[Any] = [
    "long",
    "string",
    "double",
    "boolean",
    {"type": "array", "items": "string"},
    {"type": "map", "values": "long"},
    ["null", "string"],
    {"type": "enum", "name": "Status{n}", "symbols": ["NEW", "PAID", "SHIPPED"]},
]

# Runs in a child process against the benchmark's own database: built through the same services
# that production uses.
_SETUP_SCRIPT = """
import sys
import django
django.setup()
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from schemas import services
call_command("migrate", verbosity=0)
user = User.objects.create_user(sys.argv[1], password=sys.argv[2])
user.groups.add(Group.objects.get(name="editor"))
print(services.subject_register_version(subject=sys.argv[3], schema_text=sys.argv[4]).schema_id)
"""


def run() -> dict[str, Any]:
    check = full_transitive_check()
    with registry_server() as server:
        by_id_url = f"/registry/schemas/ids/{server.schema_id}"
        rounds: dict[str, list[float]] = {"healthz": [], "by_id": [], "root": [], "lookup": [], "register": []}
        for _ in range(ROUNDS):
            rounds["healthz"].append(server.throughput("GET", "/healthz", authenticated=False))
            rounds["by_id"].append(server.throughput("GET", by_id_url))
            # The floor of the registry's own stack (authentication, DRF, rendering) doing nothing.
            rounds["root"].append(server.throughput("GET", "/registry/"))
        body = json.dumps({"schema": order_schema(0)})
        for _ in range(ROUNDS):
            rounds["lookup"].append(server.throughput("POST", f"/registry/subjects/{SUBJECT}", body=body))
            rounds["register"].append(server.throughput("POST", f"/registry/subjects/{SUBJECT}/versions", body=body))
        generator = server.generator

    rate = {name: round(statistics.median(values), 1) for name, values in rounds.items()}
    ratio = round(rate["by_id"] / rate["healthz"], 3)
    return {
        "figure": {"label": "GET /registry/schemas/ids/{id}", "value": rate["by_id"], "unit": "req/s"},
        "baseline": {"label": "GET /healthz", "value": rate["healthz"], "unit": "req/s"},
        "ratio": ratio,
        "ratio_note": f"goal >= 0.7 and >= 1500 req/s; {generator}, {WORKERS} gunicorn workers",
        "goal_met": rate["by_id"] >= 1500 and ratio >= 0.7,
        # /healthz opens a database connection and runs a query on every request (SQLite keeps no
        # connection between requests); a cached schema by id needs neither, so it can beat it.
        "registry_root_req_per_s": rate["root"],
        "by_id_vs_registry_root": round(rate["by_id"] / rate["root"], 3),
        "rounds_req_per_s": rounds,
        "idempotent_register": {
            "figure": {"label": "POST /subjects/{s}/versions, already registered", "value": rate["register"]},
            "baseline": {"label": "POST /subjects/{s} (lookup)", "value": rate["lookup"]},
            "ratio": round(rate["register"] / rate["lookup"], 3),
            "unit": "req/s",
        },
        "full_transitive_check": check,
        "load_generator": generator,
        "connections": CONNECTIONS,
    }


# ---------------------------------------------------------------------------------------------
# The FULL_TRANSITIVE check (pure: the format modules, no database)
# ---------------------------------------------------------------------------------------------
def order_schema(optional_fields: int) -> str:
    """BASE_FIELDS required fields of mixed types plus `optional_fields` fields with defaults."""
    fields: list[dict[str, Any]] = []
    for n in range(BASE_FIELDS):
        kind = _FIELD_TYPES[n % len(_FIELD_TYPES)]
        if isinstance(kind, dict) and kind.get("type") == "enum":
            kind = {**kind, "name": kind["name"].format(n=n)}
        fields.append({"name": f"field_{n}", "type": kind, "doc": f"Field {n}."})
    fields += [{"name": f"extra_{n}", "type": ["null", "string"], "default": None} for n in range(optional_fields)]
    return json.dumps({"type": "record", "name": "Order", "namespace": "bench", "fields": fields})


def full_transitive_check(repeats: int = 5) -> dict[str, Any]:
    # Versions 1..100 grow by optional fields (100..199 fields), the new one has 200: compatible
    # in both directions with every version, so every pair is checked in full.
    previous = [ParsedSchema(SchemaType.AVRO, order_schema(k)) for k in range(VERSIONS)]
    new = ParsedSchema(SchemaType.AVRO, order_schema(VERSIONS))
    numbers = list(range(1, VERSIONS + 1))

    def timed(level: CompatibilityLevel) -> float:
        started = time.perf_counter()
        problems = check_compatibility(new, previous, level, numbers)
        elapsed = (time.perf_counter() - started) * 1000
        if problems:
            raise AssertionError(f"the benchmark schemas should be compatible: {problems[:3]}")
        return elapsed

    first_transitive = timed(CompatibilityLevel.FULL_TRANSITIVE)
    transitive = [timed(CompatibilityLevel.FULL_TRANSITIVE) for _ in range(repeats)]
    latest_only = [timed(CompatibilityLevel.FULL) for _ in range(repeats)]
    median_transitive = statistics.median(transitive)
    return {
        "figure": {"label": "FULL_TRANSITIVE, 200 fields x 100 versions, median", "value": round(median_transitive, 1)},
        "baseline": {"label": "FULL (latest version only), median", "value": round(statistics.median(latest_only), 2)},
        "ratio": round(median_transitive / statistics.median(latest_only), 1),
        "first_run_ms": round(first_transitive, 1),
        "unit": "ms",
        "goal_ms": 200,
        "goal_met": max(first_transitive, median_transitive) < 200,
    }


# ---------------------------------------------------------------------------------------------
# A gunicorn serving the project on a fresh SQLite file
# ---------------------------------------------------------------------------------------------
@dataclass
class RegistryServer:
    base_url: str
    schema_id: int
    work_dir: Path
    generator: str

    def throughput(self, method: str, path: str, *, body: str | None = None, authenticated: bool = True) -> float:
        """Requests per second of one endpoint; every answer must be a 200."""
        headers = {"Accept": CONTENT_TYPE}
        if authenticated:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if body is not None:
            headers["Content-Type"] = CONTENT_TYPE
        self._warm_up(method, path, headers, body)
        if shutil.which("wrk"):
            return self._wrk(method, path, headers, body)
        return self._python_load(method, path, headers, body)

    def _warm_up(self, method: str, path: str, headers: dict[str, str], body: str | None) -> None:
        # Each worker fills its caches (credentials, schema by id) before the measurement.
        with requests.Session() as session:
            for _ in range(WORKERS * 10):
                response = session.request(method, self.base_url + path, headers=headers, data=body, timeout=30)
                response.raise_for_status()

    def _wrk(self, method: str, path: str, headers: dict[str, str], body: str | None) -> float:
        script = self.work_dir / "request.lua"
        lines = [f"wrk.method = {json.dumps(method)}"]
        if body is not None:
            lines.append(f"wrk.body = {json.dumps(body)}")
        lines += [f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}" for name, value in headers.items()]
        script.write_text("\n".join(lines) + "\n")
        finished = subprocess.run(
            ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{WRK_SECONDS}s", "-s", str(script), self.base_url + path],
            capture_output=True,
            text=True,
            timeout=WRK_SECONDS + 60,
            check=True,
        )
        if "Non-2xx or 3xx responses" in finished.stdout or "Socket errors" in finished.stdout:
            raise RuntimeError(f"wrk saw failed requests on {path}:\n{finished.stdout}")
        match = re.search(r"Requests/sec:\s+([\d.]+)", finished.stdout)
        if match is None:
            raise RuntimeError(f"unexpected wrk output:\n{finished.stdout}")
        return float(match.group(1))

    def _python_load(self, method: str, path: str, headers: dict[str, str], body: str | None) -> float:
        local = threading.local()
        url = self.base_url + path

        def one(_: int) -> None:
            session = getattr(local, "session", None)
            if session is None:
                session = local.session = requests.Session()
            response = session.request(method, url, headers=headers, data=body, timeout=30)
            if response.status_code != 200:
                raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.text[:200]}")

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=CONNECTIONS) as pool:
            list(pool.map(one, range(PYTHON_REQUESTS)))
        return PYTHON_REQUESTS / (time.perf_counter() - started)


@contextlib.contextmanager
def registry_server() -> Iterator[RegistryServer]:
    """gunicorn with the project's WSGI app on a free loopback port, a user and one schema; stopped after."""
    work_dir = Path(tempfile.mkdtemp(prefix="eventscope-bench-registry-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "eventscope.settings",
        "DATABASE_URL": f"sqlite:///{work_dir / 'registry.sqlite3'}",
        "EVENTSCOPE_RUN_DIR": str(work_dir / "run"),
        "DJANGO_DEBUG": "false",
        "EVENTSCOPE_LOG_LEVEL": "WARNING",
    }
    server: subprocess.Popen | None = None
    try:
        setup = subprocess.run(
            [sys.executable, "-c", _SETUP_SCRIPT, USER, PASSWORD, SUBJECT, order_schema(0)],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        schema_id = int(setup.stdout.strip().splitlines()[-1])
        port = _free_port()
        log_path = work_dir / "gunicorn.log"
        with log_path.open("w") as log:  # the child keeps its own copy of the descriptor
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "eventscope.wsgi:application",
                    f"--bind=127.0.0.1:{port}",
                    f"--workers={WORKERS}",
                    "--log-level=warning",
                ],
                cwd=settings.BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        base_url = f"http://127.0.0.1:{port}"
        _wait_until_healthy(base_url, server, log_path)
        generator = "wrk" if shutil.which("wrk") else f"python threads ({PYTHON_REQUESTS} requests per measurement)"
        yield RegistryServer(base_url, schema_id, work_dir, generator)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=15)
        shutil.rmtree(work_dir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_healthy(base_url: str, server: subprocess.Popen, log_path: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if requests.get(base_url + "/healthz", timeout=10).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or a worker still importing the project
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer /healthz within {timeout_s} s:\n{log_path.read_text()[-3000:]}")
