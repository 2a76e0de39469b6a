"""Concurrency: 20 simultaneous registrations of one new schema give one id and one version.

Twenty threads, each with its own database connection, call the registration service at once.
That the outcome is one id and one version follows from the constraints and the transaction,
not from timing luck. Two databases: the suite's own (PostgreSQL in CI) in this process, and a
fresh SQLite file with the production settings in a child process (see registration_race.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from schemas import selectors
from schemas.models import Schema, SubjectVersion

from .registration_race import register_at_once

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 20
SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "Payment",
        "namespace": "shop",
        "fields": [{"name": "id", "type": "string"}, {"name": "cents", "type": "long"}],
    }
)


@pytest.fixture(autouse=True)
def _fresh_schema_caches():
    selectors.schema_caches_clear()
    yield
    selectors.schema_caches_clear()


def race_in_sqlite_file(tmp_path: Path, subjects: list[str]) -> list[dict]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'registry.sqlite3'}",
        "EVENTSCOPE_RUN_DIR": str(tmp_path / "run"),
    }
    finished = subprocess.run(
        [sys.executable, "-m", "tests.schemas.registration_race", SCHEMA, *subjects],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return [json.loads(line) for line in finished.stdout.splitlines()]


def test_one_subject_on_the_suites_database(unique_name):
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("the in-memory test database fails on table locks; the SQLite-file test covers SQLite")
    subject = f"{unique_name}-value"
    results = register_at_once([subject] * THREADS, SCHEMA)

    assert {(r.schema_id, r.version) for r in results} == {(results[0].schema_id, 1)}
    assert sum(r.created for r in results) == 1
    assert Schema.objects.count() == 1
    assert SubjectVersion.objects.filter(subject__name=subject).count() == 1


def test_twenty_subjects_on_the_suites_database(unique_name):
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("the in-memory test database fails on table locks; the SQLite-file test covers SQLite")
    results = register_at_once([f"{unique_name}-{n}-value" for n in range(THREADS)], SCHEMA)

    assert len({r.schema_id for r in results}) == 1
    assert all(r.version == 1 and r.created for r in results)
    assert Schema.objects.count() == 1
    assert SubjectVersion.objects.count() == THREADS


def test_one_subject_on_a_sqlite_file(tmp_path, unique_name):
    results = race_in_sqlite_file(tmp_path, [f"{unique_name}-value"] * THREADS)

    assert len(results) == THREADS
    assert {(r["schema_id"], r["version"]) for r in results} == {(1, 1)}
    assert sum(r["created"] for r in results) == 1


def test_twenty_subjects_on_a_sqlite_file(tmp_path, unique_name):
    results = race_in_sqlite_file(tmp_path, [f"{unique_name}-{n}-value" for n in range(THREADS)])

    assert len(results) == THREADS
    assert {r["schema_id"] for r in results} == {1}
    assert all(r["version"] == 1 and r["created"] for r in results)
