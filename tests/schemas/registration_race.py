"""Register one schema from many threads at once (a barrier releases them together).

Imported by the concurrency tests, and run as a script in a child process against a fresh SQLite
file, where the production settings apply (WAL, BEGIN IMMEDIATE, a busy timeout); the test run's
own SQLite database lives in shared-cache memory, whose table locks fail at once instead of
waiting, so threads there would test the test database rather than the registry:

    DATABASE_URL=sqlite:////tmp/x.sqlite3 python -m tests.schemas.registration_race SCHEMA_JSON SUBJECT...

prints one JSON object per registration: {"schema_id", "version", "created"}.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor


def register_at_once(subjects: list[str], schema_text: str) -> list:
    """One thread per subject (repeat a subject to race on it); returns the registrations."""
    from django.db import connections

    from schemas import services

    barrier = threading.Barrier(len(subjects))

    def register(subject: str):
        try:
            barrier.wait(timeout=30)
            return services.subject_register_version(subject=subject, schema_text=schema_text)
        finally:
            connections.close_all()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=len(subjects)) as pool:
        return list(pool.map(register, subjects))


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventscope.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    schema_text, subjects = argv[0], argv[1:]
    for registration in register_at_once(subjects, schema_text):
        print(
            json.dumps(
                {"schema_id": registration.schema_id, "version": registration.version, "created": registration.created}
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
