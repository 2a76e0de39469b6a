"""How long `dev/kafka.sh start` takes with the jars already cached, against a bare JVM start.

The broker that tests and the demo wait for is started by `dev/kafka.sh start`, which returns once
the broker answers a metadata request. This benchmark starts a second, throw-away broker with its
own state dir in a temporary directory and a free port (so the developer's broker on 9092 is left
alone), times `start` until it returns, stops it, and repeats. The first repetition also formats
the storage (two extra JVM runs of StorageTool); the later ones reuse it, as a developer's
restarts do.

The baseline is the floor under any of this: a bare JVM on the same classpath running
`kafka.tools.StorageTool random-uuid` (the first command `start` itself runs on a fresh state
dir), timed the same way. The ratio says how many bare JVM starts one broker start costs.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KAFKA_SH = ROOT / "dev" / "kafka.sh"
REPETITIONS = 3
# Well above kafka.sh's own start timeout (90 s), so the script's clean failure path (it stops
# the broker and exits 1) is what we see rather than our kill.
COMMAND_TIMEOUT_S = 180


def run() -> dict[str, Any]:
    """Time REPETITIONS broker starts and as many bare JVM starts; always stop the brokers."""
    libs = _libs_dir()
    state_dir = Path(tempfile.mkdtemp(prefix="eventscope-bench-kafka-"))
    env = {
        **os.environ,
        "EVENTSCOPE_KAFKA_DIR": str(state_dir),
        # kafka.sh would take 9092 if it were free; an explicit free port keeps this broker off the
        # developer's address whether or not their broker is running right now.
        "EVENTSCOPE_KAFKA_PORT": str(_free_port()),
    }
    try:
        # Not timed: make sure the jars are cached, so the runs below measure starting only.
        _kafka_sh("fetch", env)
        starts = []
        for repetition in range(1, REPETITIONS + 1):
            formats_storage = not (state_dir / "data" / "meta.properties").exists()
            try:
                seconds, output = _timed(["bash", str(KAFKA_SH), "start"], env)
            except BaseException:
                # A start that failed half-way may have left a broker behind. Stop without checking,
                # so that the start's own error is the one reported.
                _kafka_sh("stop", env, check=False)
                raise
            stop_seconds, _ = _timed(["bash", str(KAFKA_SH), "stop"], env)
            starts.append(
                {
                    "repetition": repetition,
                    "seconds": round(seconds, 3),
                    "formatted_storage": formats_storage,
                    "bootstrap": output.strip().splitlines()[-1] if output.strip() else None,
                    "stop_seconds": round(stop_seconds, 3),
                }
            )

        # The baseline runs after the brokers are gone, so neither competes with the other for CPU.
        java = os.environ.get("JAVA", "java")
        jvm_runs = [
            round(_timed([java, "-cp", f"{libs}/*", "kafka.tools.StorageTool", "random-uuid"], env)[0], 3)
            for _ in range(REPETITIONS)
        ]
    finally:
        _kafka_sh("stop", env, check=False)
        shutil.rmtree(state_dir, ignore_errors=True)

    start_seconds = [start["seconds"] for start in starts]
    warm_seconds = [start["seconds"] for start in starts if not start["formatted_storage"]]
    start_median = statistics.median(start_seconds)
    jvm_median = statistics.median(jvm_runs)
    return {
        "figure": {"label": f"broker start, median of {REPETITIONS}", "value": start_median, "unit": "s"},
        "baseline": {"label": "bare JVM (StorageTool random-uuid), median", "value": jvm_median, "unit": "s"},
        "ratio": round(start_median / jvm_median, 2),
        "ratio_note": "broker start / bare JVM start",
        "starts": starts,
        "start_min_s": min(start_seconds),
        "start_median_s": start_median,
        # Without the storage format: what a developer's restart costs.
        "warm_start_median_s": statistics.median(warm_seconds) if warm_seconds else None,
        "jvm_start_s": jvm_runs,
        "jvm_start_min_s": min(jvm_runs),
        "jvm_start_median_s": jvm_median,
        "kafka_version": _kafka_version(),
        "java": _java_version(),
        "jar_count": len(list(libs.glob("*.jar"))),
    }


def _kafka_version() -> str:
    # kafka.sh is the single source of the version; reading it keeps the two from drifting.
    match = re.search(r"^KAFKA_VERSION=(\S+)$", KAFKA_SH.read_text(), re.MULTILINE)
    if not match:
        raise RuntimeError(f"no KAFKA_VERSION= line in {KAFKA_SH}")
    return match.group(1)


def _libs_dir() -> Path:
    """The cached jars, where kafka.sh keeps them (same defaults, same variable)."""
    cache = Path(os.environ.get("EVENTSCOPE_CACHE_DIR") or Path.home() / ".cache" / "eventscope")
    return cache / f"kafka-{_kafka_version()}" / "libs"


def _java_version() -> str:
    java = os.environ.get("JAVA", "java")
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    return (result.stderr or result.stdout).splitlines()[0] if (result.stderr or result.stdout) else "unknown"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _kafka_sh(command: str, env: dict[str, str], *, check: bool = True) -> None:
    subprocess.run(
        ["bash", str(KAFKA_SH), command],
        env=env,
        check=check,
        capture_output=True,
        timeout=COMMAND_TIMEOUT_S if command != "fetch" else None,  # a first fetch downloads jars
    )


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall-clock seconds until the command returns, and its stdout; raises when it fails."""
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()[-2000:] or result.stdout.strip()}"
        )
    return elapsed, result.stdout
