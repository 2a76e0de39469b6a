"""`manage.py refresh_lineage [--cluster NAME]`: rebuild the lineage evidence now, with progress output."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from catalog.models import Cluster
from lineage.services import refresh_edges


class Command(BaseCommand):
    help = (
        "Refresh the lineage edges (declared, discovered, observed) of one cluster or of every cluster. "
        "Vanished evidence is marked stale, never deleted."
    )

    def add_arguments(self, parser):
        parser.add_argument("--cluster", help="Name of the cluster (default: every cluster).")

    def handle(self, *args, **options):
        cluster = None
        if options["cluster"]:
            cluster = Cluster.objects.filter(name=options["cluster"]).first()
            if cluster is None:
                known = ", ".join(Cluster.objects.values_list("name", flat=True)) or "none"
                raise CommandError(f"Unknown cluster {options['cluster']!r} (known: {known}).")
        elif not Cluster.objects.exists():
            raise CommandError("No cluster is configured: nothing to refresh.")
        verbose = options["verbosity"] >= 1
        results = refresh_edges(cluster, progress=(lambda line: self.stdout.write(f"  {line}")) if verbose else None)
        for stats in results:
            self.stdout.write(
                self.style.SUCCESS(
                    f"{stats.cluster}: {stats.declared} declared, {stats.discovered} discovered, "
                    f"{stats.observed_edges_touched} observed edges updated "
                    f"({stats.created} new, {stats.revived} revived, {stats.marked_stale} marked stale) "
                    f"in {stats.duration_ms} ms"
                )
            )
