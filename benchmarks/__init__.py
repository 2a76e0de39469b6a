"""Scripted benchmarks (`make bench`, or `python -m benchmarks.run [NAME ...]`).

Each benchmark is a module `benchmarks/bench_<name>.py` with one entry point::

    def run() -> dict: ...

It returns a JSON-serialisable dict. Speed and memory are judged as a ratio against a baseline
measured in the same run, never as an absolute number, so the dict carries three keys that the
report's table shows, plus whatever detail the benchmark wants to keep:

- ``figure``: our measurement, e.g. ``{"label": "broker start, median", "value": 4.1, "unit": "s"}``
  (a plain number or string works too);
- ``baseline``: the reference measured in the same run, in the same shape;
- ``ratio``: figure / baseline, a number (say in ``ratio_note`` what it means when that helps).

The runner (`benchmarks/run.py`) sets Django up before it imports a benchmark, so a benchmark may
use the ORM and the project's modules. It writes `benchmarks/results/<name>.json`, a combined
`summary.json` and `REPORT.md`.
"""
