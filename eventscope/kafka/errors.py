"""The gateway's own error types: apps catch these, never librdkafka's KafkaException."""

from __future__ import annotations

__all__ = [
    "KafkaAuthenticationError",
    "KafkaAuthorizationError",
    "KafkaConfigurationError",
    "KafkaGatewayError",
    "KafkaTimeoutError",
    "KafkaUnavailableError",
    "TopicAlreadyExistsError",
    "UnknownGroupError",
    "UnknownTopicError",
]


class KafkaGatewayError(Exception):
    """Any failure talking to Kafka. `retriable` says whether the same call may succeed later."""

    retriable = False

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code  # librdkafka's error name (e.g. "_TRANSPORT"), for logs and run records


class KafkaUnavailableError(KafkaGatewayError):
    """The cluster could not be reached: connection refused, unknown host, all brokers down."""

    retriable = True


class KafkaTimeoutError(KafkaUnavailableError):
    """The cluster did not answer within the call's timeout."""


class KafkaAuthenticationError(KafkaGatewayError):
    """SASL or TLS handshake failed: bad credentials, wrong mechanism, untrusted certificate."""


class KafkaAuthorizationError(KafkaGatewayError):
    """The credentials are valid but an ACL forbids the operation."""


class KafkaConfigurationError(KafkaGatewayError):
    """The connection settings are invalid (unknown protocol, missing password, unreadable CA)."""


class TopicAlreadyExistsError(KafkaGatewayError):
    pass


class UnknownTopicError(KafkaGatewayError):
    pass


class UnknownGroupError(KafkaGatewayError):
    pass
