"""Run the benchmarks and write their results.

    python -m benchmarks.run              # every benchmarks/bench_<name>.py
    python -m benchmarks.run NAME ...     # only these (NAME without the bench_ prefix)
    python -m benchmarks.run --list

Each benchmark's result goes to `benchmarks/results/<name>.json` together with a description of
the machine it ran on. `summary.json` and `REPORT.md` (a Markdown table: benchmark, figure,
baseline, ratio) then cover the latest result of every benchmark that has one, so re-running a
single benchmark refreshes its row without dropping the others; each row keeps its own timestamp.

Exit codes: 0 all ran, 1 a benchmark failed (the others still run, and the failure is recorded in
its JSON and in the table), 2 usage error such as an unknown name.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import pkgutil
import platform
import signal
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
PREFIX = "bench_"
DEFAULT_RESULTS_DIR = PACKAGE_DIR / "results"


def discover() -> list[str]:
    """Names (without the `bench_` prefix) of the benchmark modules, sorted."""
    # iter_modules only lists the files: nothing is imported until Django is set up.
    return sorted(
        info.name.removeprefix(PREFIX)
        for info in pkgutil.iter_modules([str(PACKAGE_DIR)])
        if info.name.startswith(PREFIX) and not info.ispkg
    )


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on: they are only comparable on the same kind of machine."""
    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass  # not Linux: the platform string below still says what it is
    memory_bytes = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_bytes = int(line.split()[1]) * 1024  # the kernel reports kB
                break
    except (OSError, ValueError, IndexError):
        pass
    try:
        # Fewer than cpu_count when the process is pinned (containers, taskset).
        usable_cpus: int | None = len(os.sched_getaffinity(0))
    except AttributeError:
        usable_cpus = None
    return {
        "cpu_count": os.cpu_count(),
        "cpu_count_usable": usable_cpus,
        "cpu_model": cpu_model or platform.processor() or None,
        "memory_bytes": memory_bytes,
        "memory_gib": round(memory_bytes / 2**30, 1) if memory_bytes else None,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "timestamp": _now(),
    }


def run_one(name: str) -> dict[str, Any]:
    """Import and run one benchmark; a failure becomes an `error` record, never an exception."""
    started = time.perf_counter()
    record: dict[str, Any] = {"benchmark": name, "started_at": _now()}
    try:
        module = importlib.import_module(f"{__package__ or 'benchmarks'}.{PREFIX}{name}")
        result = module.run()
        if not isinstance(result, dict):
            raise TypeError(f"run() returned {type(result).__name__}, expected a dict")
        # Serialise now so that a value JSON cannot hold is this benchmark's error, not a crash
        # of the runner while writing the summary.
        json.dumps(result)
    except Exception as exc:  # any failure is reported, and the other benchmarks still run
        record.update(
            status="error",
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
        )
    else:
        record.update(status="ok", result=result)
    record["duration_s"] = round(time.perf_counter() - started, 3)
    return record


def write_results(records: Sequence[dict[str, Any]], machine: dict[str, Any], results_dir: Path) -> None:
    """Write one JSON per benchmark of this run, then rebuild summary.json and REPORT.md."""
    results_dir.mkdir(parents=True, exist_ok=True)
    for record in records:
        _write_json(results_dir / f"{record['benchmark']}.json", {**record, "machine": machine})

    # The summary covers every benchmark that still exists and has a result, this run's or older.
    latest = []
    for name in discover():
        path = results_dir / f"{name}.json"
        if path.is_file():
            try:
                latest.append(json.loads(path.read_text()))
            except (OSError, ValueError) as exc:
                latest.append({"benchmark": name, "status": "error", "error": f"unreadable result file: {exc}"})
    _write_json(results_dir / "summary.json", {"generated_at": _now(), "machine": machine, "benchmarks": latest})
    (results_dir / "REPORT.md").write_text(render_report(latest, machine))


def render_report(records: Sequence[dict[str, Any]], machine: dict[str, Any]) -> str:
    """The Markdown table of REPORT.md: one row per benchmark."""
    memory = f", {machine['memory_gib']} GiB" if machine.get("memory_gib") else ""
    lines = [
        "# Benchmark report",
        "",
        f"Generated {machine['timestamp']} on {machine.get('cpu_count')} CPUs "
        f"({machine.get('cpu_model') or 'unknown model'}){memory}, Python {machine['python']}.",
        "Each ratio is measured against a baseline run on the same machine in the same run.",
        "",
        "| benchmark | figure | baseline | ratio | status | measured at |",
        "|---|---|---|---|---|---|",
    ]
    for record in records:
        result = record.get("result") or {}
        if record.get("status") == "ok":
            status = "ok"
        else:
            status = "**failed**: " + _escape(record.get("error", "unknown error"))
        ratio = result.get("ratio")
        ratio_cell = f"{_number(ratio)}x" if isinstance(ratio, int | float) else _cell(ratio)
        if result.get("ratio_note"):
            ratio_cell += f" ({_escape(str(result['ratio_note']))})"
        lines.append(
            f"| {record['benchmark']} | {_cell(result.get('figure'))} | {_cell(result.get('baseline'))} "
            f"| {ratio_cell} | {status} | {record.get('started_at', '')} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR, help="where to write results")
    args = parser.parse_args(argv)  # exits 2 on a malformed command line

    available = discover()
    if args.list:
        print("\n".join(available))
        return 0
    # A name given twice runs once; `bench_x` is accepted for `x`.
    names = list(dict.fromkeys(name.removeprefix(PREFIX) for name in args.names)) or available
    unknown = [name for name in names if name not in available]
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available) or 'none'}",
            file=sys.stderr,
        )
        return 2
    if not names:
        print("no benchmarks found (benchmarks/bench_<name>.py)", file=sys.stderr)
        return 2

    # Benchmarks may use the ORM and project modules, which need configured settings on import.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventscope.settings")
    import django

    django.setup()

    # A benchmark cleans up in `finally` (brokers it started, temp dirs). Python's default for
    # SIGTERM ends the process without running those, so turn it into an exit that unwinds.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)

    machine = machine_info()
    records = []
    for index, name in enumerate(names, start=1):
        _progress(f"[{index}/{len(names)}] {name}: started at {_now()}")
        record = run_one(name)
        records.append(record)
        if record["status"] == "ok":
            _progress(f"[{index}/{len(names)}] {name}: ok in {record['duration_s']:.1f}s")
        else:
            _progress(f"[{index}/{len(names)}] {name}: FAILED in {record['duration_s']:.1f}s\n{record['traceback']}")
    write_results(records, machine, args.results_dir)

    failed = [record["benchmark"] for record in records if record["status"] != "ok"]
    _progress(f"results in {args.results_dir} (REPORT.md, summary.json)")
    if failed:
        _progress(f"{len(failed)} of {len(records)} failed: {', '.join(failed)}")
        return 1
    return 0


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _progress(message: str) -> None:
    # stderr, so stdout stays clean for --list and for anyone piping the runner.
    print(message, file=sys.stderr, flush=True)


def _write_json(path: Path, data: Any) -> None:
    # Write then rename: an interrupted run never leaves a truncated result behind.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


def _number(value: float) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _cell(value: Any) -> str:
    """A figure or baseline as table text: {"label", "value", "unit"}, a number, or a string."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        number = value.get("value")
        text = _number(number) if isinstance(number, int | float) else str(number if number is not None else "-")
        if value.get("unit"):
            text += f" {value['unit']}"
        if value.get("label"):
            text = f"{value['label']}: {text}"
        return _escape(text)
    if isinstance(value, int | float):
        return _number(value)
    return _escape(str(value))


def _escape(text: str) -> str:
    # A pipe or newline would break the Markdown table row.
    return text.replace("|", "\\|").replace("\n", " ")


if __name__ == "__main__":
    sys.exit(main())
