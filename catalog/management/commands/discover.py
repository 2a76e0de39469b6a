"""`manage.py discover [--cluster NAME | --all]`: run discovery now, in this process, with progress output.

Exit status: 0 every run succeeded, 1 a run failed or was already running, 2 a usage error
(unknown cluster, bad default-cluster settings).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from catalog.models import Cluster, DiscoveryRun
from catalog.services.clusters import cluster_ensure_default
from catalog.services.discovery import DiscoveryAlreadyRunningError, discovery_run


class Command(BaseCommand):
    help = (
        "Discover topics, partitions and consumer groups of a cluster now (default: the default cluster). "
        "Exit 1 when a run fails, 2 on a usage error."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--cluster", metavar="NAME", help="the cluster to discover, by name")
        which.add_argument("--all", action="store_true", help="every cluster whose discovery is enabled")
        parser.add_argument("--trigger", default="manual", help="recorded on the run (default: manual)")

    def handle(self, *args, cluster: str | None, all: bool, trigger: str, **options):
        if cluster is None:
            # Like a fresh install's first migrate: the default cluster follows the settings.
            try:
                default = cluster_ensure_default()
            except ValidationError as exc:
                raise CommandError(
                    f"the default cluster's settings are not usable: {'; '.join(exc.messages)}", returncode=2
                ) from exc
            clusters = list(Cluster.objects.filter(discovery_enabled=True)) if all else [default]
        else:
            found = Cluster.objects.filter(name=cluster).first()
            if found is None:
                known = ", ".join(Cluster.objects.values_list("name", flat=True)) or "none"
                raise CommandError(f"no cluster named {cluster!r} (known: {known})", returncode=2)
            clusters = [found]
        if not clusters:
            self.stdout.write("no cluster has discovery enabled; nothing to do")
            return

        failed = []
        for target in clusters:
            try:
                run = discovery_run(cluster_id=target.pk, trigger=trigger, progress=self._progress)
            except DiscoveryAlreadyRunningError as exc:
                self.stderr.write(str(exc))
                failed.append(target.name)
                continue
            if run.status != DiscoveryRun.Status.SUCCEEDED:
                # The run's error is written for people and carries no secret (discovery redacts it).
                failed.append(f"{target.name} ({run.error})" if run.error else target.name)
        if failed:
            raise CommandError(f"discovery failed for {'; '.join(failed)}", returncode=1)

    def _progress(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()
