"""Scratch PostgreSQL databases of the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable

DROP_ATTEMPTS = 30


def drop_database(execute: Callable[[str], object], name: str) -> None:
    """DROP DATABASE ... WITH (FORCE), retried while autovacuum works on it.

    A benchmark's fresh table of a million rows draws autovacuum at once; FORCE cannot end an
    autovacuum worker without pg_signal_backend, so the drop waits for it to move on (seconds).
    """
    import psycopg

    retryable = (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse)
    for attempt in range(DROP_ATTEMPTS):
        try:
            execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except Exception as exc:  # psycopg's own error, or Django's wrapping it (a Django cursor)
            cause = exc if isinstance(exc, retryable) else exc.__cause__
            if not isinstance(cause, retryable) or attempt == DROP_ATTEMPTS - 1:
                raise
            time.sleep(1)
