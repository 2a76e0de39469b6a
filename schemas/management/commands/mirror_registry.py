"""`manage.py mirror_registry [--name N]`: mirror one or every external registry now, with progress output.

Exit code 0 when every registry was mirrored, 1 when one could not be read (its error is printed and stored
on the registry, as a scheduled sync would), 2 for an unknown name.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from schemas.external.mirror import external_registry_sync
from schemas.models_external import ExternalRegistry


class Command(BaseCommand):
    help = "Mirror external schema registries (subjects, versions, ids, references, configs) into Eventscope now."

    def add_arguments(self, parser):
        parser.add_argument("--name", help="Name of the external registry (default: every one with sync enabled).")

    def handle(self, *args, **options):
        if options["name"]:
            registries = list(ExternalRegistry.objects.filter(name=options["name"]))
            if not registries:
                known = ", ".join(ExternalRegistry.objects.values_list("name", flat=True)) or "none"
                raise CommandError(f"Unknown external registry {options['name']!r} (known: {known}).", returncode=2)
        else:
            registries = list(ExternalRegistry.objects.filter(sync_enabled=True))
            if not registries:
                self.stdout.write("No external registry with sync enabled: nothing to mirror.")
                return
        verbose = options["verbosity"] >= 1
        failed = 0
        for registry in registries:
            result = external_registry_sync(
                registry_id=registry.pk, progress=(lambda line: self.stdout.write(f"  {line}")) if verbose else None
            )
            if result.ok:
                self.stdout.write(
                    self.style.SUCCESS(
                        f"{result.registry}: {result.subjects} subjects, {result.versions} versions mirrored "
                        f"({result.counts.summary()}) in {result.duration_ms} ms"
                    )
                )
            else:
                failed += 1
                self.stderr.write(self.style.ERROR(f"{result.registry}: not mirrored: {result.error}"))
        if failed:
            sys.exit(1)
