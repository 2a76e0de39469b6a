"""`manage.py index_traces`: the correlation-ID indexer, one copy; run several to split the partitions.

Exit status: 0 a clean stop (SIGINT/SIGTERM, or --once caught up), 1 the indexer could not run (no
database, Kafka unreachable with --once), 2 a usage error (unknown cluster, bad option). A stop
signal lets the current batch's transaction finish; a second one stops at once.
"""

from __future__ import annotations

import re
import signal
import threading

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from catalog.models import Cluster
from catalog.services.clusters import cluster_ensure_default
from eventscope.kafka import KafkaGatewayError
from monitoring.indexer import IndexerProgress, TraceIndexer

COPY_PATTERN = re.compile(r"(\d+)/(\d+)")


class Command(BaseCommand):
    help = (
        "Index correlation IDs of the cluster's topics into the trace index (default: the default cluster). "
        "Exit 1 when it cannot run, 2 on a usage error."
    )

    def add_arguments(self, parser):
        parser.add_argument("--cluster", metavar="NAME", help="the cluster to index, by name")
        parser.add_argument(
            "--batch-size", type=int, default=20_000, help="records per batch and transaction (default 20000)"
        )
        parser.add_argument("--batch-wait-ms", type=int, default=200, help="longest wait to fill a batch")
        parser.add_argument("--once", action="store_true", help="index until caught up, then exit")
        parser.add_argument("--progress-interval", type=float, default=5.0, metavar="S", help="0: no progress lines")
        parser.add_argument(
            "--copy",
            metavar="I/N",
            help="fixed split: this is copy I of N (0-based) and reads partitions I mod N; "
            "default: copies find each other through their heartbeats",
        )
        parser.add_argument("--include", action="append", metavar="PATTERN", help="topic pattern (overrides settings)")
        parser.add_argument("--exclude", action="append", metavar="PATTERN", help="topic pattern (overrides settings)")
        parser.add_argument("--resolve-interval", type=float, default=30.0, metavar="S", help="topic re-resolve period")

    def handle(self, *args, **options):
        cluster = self._cluster(options["cluster"])
        if options["batch_size"] < 1 or options["batch_wait_ms"] < 0 or options["progress_interval"] < 0:
            raise CommandError("--batch-size must be positive, the intervals not negative", returncode=2)
        copy = None
        if options["copy"]:
            match = COPY_PATTERN.fullmatch(options["copy"])
            if not match or not 0 <= int(match[1]) < int(match[2]):
                raise CommandError("--copy takes I/N with 0 <= I < N, e.g. 0/3", returncode=2)
            copy = (int(match[1]), int(match[2]))

        stop = threading.Event()

        def on_signal(signum, _frame):
            if stop.is_set():
                raise KeyboardInterrupt  # a second signal: stop now (a write in flight commits or rolls back whole)
            self.stderr.write(f"{signal.Signals(signum).name}: stopping after the current batch")
            stop.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

        try:
            indexer = TraceIndexer(
                cluster,
                batch_size=options["batch_size"],
                batch_wait_s=options["batch_wait_ms"] / 1000,
                resolve_interval_s=options["resolve_interval"],
                include=options["include"],
                exclude=options["exclude"],
                copy=copy,
            )
        except KafkaGatewayError as exc:
            raise CommandError(f"cannot reach cluster {cluster.name}: {exc}", returncode=1) from exc
        except DatabaseError as exc:
            raise CommandError(f"database error: {exc}", returncode=1) from exc

        self.stdout.write(f"indexing cluster {cluster.name} as {indexer.instance}")
        try:
            with indexer:
                if options["once"]:
                    progress = indexer.run_until_caught_up()
                    if progress.last_error and not progress.records_indexed and not progress.assigned:
                        raise CommandError(f"indexer failed: {progress.last_error}", returncode=1)
                else:
                    progress = indexer.run(
                        should_stop=stop.is_set,
                        on_progress=self._progress if options["progress_interval"] else None,
                        progress_interval_s=options["progress_interval"] or 5.0,
                    )
        except KeyboardInterrupt:
            self.stderr.write("stopped")
            return
        except DatabaseError as exc:
            raise CommandError(f"database error: {exc}", returncode=1) from exc
        self.stdout.write(f"done: {progress.describe()}")

    def _cluster(self, name: str | None) -> Cluster:
        try:
            if name is None:
                return cluster_ensure_default()
            found = Cluster.objects.filter(name=name).first()
        except ValidationError as exc:
            raise CommandError(
                f"the default cluster's settings are not usable: {'; '.join(exc.messages)}", returncode=2
            ) from exc
        except DatabaseError as exc:
            raise CommandError(f"database error: {exc}", returncode=1) from exc
        if found is None:
            known = ", ".join(Cluster.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"no cluster named {name!r} (known: {known})", returncode=2)
        return found

    def _progress(self, progress: IndexerProgress) -> None:
        self.stdout.write(progress.describe())
