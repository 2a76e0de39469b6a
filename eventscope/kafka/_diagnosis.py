"""Why a client could not talk to a cluster, from what librdkafka reported meanwhile (private to the gateway).

librdkafka keeps retrying a refused SASL login, an untrusted certificate or a TLS client speaking to
a plaintext port, and the call that waited only fails with "Broker transport failure" or a timeout.
The cause is in the error callbacks and FAIL log lines of the same client; a `ConnectionTrouble`
collects them (through the client's `error_cb` and `logger`) and turns them into one of the
gateway's errors with a message a person can act on. It never holds a secret: librdkafka does not
put passwords or keys in these texts.
"""

from __future__ import annotations

import re
from collections import deque

from confluent_kafka import KafkaError

from .connection import ClusterConnection, librdkafka_logger
from .errors import KafkaAuthenticationError, KafkaConfigurationError, KafkaGatewayError, KafkaUnavailableError

__all__ = ["ConnectionTrouble"]

# "[thrd:...]: sasl_ssl://127.0.0.1:9093/bootstrap: " in front and "(after 3ms in state SSL_HANDSHAKE)" behind.
_BROKER_PREFIX = re.compile(r"^(\[thrd:[^\]]*\]:\s*)?(\S+://\S+?: )?")
_AFTER = re.compile(r"\s*\(after \d+ms in state \w+\)\s*$")


def _clean(text: str) -> str:
    return _AFTER.sub("", _BROKER_PREFIX.sub("", text.strip())).strip()


class ConnectionTrouble:
    """Collects one client's connection failures; `diagnosis()` names the most telling one."""

    def __init__(self, connection: ClusterConnection, *, keep: int = 20):
        self.connection = connection
        self._reports: deque[tuple[str, str]] = deque(maxlen=keep)  # (librdkafka error name or "FAIL", text)

    # librdkafka callbacks: error_cb and the logger's log()
    def error_cb(self, error: KafkaError) -> None:
        if error.code() != KafkaError._ALL_BROKERS_DOWN:  # says nothing about why
            self._reports.append((error.name(), error.str()))

    def log(self, level: int, msg: str, *args) -> None:
        librdkafka_logger.log(level, msg, *args)
        # confluent_kafka calls log(level, "%s [%s] %s", facility, client name, text)
        if len(args) == 3 and args[0] == "FAIL":
            self._reports.append(("FAIL", str(args[2])))

    def clear(self) -> None:
        self._reports.clear()

    def diagnosis(self, operation: str) -> KafkaGatewayError | None:
        """The gateway error that explains the reported failures, most specific first; None when nothing was."""
        found: list[KafkaGatewayError] = []
        for name, text in list(self._reports):
            explained = self._explain(name, text, operation)
            if explained is not None:
                found.append(explained)
        if not found:
            return None
        # A definite cause (wrong password, untrusted certificate, wrong kind of port) wins over a
        # plain transport failure seen on the way.
        found.sort(key=lambda error: not is_definite(error))
        return found[0]

    def _explain(self, name: str, raw: str, operation: str) -> KafkaGatewayError | None:
        text = _clean(raw)
        lowered = text.lower()
        connection = self.connection
        if "sasl authentication error" in lowered or "authentication failed" in lowered or name == "_AUTHENTICATION":
            mechanism = connection.sasl_mechanism or "SASL"
            return KafkaAuthenticationError(
                f"{operation}: SASL authentication failed: check the username and password "
                f"({mechanism} as {connection.sasl_username or '?'}); the broker said: "
                f"{re.sub(r'^SASL authentication error: ', '', text)}",
                code="_AUTHENTICATION",
            )
        if "connecting to a plaintext broker listener" in lowered:
            return KafkaConfigurationError(
                f"{operation}: TLS handshake failed: this port is a PLAINTEXT listener, it does not speak TLS. "
                "Use the port of the cluster's TLS listener, or the PLAINTEXT / SASL_PLAINTEXT security protocol.",
                code="_SSL",
            )
        if "certificate verify failed" in lowered:
            if "hostname" in lowered or "host name" in lowered:
                reason = "its certificate does not name the host in the bootstrap servers"
                fix = "connect by a name the certificate lists, or turn hostname verification off"
            else:
                reason = "its certificate is not signed by a CA this connection trusts"
                fix = "set the cluster's CA certificate (PEM) to the CA that signed the brokers' certificates"
            return KafkaAuthenticationError(
                f"{operation}: TLS handshake failed: the broker's certificate could not be verified, {reason}: {fix}.",
                code="_SSL",
            )
        if re.search(r"alert (bad certificate|certificate required|unknown ca|handshake failure)", lowered) or (
            "ssl alert number 42" in lowered or "ssl alert number 116" in lowered
        ):
            has_certificate = bool(connection.ssl_certificate_pem)
            return KafkaAuthenticationError(
                f"{operation}: TLS handshake failed: the broker requires a client certificate (mutual TLS) "
                + (
                    "and refused the one sent: check that the client certificate is signed by a CA the broker "
                    "trusts and matches its key."
                    if has_certificate
                    else "and none is set: add the client certificate and its private key to the cluster."
                )
                + f" ({text})",
                code="_SSL",
            )
        if name == "_SSL" or "ssl handshake failed" in lowered:
            return KafkaAuthenticationError(f"{operation}: TLS handshake failed: {text}", code="_SSL")
        if "in state APIVERSION_QUERY" in raw and not connection.security_protocol.endswith("SSL"):
            # Not definite: a broker shutting down closes connections the same way, and that passes.
            return KafkaUnavailableError(
                f"{operation}: the broker closed the connection at the first Kafka request: if this listener "
                f"needs TLS, choose security protocol SSL or SASL_SSL instead of {connection.security_protocol}.",
                code="_TRANSPORT",
            )
        return None


def is_definite(error: KafkaGatewayError) -> bool:
    """A cause that retrying with the same settings cannot fix (so waiting out the timeout is pointless)."""
    return isinstance(error, KafkaAuthenticationError | KafkaConfigurationError) and not isinstance(
        error, KafkaUnavailableError
    )
