"""Translate librdkafka's errors into the gateway's own error types (private to the gateway)."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from contextlib import contextmanager

from confluent_kafka import KafkaError, KafkaException

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

_UNAVAILABLE = {
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._RESOLVE,
    KafkaError.NETWORK_EXCEPTION,
    KafkaError.BROKER_NOT_AVAILABLE,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.NOT_COORDINATOR,
}
_TIMEOUT = {KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT, KafkaError._TIMED_OUT_QUEUE}
_AUTHENTICATION = {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED, KafkaError._SSL}
_AUTHORIZATION = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
}
_CONFIGURATION = {KafkaError._INVALID_ARG, KafkaError._UNKNOWN_PROTOCOL}


def translate_kafka_error(error: KafkaError, operation: str) -> KafkaGatewayError:
    code = error.code()
    name = error.name()
    message = f"{operation}: {error.str()}"
    if code in _TIMEOUT:
        return KafkaTimeoutError(message, code=name)
    if code in _UNAVAILABLE:
        return KafkaUnavailableError(message, code=name)
    if code in _AUTHENTICATION:
        return KafkaAuthenticationError(message, code=name)
    if code in _AUTHORIZATION:
        return KafkaAuthorizationError(message, code=name)
    if code in _CONFIGURATION:
        return KafkaConfigurationError(message, code=name)
    if code == KafkaError.TOPIC_ALREADY_EXISTS:
        return TopicAlreadyExistsError(message, code=name)
    if code in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION):
        return UnknownTopicError(message, code=name)
    if code == KafkaError.GROUP_ID_NOT_FOUND:
        return UnknownGroupError(message, code=name)
    translated = KafkaGatewayError(message, code=name)
    translated.retriable = error.retriable()
    return translated


def translate_exception(exc: BaseException | KafkaError, operation: str) -> KafkaGatewayError:
    if isinstance(exc, KafkaGatewayError):
        return exc
    if isinstance(exc, KafkaError):  # some admin results carry bare errors, not exceptions
        return translate_kafka_error(exc, operation)
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return translate_kafka_error(exc.args[0], operation)
    if isinstance(exc, concurrent.futures.TimeoutError | TimeoutError):
        return KafkaTimeoutError(f"{operation}: no answer within the timeout", code="_TIMED_OUT")
    if isinstance(exc, ValueError | TypeError):
        # confluent_kafka raises these for configuration it rejects before any I/O.
        return KafkaConfigurationError(f"{operation}: {exc}")
    return KafkaGatewayError(f"{operation}: {exc}")


@contextmanager
def kafka_errors(operation: str) -> Iterator[None]:
    """Run a block of librdkafka calls; any failure leaves it as a KafkaGatewayError subclass."""
    try:
        yield
    except (KafkaException, concurrent.futures.TimeoutError, TimeoutError, ValueError, TypeError) as exc:
        raise translate_exception(exc, operation) from exc
