"""Whole payloads fetched live from Kafka by their coordinates, decoded as the indexer decodes them.

The index keeps an excerpt of each record; a person reading a trace sometimes needs all of it. The
record is read back with a manual assignment at its offset (no group commits), so the fetch leaves
no trace on the cluster.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from eventscope.kafka import EventConsumer, KafkaGatewayError, PartitionOffset

from .decoding import registry_decoder
from .extraction import ExtractionRules, extract
from .models import TraceEvent
from .traces import pretty_payload

__all__ = ["MAX_LIVE_PAYLOAD_BYTES", "LivePayload", "payload_fetch"]

MAX_LIVE_PAYLOAD_BYTES = 1024 * 1024
FETCH_GROUP = "eventscope-payload-fetch"  # never commits: required by the client, not used by Kafka


@dataclass(frozen=True)
class LivePayload:
    text: str = ""
    is_json: bool = False
    encoding: str = ""
    size: int = 0
    error: str = ""


def payload_fetch(*, event: TraceEvent, timeout_s: float = 5.0) -> LivePayload:
    """The record at the event's coordinates, decoded and pretty-printed, or why it cannot be had."""
    connection = event.cluster.connection(timeout_s=timeout_s)
    rules = ExtractionRules.from_settings(excerpt_bytes=MAX_LIVE_PAYLOAD_BYTES)
    deadline = time.monotonic() + timeout_s
    try:
        with EventConsumer(connection, group_id=FETCH_GROUP) as consumer:
            consumer.assign([PartitionOffset(event.topic, event.partition, event.offset)])
            while time.monotonic() < deadline:
                for record in consumer.poll_batch(max_records=1, timeout_s=0.5):
                    if record.offset != event.offset:
                        # The consumer fell back to the log start: retention or compaction removed it.
                        return LivePayload(error="The record is no longer on the broker (retention or compaction).")
                    extracted = extract(record, rules, decode_framed=registry_decoder(event.cluster_id))
                    text, is_json = pretty_payload(extracted.payload_excerpt, extracted.payload_encoding)
                    return LivePayload(
                        text=text, is_json=is_json, encoding=extracted.payload_encoding, size=len(record.value or b"")
                    )
    except KafkaGatewayError as exc:
        return LivePayload(error=f"Kafka could not be asked for the record: {exc.message}")
    return LivePayload(error=f"The record did not arrive within {timeout_s:g} s.")
