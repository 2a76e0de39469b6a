"""Run the benchmarks and write their results.

    python -m benchmarks.run              # every benchmarks/bench_<name>.py
    python -m benchmarks.run NAME ...     # only these (NAME without the bench_ prefix)
    python -m benchmarks.run --list

Each benchmark's result goes to `benchmarks/results/<name>.json` together with a description of
the machine it ran on. `summary.json` and `REPORT.md` (a Markdown table: benchmark, figure,
baseline, ratio) then cover the latest result of every benchmark that has one, so re-running a
single benchmark refreshes its row without dropping the others; each row keeps its own timestamp.

REPORT.md starts with the machine (CPU, cores, memory, OS, Python, Kafka, database, load average) and the
date; `--note TEXT` (or EVENTSCOPE_BENCH_NOTE) adds a remark such as what else was running.

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
    try:
        load_average: list[float] | None = [round(value, 2) for value in os.getloadavg()]
    except OSError:
        load_average = None
    return {
        "cpu_count": os.cpu_count(),
        "cpu_count_usable": usable_cpus,
        "cpu_model": cpu_model or platform.processor() or None,
        "memory_bytes": memory_bytes,
        "memory_gib": round(memory_bytes / 2**30, 1) if memory_bytes else None,
        "os": _os_name(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "kafka": _kafka_version(),
        "librdkafka": _librdkafka_version(),
        "database": _database_description(),
        "load_average": load_average,
        "timestamp": _now(),
    }


def _os_name() -> str:
    """The distribution's name (/etc/os-release), else the kernel's."""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass  # not a Linux distribution: platform.system() below
    return f"{platform.system()} {platform.release()}"


def _kafka_version() -> str | None:
    """The Apache Kafka release the local brokers run (dev/kafka.sh fetches and starts it)."""
    try:
        for line in (PACKAGE_DIR.parent / "dev" / "kafka.sh").read_text().splitlines():
            if line.startswith("KAFKA_VERSION="):
                return f"Apache Kafka {line.split('=', 1)[1].strip()} (KRaft, one node, dev/kafka.sh)"
    except OSError:
        pass  # a checkout without dev/: the version is unknown
    return None


def _librdkafka_version() -> str | None:
    try:
        import confluent_kafka  # benchmarks may use the client directly (baselines)
    except ImportError:
        return None
    return f"librdkafka {confluent_kafka.libversion()[0]}, confluent-kafka {confluent_kafka.__version__}"


def _database_description() -> str | None:
    """The configured database's kind and version (benchmarks build scratch databases of that kind)."""
    try:
        from django.db import connection

        if connection.vendor == "sqlite":
            import sqlite3

            return f"SQLite {sqlite3.sqlite_version}"
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SHOW server_version")
                return f"PostgreSQL {cursor.fetchone()[0]}"
        return connection.display_name
    except Exception as exc:  # Django not set up, or the database is down: the report says so
        return f"unknown ({type(exc).__name__}: {exc})"


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


def write_results(
    records: Sequence[dict[str, Any]], machine: dict[str, Any], results_dir: Path, *, note: str | None = None
) -> None:
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
    _write_json(
        results_dir / "summary.json",
        {"generated_at": _now(), "machine": machine, "note": note, "benchmarks": latest},
    )
    (results_dir / "REPORT.md").write_text(render_report(latest, machine, note=note))


def rebuild_report(results_dir: Path, *, note: str | None = None) -> int:
    """Rewrite REPORT.md from the result files, with the machine that summary.json recorded."""
    try:
        summary = json.loads((results_dir / "summary.json").read_text())
    except (OSError, ValueError) as exc:
        print(f"no readable {results_dir / 'summary.json'} ({exc}): run the benchmarks first", file=sys.stderr)
        return 2
    records = []
    for name in discover():
        path = results_dir / f"{name}.json"
        if path.is_file():
            records.append(json.loads(path.read_text()))
    note = note or summary.get("note")
    (results_dir / "REPORT.md").write_text(render_report(records, summary["machine"], note=note))
    _progress(f"rewrote {results_dir / 'REPORT.md'} from {len(records)} results")
    return 0


def render_report(records: Sequence[dict[str, Any]], machine: dict[str, Any], *, note: str | None = None) -> str:
    """REPORT.md: the machine, then one row per benchmark (our figure, its baseline, the ratio).

    Pure: the records (as `run_one` makes them, each possibly with the `machine` it ran on) and the
    machine of this run in, Markdown out. A row measured on another machine (an older result kept
    because only some benchmarks were re-run) is marked, since ratios only compare on one machine.
    """
    lines = [
        "# Benchmark report",
        "",
        f"`make bench` on {_date(machine.get('timestamp'))}. Each ratio is our figure divided by a baseline "
        "measured on the same machine in the same run (a raw client loop, Kafka's own tools, kcat, a trivial "
        "endpoint), so it compares across machines better than the absolute figures do.",
        "",
        "| machine | |",
        "|---|---|",
        f"| CPU | {_escape(str(machine.get('cpu_model') or 'unknown model'))}, {_cores(machine)} |",
        f"| memory | {machine['memory_gib']} GiB |" if machine.get("memory_gib") else "| memory | unknown |",
        f"| OS | {_escape(str(machine.get('os') or machine.get('platform') or 'unknown'))} |",
        f"| Python | {machine.get('python', 'unknown')} ({machine.get('python_implementation', '')}) |",
        f"| Kafka | {_escape(_join(machine.get('kafka'), machine.get('librdkafka')))} |",
        f"| database | {_escape(str(machine.get('database') or 'unknown'))} |",
    ]
    load = machine.get("load_average")
    if load:
        lines.append(f"| load average at start | {' / '.join(f'{value:g}' for value in load)} (1, 5, 15 min) |")
    lines.append("")
    notes = [note] if note else []
    cpus = machine.get("cpu_count_usable") or machine.get("cpu_count")
    if load and cpus and load[0] > 0.5 * cpus:
        notes.append(
            f"The machine was busy when the run started (load average {load[0]:g} on {cpus} CPUs): the figures are "
            "pessimistic; run `make bench` on a quiet machine for figures to quote."
        )
    for index, text in enumerate(notes):
        lines += [">"] * bool(index) + [f"> {_escape(text)}"]  # one paragraph each
    if notes:
        lines.append("")

    lines += [
        "| benchmark | size | our figure | baseline | ratio | ratio means | status | took | measured at |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    elsewhere = []
    for record in records:
        result = record.get("result") or {}
        name = str(record.get("benchmark", "?"))
        if record.get("machine") and not _same_machine(record["machine"], machine):
            elsewhere.append(name)
            name += " †"
        status = (
            "ok" if record.get("status") == "ok" else "**failed**: " + _escape(record.get("error", "unknown error"))
        )
        ratio = result.get("ratio")
        ratio_cell = (
            f"{_number(ratio)}x" if isinstance(ratio, int | float) and not isinstance(ratio, bool) else _cell(ratio)
        )
        took = record.get("duration_s")
        took_cell = _duration(took) if isinstance(took, int | float) else "-"
        lines.append(
            f"| {_escape(name)} | {_escape(_size(result))} | {_cell(result.get('figure'))} "
            f"| {_cell(result.get('baseline'))} | {ratio_cell} "
            f"| {_escape(str(result.get('ratio_note') or '-'))} | {status} | {took_cell} "
            f"| {_escape(str(record.get('started_at', '-')))} |"
        )
    if elsewhere:
        lines += [
            "",
            f"† measured in an earlier run on another machine ({', '.join(elsewhere)}): "
            "re-run them here to compare their ratios.",
        ]
    return "\n".join(lines) + "\n"


def _size(result: dict[str, Any]) -> str:
    """How much data a benchmark used: its `size` text, else its `scale`, `rows` or `events` (labels say more)."""
    if result.get("size"):
        return str(result["size"])
    for key in ("scale", "rows"):
        value = result.get(key)
        if isinstance(value, dict) and value:
            return ", ".join(f"{_number(count) if isinstance(count, int | float) else count} {name.replace('_', ' ')}"
                             for name, count in value.items())  # fmt: skip
    for key in ("rows", "events"):
        value = result.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,} {key}"
    return "-"


def _same_machine(one: dict[str, Any], other: dict[str, Any]) -> bool:
    keys = ("cpu_model", "cpu_count", "memory_gib", "platform")
    return all(one.get(key) == other.get(key) for key in keys)


def _cores(machine: dict[str, Any]) -> str:
    count, usable = machine.get("cpu_count"), machine.get("cpu_count_usable")
    if count is None:
        return "unknown cores"
    if usable is not None and usable != count:
        return f"{count} cores ({usable} usable)"
    return f"{count} cores"


def _join(*parts: Any) -> str:
    return "; ".join(str(part) for part in parts if part) or "unknown"


def _date(timestamp: Any) -> str:
    """2026-11-26T22:12:58+00:00 -> 2026-11-26 22:12 UTC."""
    try:
        return dt.datetime.fromisoformat(str(timestamp)).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return str(timestamp or "an unknown date")


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR, help="where to write results")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: rewrite REPORT.md from the results in --results-dir (the machine of the last run)",
    )
    parser.add_argument(
        "--note",
        default=os.environ.get("EVENTSCOPE_BENCH_NOTE") or None,
        help="a remark for REPORT.md, e.g. what else ran on the machine (env EVENTSCOPE_BENCH_NOTE)",
    )
    args = parser.parse_args(argv)  # exits 2 on a malformed command line

    available = discover()
    if args.report_only:
        return rebuild_report(args.results_dir, note=args.note)
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
            _progress(f"[{index}/{len(names)}] {name}: ok in {record['duration_s']:.1f}s: {_summary(record['result'])}")
        else:
            _progress(f"[{index}/{len(names)}] {name}: FAILED in {record['duration_s']:.1f}s\n{record['traceback']}")
    write_results(records, machine, args.results_dir, note=args.note)

    failed = [record["benchmark"] for record in records if record["status"] != "ok"]
    _progress(f"results in {args.results_dir} (REPORT.md, summary.json)")
    if failed:
        _progress(f"{len(failed)} of {len(records)} failed: {', '.join(failed)}")
        return 1
    return 0


def _summary(result: dict[str, Any]) -> str:
    """One progress line's worth of a result: figure, baseline, ratio."""
    ratio = result.get("ratio")
    ratio_text = f"{_number(ratio)}x" if isinstance(ratio, int | float) else _cell(ratio)
    return f"{_cell(result.get('figure'))} against {_cell(result.get('baseline'))} (ratio {ratio_text})"


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
    if isinstance(value, float):
        return f"{value:.3g}"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1000 else str(value)


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
