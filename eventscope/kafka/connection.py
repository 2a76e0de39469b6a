"""How to reach a cluster: the settings of one connection and the librdkafka configuration built from them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import KafkaConfigurationError

__all__ = ["SASL_MECHANISMS", "SECURITY_PROTOCOLS", "ClusterConnection"]

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

# librdkafka logs through this logger instead of writing to stderr on its own.
librdkafka_logger = logging.getLogger("eventscope.kafka.librdkafka")


@dataclass(frozen=True)
class ClusterConnection:
    """Connection settings of one Kafka cluster. Secrets are kept out of repr() so they never reach a log."""

    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_ca_pem: str | None = field(default=None, repr=False)
    ssl_certificate_pem: str | None = field(default=None, repr=False)
    ssl_key_pem: str | None = field(default=None, repr=False)
    ssl_verify_hostname: bool = True
    client_id: str = "eventscope"
    timeout_s: float = 10.0

    @classmethod
    def from_settings(cls, **overrides: Any) -> ClusterConnection:
        """The default cluster of this installation (KAFKA_BOOTSTRAP_SERVERS and KAFKA_* security settings)."""
        from django.conf import settings

        def read(setting: str) -> str | None:
            path = getattr(settings, setting, None)
            if not path:
                return None
            try:
                return Path(path).read_text()
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "not a text (PEM) file"
                raise KafkaConfigurationError(f"{setting} cannot be read: {reason}") from exc

        values: dict[str, Any] = {
            "bootstrap_servers": settings.KAFKA_BOOTSTRAP_SERVERS,
            "security_protocol": settings.KAFKA_SECURITY_PROTOCOL,
            "sasl_mechanism": settings.KAFKA_SASL_MECHANISM,
            "sasl_username": settings.KAFKA_SASL_USERNAME,
            "sasl_password": settings.KAFKA_SASL_PASSWORD,
            "ssl_ca_pem": read("KAFKA_SSL_CA_FILE"),
            "ssl_certificate_pem": read("KAFKA_SSL_CERT_FILE"),
            "ssl_key_pem": read("KAFKA_SSL_KEY_FILE"),
            "ssl_verify_hostname": getattr(settings, "KAFKA_SSL_VERIFY_HOSTNAME", True),
            "timeout_s": settings.KAFKA_REQUEST_TIMEOUT_S,
        }
        values.update(overrides)
        return cls(**values)

    def with_timeout(self, timeout_s: float) -> ClusterConnection:
        return replace(self, timeout_s=timeout_s)

    def validate(self) -> None:
        """Raise KafkaConfigurationError naming the first setting that cannot work."""
        if not self.bootstrap_servers or not self.bootstrap_servers.strip():
            raise KafkaConfigurationError("Bootstrap servers are required (host:port[,host:port...]).")
        for server in self.bootstrap_servers.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise KafkaConfigurationError(f"Bootstrap server {server.strip()!r} is not host:port.")
        if self.security_protocol not in SECURITY_PROTOCOLS:
            raise KafkaConfigurationError(
                f"Security protocol {self.security_protocol!r} is not one of {', '.join(SECURITY_PROTOCOLS)}."
            )
        if self.security_protocol.startswith("SASL_"):
            if self.sasl_mechanism not in SASL_MECHANISMS:
                raise KafkaConfigurationError(
                    f"SASL mechanism {self.sasl_mechanism!r} is not one of {', '.join(SASL_MECHANISMS)}."
                )
            if not self.sasl_username or not self.sasl_password:
                raise KafkaConfigurationError("SASL needs a username and a password.")
        if bool(self.ssl_certificate_pem) != bool(self.ssl_key_pem):
            raise KafkaConfigurationError("Mutual TLS needs both a client certificate and its private key.")
        if self.timeout_s <= 0:
            raise KafkaConfigurationError("The timeout must be positive.")

    def client_config(self, **extra: Any) -> dict[str, Any]:
        """librdkafka configuration for any client (admin, consumer, producer) of this cluster."""
        self.validate()
        timeout_ms = int(self.timeout_s * 1000)
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": self.client_id,
            "security.protocol": self.security_protocol,
            "socket.timeout.ms": timeout_ms,
            "socket.connection.setup.timeout.ms": timeout_ms,
            # Fail fast and quietly on an unreachable cluster: the caller's timeout decides, and
            # reconnect attempts back off instead of flooding the log.
            "reconnect.backoff.ms": 100,
            "reconnect.backoff.max.ms": 2000,
            "logger": librdkafka_logger,
        }
        if self.security_protocol.startswith("SASL_"):
            config.update(
                {
                    "sasl.mechanism": self.sasl_mechanism,
                    "sasl.username": self.sasl_username,
                    "sasl.password": self.sasl_password,
                }
            )
        if self.security_protocol in ("SSL", "SASL_SSL"):
            if self.ssl_ca_pem:
                config["ssl.ca.pem"] = self.ssl_ca_pem
            if self.ssl_certificate_pem:
                config["ssl.certificate.pem"] = self.ssl_certificate_pem
                config["ssl.key.pem"] = self.ssl_key_pem
            config["ssl.endpoint.identification.algorithm"] = "https" if self.ssl_verify_hostname else "none"
        config.update(extra)
        return config
