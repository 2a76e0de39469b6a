"""The demo shop as impact analysis sees it: its catalog seeded, its schemas registered, lineage refreshed.

Shared by the impact tests (analysis, API, CLI). Built through the production paths: the AsyncAPI seed, the
registry's registration service and the lineage refresh.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from catalog.models import ConsumerGroup, Topic
from lineage.services import refresh_edges
from schemas.services import subject_register_version
from simulator.catalog_seed import seed_shop_catalog
from simulator.schemas import event_avro_schema, topic_schema, value_subject
from simulator.topology import TOPIC_ENCODING

PAYMENTS_COMPLETED = "shop.payments.completed"
PAYMENTS_SUBJECT = "shop.payments.completed-value"
SHIPMENTS_SUBJECT = "shop.shipments.created-value"


def seed_shop() -> None:
    """Catalog, schemas (version 1 of every subject), shipping's group committed on its input, lineage edges."""
    seed_shop_catalog()
    for suffix in TOPIC_ENCODING:
        spec = topic_schema(suffix)
        subject_register_version(
            subject=value_subject("shop." + suffix), schema_text=spec.schema_str, schema_type=spec.schema_type
        )
    # Shipping's consumer group has committed offsets on its input, as discovery would record them.
    group = ConsumerGroup.objects.get(group_id="shop.shipping")
    group.committed_topics.add(Topic.objects.get(name=PAYMENTS_COMPLETED))
    refresh_edges(None)


def payment_completed_schema(*, drop: tuple[str, ...] = (), add_optional: tuple[str, ...] = ()) -> str:
    """PaymentCompleted's Avro schema with fields removed and/or optional string fields added."""
    schema: dict[str, Any] = copy.deepcopy(event_avro_schema("PaymentCompleted"))
    schema["fields"] = [field for field in schema["fields"] if field["name"] not in drop]
    schema["fields"] += [
        {"name": name, "type": ["null", "string"], "default": None, "doc": "added"} for name in add_optional
    ]
    return json.dumps(schema)
