"""`manage.py register_shop_schemas`: register the shop's value schemas in a schema registry, without running the shop.

`simulate --registry-url` registers them itself at start; this is for a registry that should
describe the shop's topics before (or without) a run, e.g. a CI check or a freshly seeded demo.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from simulator.catalog_seed import DEFAULT_TOPIC_PREFIX
from simulator.management.commands.simulate import REGISTRY_URL_ENV, add_registry_arguments, registry_connection
from simulator.schemas import register_shop_schemas


class Command(BaseCommand):
    help = (
        "Register the demo shop's value schemas (Avro for the header-correlated topics, JSON Schema for the others) "
        "under <topic>-value in a Confluent-compatible schema registry. Registering unchanged schemas changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_registry_arguments(parser, url_help="schema registry, e.g. http://127.0.0.1:8000/registry")
        parser.add_argument(
            "--topic-prefix",
            default=DEFAULT_TOPIC_PREFIX,
            help="the simulator run's topic prefix, separator included (default %(default)s)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        registry = registry_connection(options)
        if registry is None:
            raise CommandError(f"which registry? --registry-url or ${REGISTRY_URL_ENV}")
        client = registry.client()
        try:
            registered = register_shop_schemas(client, options["topic_prefix"])
        except Exception as exc:  # SchemaRegistryError, or the HTTP client's connection errors
            raise CommandError(f"could not register the shop's schemas at {registry.url}: {exc}") from exc
        finally:
            client.close()
        for subject in registered:
            self.stdout.write(
                f"{subject.subject}  {subject.schema_type:<5} id {subject.schema_id}  version {subject.version}"
            )
