"""The one gateway to Kafka. Only this package imports confluent_kafka (tests and the simulator aside).

It builds clients from a cluster's connection settings, bounds every call with a timeout, returns
frozen dataclasses and raises its own error types.
"""

from .admin import KafkaAdmin, OffsetKind
from .client import EventConsumer, EventProducer
from .connection import SASL_MECHANISMS, SECURITY_PROTOCOLS, ClusterConnection
from .errors import (
    KafkaAuthenticationError,
    KafkaAuthorizationError,
    KafkaConfigurationError,
    KafkaGatewayError,
    KafkaTimeoutError,
    KafkaUnavailableError,
    TopicAlreadyExistsError,
    UnknownGroupError,
    UnknownTopicError,
)
from .topic_reader import KeyValue, read_topic_to_end
from .types import (
    BrokerInfo,
    ClusterMetadata,
    ConsumerGroupDescription,
    ConsumerGroupListing,
    GroupMember,
    PartitionMetadata,
    PartitionOffset,
    Record,
    TimestampType,
    TopicMetadata,
    TopicPartition,
)

__all__ = [
    "SASL_MECHANISMS",
    "SECURITY_PROTOCOLS",
    "BrokerInfo",
    "ClusterConnection",
    "ClusterMetadata",
    "ConsumerGroupDescription",
    "ConsumerGroupListing",
    "EventConsumer",
    "EventProducer",
    "GroupMember",
    "KafkaAdmin",
    "KafkaAuthenticationError",
    "KafkaAuthorizationError",
    "KafkaConfigurationError",
    "KafkaGatewayError",
    "KafkaTimeoutError",
    "KafkaUnavailableError",
    "KeyValue",
    "OffsetKind",
    "PartitionMetadata",
    "PartitionOffset",
    "Record",
    "TimestampType",
    "TopicAlreadyExistsError",
    "TopicMetadata",
    "TopicPartition",
    "UnknownGroupError",
    "UnknownTopicError",
    "read_topic_to_end",
]
