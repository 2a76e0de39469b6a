"""The secured listeners of a `dev/kafka.sh start --secure` broker, as tests use them (fixture `secure_kafka`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SecureKafka"]


@dataclass(frozen=True)
class SecureKafka:
    plaintext_bootstrap: str
    sasl_ssl_bootstrap: str  # SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN
    ssl_bootstrap: str  # TLS, no client certificate
    mtls_bootstrap: str  # TLS that requires a client certificate
    ca_pem: str
    client_certificate_pem: str
    client_key_pem: str = field(repr=False)
    username: str
    password: str = field(repr=False)

    @classmethod
    def from_env_file(cls, path: Path) -> SecureKafka:
        values = {}
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip()
        return cls(
            plaintext_bootstrap=values["PLAINTEXT_BOOTSTRAP"],
            sasl_ssl_bootstrap=values["SASL_SSL_BOOTSTRAP"],
            ssl_bootstrap=values["SSL_BOOTSTRAP"],
            mtls_bootstrap=values["MTLS_BOOTSTRAP"],
            ca_pem=Path(values["CA_FILE"]).read_text(),
            client_certificate_pem=Path(values["CLIENT_CERT_FILE"]).read_text(),
            client_key_pem=Path(values["CLIENT_KEY_FILE"]).read_text(),
            username=values["SASL_USERNAME"],
            password=values["SASL_PASSWORD"],
        )

    def cluster_settings(self, listener: str) -> dict:
        """cluster_create() keyword arguments for one way in: scram-sha-256, scram-sha-512, plain, tls or mtls."""
        if listener in ("scram-sha-256", "scram-sha-512", "plain"):
            return {
                "bootstrap_servers": self.sasl_ssl_bootstrap,
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": listener.upper(),
                "sasl_username": self.username,
                "sasl_password": self.password,
                "ssl_ca_pem": self.ca_pem,
            }
        if listener == "tls":
            return {"bootstrap_servers": self.ssl_bootstrap, "security_protocol": "SSL", "ssl_ca_pem": self.ca_pem}
        if listener == "mtls":
            return {
                "bootstrap_servers": self.mtls_bootstrap,
                "security_protocol": "SSL",
                "ssl_ca_pem": self.ca_pem,
                "ssl_certificate_pem": self.client_certificate_pem,
                "ssl_key_pem": self.client_key_pem,
            }
        raise ValueError(f"unknown listener {listener!r}")
