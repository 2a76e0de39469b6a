"""`manage.py search_reindex`: rebuild the catalog's search index from the catalog (after a restore or a loaddata)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from catalog.search import search_index_rebuild


class Command(BaseCommand):
    help = "Rebuild the search index of the catalog: every searchable object, and drop stale entries."

    def handle(self, *args, **options) -> None:
        counts = search_index_rebuild()
        summary = ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in counts.items())
        self.stdout.write(f"Search index rebuilt: {summary}.")
