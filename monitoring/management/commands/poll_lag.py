"""`manage.py poll_lag [--cluster NAME] [--once] [--interval S]`: poll consumer lag now, in this process.

Without --once it keeps polling every EVENTSCOPE_LAG_POLL_INTERVAL_S (or --interval) until Ctrl-C, as
the beat schedule would. Exit status: 0 every cycle succeeded (or was skipped because another process
was polling), 1 a cycle failed (with --once), 2 a usage error (unknown cluster, bad interval).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from catalog.models import Cluster
from catalog.services.clusters import cluster_ensure_default
from monitoring.lag import lag_poll
from monitoring.models import LagPollRun


class Command(BaseCommand):
    help = (
        "Poll consumer lag of a cluster (default: every cluster) now. --once: one cycle per cluster, exit 1 "
        "when one fails; otherwise repeat every interval until interrupted. Exit 2 on a usage error."
    )

    def add_arguments(self, parser):
        parser.add_argument("--cluster", metavar="NAME", help="the cluster to poll, by name (default: all)")
        parser.add_argument("--once", action="store_true", help="one cycle per cluster, then exit")
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="seconds between cycles (default: EVENTSCOPE_LAG_POLL_INTERVAL_S)",
        )

    def handle(self, *args, cluster: str | None, once: bool, interval: float | None, **options):
        every = settings.EVENTSCOPE_LAG_POLL_INTERVAL_S if interval is None else interval
        if every <= 0:
            raise CommandError("--interval must be positive", returncode=2)
        if cluster is None:
            try:
                cluster_ensure_default()
            except ValidationError as exc:
                raise CommandError(
                    f"the default cluster's settings are not usable: {'; '.join(exc.messages)}", returncode=2
                ) from exc
            clusters = list(Cluster.objects.all())
        else:
            found = Cluster.objects.filter(name=cluster).first()
            if found is None:
                known = ", ".join(Cluster.objects.values_list("name", flat=True)) or "none"
                raise CommandError(f"no cluster named {cluster!r} (known: {known})", returncode=2)
            clusters = [found]

        try:
            self._loop(clusters, once=once, every=every)
        except KeyboardInterrupt:
            # A cycle cut short by Ctrl-C is recorded as failed (the run's row says so); no traceback here.
            self.stdout.write("stopped")

    def _loop(self, clusters: list[Cluster], *, once: bool, every: float) -> None:
        while True:
            started = time.monotonic()
            failed = []
            for target in clusters:
                run = lag_poll(cluster_id=target.pk, trigger="command", progress=self._progress)
                if run.status == LagPollRun.Status.FAILED:
                    failed.append(target.name)
            if once:
                if failed:
                    raise CommandError(f"lag poll failed for {', '.join(failed)}", returncode=1)
                return
            time.sleep(max(0.0, every - (time.monotonic() - started)))

    def _progress(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()
