"""The benchmark report writer (benchmarks/run.py render_report): results in, Markdown out."""

from __future__ import annotations

import json

from benchmarks.run import rebuild_report, render_report

MACHINE = {
    "cpu_count": 8,
    "cpu_count_usable": 8,
    "cpu_model": "Example CPU 3000",
    "memory_gib": 31.2,
    "os": "Debian GNU/Linux 12 (bookworm)",
    "python": "3.11.7",
    "python_implementation": "CPython",
    "platform": "Linux-6.1-x86_64",
    "kafka": "Apache Kafka 4.4.0 (KRaft, one node, dev/kafka.sh)",
    "librdkafka": "librdkafka 2.16.0, confluent-kafka 2.16.1",
    "database": "PostgreSQL 15.8",
    "load_average": [0.4, 0.3, 0.2],
    "timestamp": "2026-11-26T22:12:58+00:00",
}


def ok(name: str, **result) -> dict:
    return {
        "benchmark": name,
        "status": "ok",
        "result": result,
        "duration_s": 75.2,
        "started_at": "2026-11-26T22:00:00+00:00",
        "machine": MACHINE,
    }


def table_rows(markdown: str) -> dict[str, list[str]]:
    """Rows of the benchmark table by benchmark name, as lists of cells."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| benchmark |"))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        rows[cells[0]] = cells
    return rows


def test_machine_and_date_head_the_report():
    report = render_report([], MACHINE)
    assert report.startswith("# Benchmark report\n")
    assert "2026-11-26 22:12 UTC" in report
    for expected in (
        "| CPU | Example CPU 3000, 8 cores |",
        "| memory | 31.2 GiB |",
        "| OS | Debian GNU/Linux 12 (bookworm) |",
        "| Python | 3.11.7 (CPython) |",
        "| Kafka | Apache Kafka 4.4.0 (KRaft, one node, dev/kafka.sh); librdkafka 2.16.0, confluent-kafka 2.16.1 |",
        "| database | PostgreSQL 15.8 |",
        "| load average at start | 0.4 / 0.3 / 0.2 (1, 5, 15 min) |",
    ):
        assert expected in report
    assert "busy" not in report


def test_each_benchmark_is_a_row_with_figure_baseline_and_ratio():
    records = [
        ok(
            "indexer",
            figure={"label": "indexer into SQLite, 1,000,000 events", "value": 70676, "unit": "events/s"},
            baseline={"label": "raw confluent-kafka consume loop", "value": 185631, "unit": "events/s"},
            ratio=0.381,
            ratio_note="indexer events/s / raw consume events/s",
            events=1_000_000,
        ),
        ok("plain", figure=1.5, baseline="n/a", ratio=2),
        ok("scaled", scale={"groups": 1000, "partitions": 10000}, ratio=0.2),
        ok("sized", size="quick default (BENCH_X_FULL=1: 10M rows)", rows={"topics": 5}, ratio=1.0),
    ]
    rows = table_rows(render_report(records, MACHINE))
    assert rows["indexer"] == [
        "indexer",
        "1,000,000 events",
        "indexer into SQLite, 1,000,000 events: 70,676 events/s",
        "raw confluent-kafka consume loop: 185,631 events/s",
        "0.381x",
        "indexer events/s / raw consume events/s",
        "ok",
        "1 min 15 s",
        "2026-11-26T22:00:00+00:00",
    ]
    assert rows["plain"][1:6] == ["-", "1.5", "n/a", "2x", "-"]
    assert rows["scaled"][1] == "1,000 groups, 10,000 partitions"
    assert rows["sized"][1] == "quick default (BENCH_X_FULL=1: 10M rows)"


def test_a_failed_benchmark_is_a_row_saying_why_and_pipes_do_not_break_the_table():
    failed = {
        "benchmark": "trace_scan",
        "status": "error",
        "error": "RuntimeError: kcat | grep failed\nsecond line",
        "duration_s": 3.0,
        "started_at": "2026-11-26T22:05:00+00:00",
    }
    piped = ok("scan", figure={"label": "kcat | grep", "value": 2.5, "unit": "s"}, baseline=None, ratio=None)
    report = render_report([failed, piped], MACHINE)
    rows = table_rows(report)
    assert rows["trace_scan"][6] == "**failed**: RuntimeError: kcat \\| grep failed second line"
    assert rows["trace_scan"][1:6] == ["-", "-", "-", "-", "-"]
    assert rows["scan"][2] == "kcat \\| grep: 2.5 s"
    # Every table row has the header's number of cells.
    header = next(line for line in report.splitlines() if line.startswith("| benchmark |"))
    for line in report.splitlines()[report.splitlines().index(header) :]:
        assert line.replace("\\|", "").count("|") == header.count("|")


def test_rows_from_another_machine_are_marked_and_a_busy_machine_is_noted():
    older = ok("lag_poll", figure=1.0, baseline=2.0, ratio=0.5)
    older["machine"] = {**MACHINE, "cpu_model": "Another CPU", "cpu_count": 2}
    busy = {**MACHINE, "load_average": [6.5, 5.0, 4.0]}
    report = render_report([older, ok("impact", ratio=1.2)], busy, note="other helpers were running tests")
    rows = table_rows(report)
    assert "lag_poll †" in rows and "impact" in rows
    assert "† measured in an earlier run on another machine (lag_poll)" in report
    assert "> other helpers were running tests" in report
    assert "> The machine was busy when the run started (load average 6.5 on 8 CPUs)" in report


def test_the_report_is_rebuilt_from_the_result_files(tmp_path):
    record = ok("impact", figure=1.0, baseline=2.0, ratio=0.5)
    (tmp_path / "impact.json").write_text(json.dumps(record))
    (tmp_path / "summary.json").write_text(json.dumps({"machine": MACHINE, "note": "kept note", "benchmarks": []}))
    assert rebuild_report(tmp_path) == 0
    report = (tmp_path / "REPORT.md").read_text()
    assert "> kept note" in report and "| impact |" in report
    assert rebuild_report(tmp_path / "missing") == 2
