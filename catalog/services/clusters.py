"""Cluster writes: connection settings, their encrypted secrets, the default cluster, and testing a connection.

Every write validates through the model (`full_clean`) and the gateway's own connection check, and
keeps the cluster's discovery schedule (a django-celery-beat PeriodicTask) in step in the same
transaction. A SASL password and a TLS client key are encrypted before they reach the model and are
never returned, logged or put in an error message.
"""

from __future__ import annotations

import enum
import logging
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.core.exceptions import ValidationError
from django.db import transaction

from catalog.models import Cluster
from catalog.services.discovery import discovery_schedule_delete, discovery_schedule_sync, redact
from eventscope.kafka import (
    SASL_MECHANISMS,
    ClusterConnection,
    KafkaAdmin,
    KafkaAuthenticationError,
    KafkaAuthorizationError,
    KafkaConfigurationError,
    KafkaGatewayError,
    KafkaUnavailableError,
)
from eventscope.secrets import SecretDecryptionError, decrypt_secret, encrypt_secret

__all__ = [
    "DEFAULT_CLUSTER_NAME",
    "MAX_DISCOVERY_INTERVAL_S",
    "MIN_DISCOVERY_INTERVAL_S",
    "ConnectionErrorKind",
    "ConnectionTestResult",
    "cluster_create",
    "cluster_delete",
    "cluster_ensure_default",
    "cluster_set_password",
    "cluster_set_ssl_key",
    "cluster_test_connection",
    "cluster_update",
]

logger = logging.getLogger(__name__)

DEFAULT_CLUSTER_NAME = "default"
# Below 10 s a discovery of a large cluster would hardly finish before the next one is due.
MIN_DISCOVERY_INTERVAL_S = 10
MAX_DISCOVERY_INTERVAL_S = 24 * 3600

# What a user may change through cluster_update; is_default belongs to cluster_ensure_default alone.
UPDATABLE_FIELDS = frozenset(
    {
        "name",
        "description",
        "bootstrap_servers",
        "security_protocol",
        "sasl_mechanism",
        "sasl_username",
        "sasl_password",
        "ssl_ca_pem",
        "ssl_certificate_pem",
        "ssl_key_pem",
        "ssl_verify_hostname",
        "discovery_enabled",
        "discovery_interval_s",
    }
)
# A change to one of these changes what the beat schedule must say.
_SCHEDULE_FIELDS = frozenset({"name", "discovery_enabled", "discovery_interval_s"})


# ---------------------------------------------------------------------------------------------
# Create, update, delete
# ---------------------------------------------------------------------------------------------
def cluster_set_password(*, cluster: Cluster, password: str) -> None:
    """Encrypt the SASL password onto the cluster (not saved here: the caller saves with its other changes)."""
    cluster.sasl_password_encrypted = encrypt_secret(password)


def cluster_set_ssl_key(*, cluster: Cluster, key_pem: str) -> None:
    """Encrypt the TLS client key onto the cluster (not saved here, like cluster_set_password)."""
    cluster.ssl_key_pem_encrypted = encrypt_secret(key_pem)


def _normalized_pem(text: str | None) -> str:
    # A PEM pasted into a form comes with CRLFs and blank margins; librdkafka wants plain lines.
    return "\n".join(line.strip() for line in (text or "").strip().splitlines()) + "\n" if (text or "").strip() else ""


def _normalized_servers(bootstrap_servers: str) -> str:
    # "a:9092, b:9092" is what people paste; librdkafka wants no blanks.
    return ",".join(server.strip() for server in bootstrap_servers.split(",") if server.strip())


def cluster_stored_password(cluster: Cluster) -> str | None:
    if not cluster.sasl_password_encrypted:
        return None
    try:
        return decrypt_secret(cluster.sasl_password_encrypted)
    except SecretDecryptionError:
        return None  # validation then asks for the password again, which is the fix


def cluster_stored_ssl_key(cluster: Cluster) -> str | None:
    if not cluster.ssl_key_pem_encrypted:
        return None
    try:
        return decrypt_secret(cluster.ssl_key_pem_encrypted)
    except SecretDecryptionError:
        return None  # validation then asks for the key again


def _certificates(pem: str) -> list[x509.Certificate] | None:
    try:
        return x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        return None


def _tls_errors(cluster: Cluster, ssl_key_pem: str | None) -> dict[str, list[str]]:
    """The TLS settings' problems, per field: PEM that does not parse, half a client identity, a key that is not
    the certificate's. Messages never quote the key."""
    errors: dict[str, list[str]] = {}
    uses_tls = cluster.security_protocol in ("SSL", "SASL_SSL")
    if cluster.ssl_ca_pem and _certificates(cluster.ssl_ca_pem) is None:
        errors["ssl_ca_pem"] = [
            "This is not a PEM certificate: paste the CA's certificate, from -----BEGIN CERTIFICATE----- "
            "to -----END CERTIFICATE----- (several may follow one another)."
        ]
    certificates = None
    if cluster.ssl_certificate_pem:
        certificates = _certificates(cluster.ssl_certificate_pem)
        if certificates is None:
            errors["ssl_certificate_pem"] = [
                "This is not a PEM certificate: paste the client certificate, from -----BEGIN CERTIFICATE----- "
                "to -----END CERTIFICATE-----."
            ]
        elif not uses_tls:
            errors["ssl_certificate_pem"] = [
                f"A client certificate is only used over TLS: choose SSL or SASL_SSL, not {cluster.security_protocol}."
            ]
        elif not ssl_key_pem:
            errors["ssl_key_pem"] = ["A client certificate needs its private key (mutual TLS)."]
    if ssl_key_pem:
        try:
            key = serialization.load_pem_private_key(ssl_key_pem.encode(), password=None)
        except TypeError:
            errors["ssl_key_pem"] = [
                "This private key is encrypted: paste it unencrypted (e.g. openssl pkey -in client.key); "
                "Eventscope stores it encrypted."
            ]
        except (ValueError, UnicodeError):
            errors["ssl_key_pem"] = [
                "This is not a PEM private key: paste the client's key, from -----BEGIN PRIVATE KEY----- "
                "to -----END PRIVATE KEY----- (RSA and EC keys work too)."
            ]
        else:
            if not cluster.ssl_certificate_pem:
                errors.setdefault("ssl_certificate_pem", []).append(
                    "A client key needs its certificate: paste the client certificate too, or remove the key."
                )
            elif certificates and certificates[0].public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ) != key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ):
                errors["ssl_key_pem"] = [
                    "This key does not belong to the client certificate (their public keys differ)."
                ]
    return errors


def cluster_validate(cluster: Cluster, *, sasl_password: str | None, ssl_key_pem: str | None = None) -> None:
    """Raise a ValidationError with one message per field that cannot work; the password and key are never in it."""
    errors: dict[str, list[str]] = {}
    try:
        cluster.full_clean()
    except ValidationError as exc:
        errors = {field: list(messages) for field, messages in exc.message_dict.items()}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    for field, messages in _tls_errors(cluster, ssl_key_pem).items():
        for message in messages:
            add(field, message)

    if "bootstrap_servers" not in errors:
        try:
            ClusterConnection(bootstrap_servers=cluster.bootstrap_servers).validate()
        except KafkaConfigurationError as exc:
            add("bootstrap_servers", exc.message)
    interval = cluster.discovery_interval_s
    if interval is not None and not MIN_DISCOVERY_INTERVAL_S <= interval <= MAX_DISCOVERY_INTERVAL_S:
        add(
            "discovery_interval_s",
            f"The discovery interval must be between {MIN_DISCOVERY_INTERVAL_S} s and {MAX_DISCOVERY_INTERVAL_S} s.",
        )
    if cluster.security_protocol.startswith("SASL_"):
        if not cluster.sasl_mechanism:
            add(
                "sasl_mechanism",
                f"{cluster.security_protocol} needs a SASL mechanism ({', '.join(SASL_MECHANISMS)}).",
            )
        if not cluster.sasl_username:
            add("sasl_username", f"{cluster.security_protocol} needs a username.")
        if not sasl_password:
            add("sasl_password", f"{cluster.security_protocol} needs a password.")
    if errors:
        raise ValidationError(errors)
    # The gateway's complete check last: a rule it knows and the checks above miss still stops the save.
    try:
        cluster.connection(sasl_password=sasl_password, ssl_key_pem=ssl_key_pem).validate()
    except KafkaConfigurationError as exc:
        raise ValidationError(exc.message) from exc


def cluster_create(
    *,
    name: str,
    bootstrap_servers: str,
    security_protocol: str = "PLAINTEXT",
    sasl_mechanism: str = "",
    sasl_username: str = "",
    sasl_password: str | None = None,
    ssl_ca_pem: str = "",
    ssl_certificate_pem: str = "",
    ssl_key_pem: str | None = None,
    ssl_verify_hostname: bool = True,
    description: str = "",
    discovery_enabled: bool = True,
    discovery_interval_s: int = 60,
) -> Cluster:
    """Create a cluster and its discovery schedule; a ValidationError names each bad field."""
    cluster = Cluster(
        name=name,
        description=description,
        bootstrap_servers=_normalized_servers(bootstrap_servers),
        security_protocol=security_protocol,
        sasl_mechanism=sasl_mechanism,
        sasl_username=sasl_username,
        ssl_ca_pem=_normalized_pem(ssl_ca_pem),
        ssl_certificate_pem=_normalized_pem(ssl_certificate_pem),
        ssl_verify_hostname=ssl_verify_hostname,
        discovery_enabled=discovery_enabled,
        discovery_interval_s=discovery_interval_s,
    )
    ssl_key_pem = _normalized_pem(ssl_key_pem) or None
    cluster_validate(cluster, sasl_password=sasl_password, ssl_key_pem=ssl_key_pem)
    if sasl_password:
        cluster_set_password(cluster=cluster, password=sasl_password)
    if ssl_key_pem:
        cluster_set_ssl_key(cluster=cluster, key_pem=ssl_key_pem)
    with transaction.atomic():
        cluster.save()
        discovery_schedule_sync(cluster=cluster)
    logger.info("cluster %s created (%s, %s)", cluster.name, cluster.bootstrap_servers, cluster.security_protocol)
    return cluster


def cluster_update(*, cluster: Cluster, **changes: Any) -> Cluster:
    """Change a cluster's settings. `sasl_password` and `ssl_key_pem`: None (or absent) keeps the stored one,
    "" clears it.

    On a ValidationError the cluster object is left as it was, so a form can show it again.
    """
    unknown = set(changes) - UPDATABLE_FIELDS
    if unknown:
        raise TypeError(f"cluster_update() cannot change: {', '.join(sorted(unknown))}")
    password = changes.pop("sasl_password", None)
    key = changes.pop("ssl_key_pem", None)
    if key is not None:
        key = _normalized_pem(key)
    if "bootstrap_servers" in changes:
        changes["bootstrap_servers"] = _normalized_servers(changes["bootstrap_servers"])
    for field in ("ssl_ca_pem", "ssl_certificate_pem"):
        if field in changes:
            changes[field] = _normalized_pem(changes[field])
    previous = {
        field: getattr(cluster, field) for field in [*changes, "sasl_password_encrypted", "ssl_key_pem_encrypted"]
    }
    for field, value in changes.items():
        setattr(cluster, field, value)
    try:
        effective_password = cluster_stored_password(cluster) if password is None else (password or None)
        effective_key = cluster_stored_ssl_key(cluster) if key is None else (key or None)
        cluster_validate(cluster, sasl_password=effective_password, ssl_key_pem=effective_key)
    except ValidationError:
        for field, value in previous.items():
            setattr(cluster, field, value)
        raise
    if password == "":
        cluster.sasl_password_encrypted = ""
    elif password is not None:
        cluster_set_password(cluster=cluster, password=password)
    if key == "":
        cluster.ssl_key_pem_encrypted = ""
    elif key is not None:
        cluster_set_ssl_key(cluster=cluster, key_pem=key)
    with transaction.atomic():
        cluster.save()
        if _SCHEDULE_FIELDS & set(changes):
            discovery_schedule_sync(cluster=cluster)
    changed = (
        sorted(changes)
        + (["sasl_password"] if password is not None else [])
        + (["ssl_key_pem"] if key is not None else [])
    )
    logger.info("cluster %s updated: %s", cluster.name, ", ".join(changed) or "nothing")
    return cluster


def cluster_delete(*, cluster: Cluster) -> None:
    """Delete a cluster with everything discovered on it, and its schedule. The default cluster stays.

    The default cluster is the one of KAFKA_BOOTSTRAP_SERVERS and would come back at the next
    migrate; to stop discovering it, disable its discovery instead.
    """
    if cluster.is_default:
        raise ValidationError(
            "The default cluster comes from KAFKA_BOOTSTRAP_SERVERS and cannot be deleted; "
            "disable its discovery instead."
        )
    name = cluster.name
    with transaction.atomic():
        discovery_schedule_delete(cluster_id=cluster.pk)
        cluster.delete()
    logger.info("cluster %s deleted", name)


def cluster_ensure_default() -> Cluster:
    """Create or update the default cluster from KAFKA_BOOTSTRAP_SERVERS and the KAFKA_* security settings.

    Settings own its connection (they are re-applied at every migrate and beat start); people own
    its name, description and discovery settings. A ValidationError says which setting cannot work.
    """
    try:
        settings_connection = ClusterConnection.from_settings()
    except KafkaConfigurationError as exc:
        raise ValidationError(exc.message) from exc
    wanted = {
        "bootstrap_servers": _normalized_servers(settings_connection.bootstrap_servers or ""),
        "security_protocol": settings_connection.security_protocol,
        "sasl_mechanism": settings_connection.sasl_mechanism or "",
        "sasl_username": settings_connection.sasl_username or "",
        "ssl_ca_pem": _normalized_pem(settings_connection.ssl_ca_pem),
        "ssl_certificate_pem": _normalized_pem(settings_connection.ssl_certificate_pem),
        "ssl_verify_hostname": settings_connection.ssl_verify_hostname,
    }
    password = settings_connection.sasl_password or None
    key = _normalized_pem(settings_connection.ssl_key_pem) or None
    with transaction.atomic():
        cluster = (
            Cluster.objects.select_for_update().filter(is_default=True).first()
            # A cluster someone named "default" before there was a default one becomes it.
            or Cluster.objects.select_for_update().filter(name=DEFAULT_CLUSTER_NAME).first()
            or Cluster(
                name=DEFAULT_CLUSTER_NAME,
                description="The cluster of KAFKA_BOOTSTRAP_SERVERS; its connection comes from the settings.",
            )
        )
        created = cluster.pk is None
        changed = [field for field, value in wanted.items() if getattr(cluster, field) != value]
        for field in changed:
            setattr(cluster, field, wanted[field])
        if cluster_stored_password(cluster) != password:
            changed.append("sasl_password")
            if password:
                cluster_set_password(cluster=cluster, password=password)
            else:
                cluster.sasl_password_encrypted = ""
        if cluster_stored_ssl_key(cluster) != key:
            changed.append("ssl_key_pem")
            if key:
                cluster_set_ssl_key(cluster=cluster, key_pem=key)
            else:
                cluster.ssl_key_pem_encrypted = ""
        if not cluster.is_default:
            cluster.is_default = True
            changed.append("is_default")
        if created or changed:
            cluster_validate(cluster, sasl_password=password, ssl_key_pem=key)
            cluster.save()
            discovery_schedule_sync(cluster=cluster)
            logger.info(
                "default cluster %s %s (%s)",
                cluster.name,
                "created" if created else "updated: " + ", ".join(changed),
                cluster.bootstrap_servers,
            )
    return cluster


# ---------------------------------------------------------------------------------------------
# Test connection
# ---------------------------------------------------------------------------------------------
class ConnectionErrorKind(enum.StrEnum):
    REFUSED = "refused"
    UNKNOWN_HOST = "unknown_host"
    BAD_CREDENTIALS = "bad_credentials"
    TLS = "tls"
    NOT_AUTHORIZED = "not_authorized"
    TIMEOUT = "timeout"
    CONFIGURATION = "configuration"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class ConnectionTestResult:
    ok: bool
    message: str  # for people: what happened and what to check; never a secret
    broker_count: int
    duration_ms: int
    error_kind: ConnectionErrorKind | None = None


@dataclass(frozen=True, slots=True)
class _Probe:
    server: str
    outcome: str  # "ok", "unknown_host", "refused", "timeout" or "unreachable"
    detail: str = ""


def _probe(server: str, timeout_s: float) -> _Probe:
    """Resolve and open a TCP connection to one bootstrap server: the facts librdkafka's errors blur."""
    host, _, port = server.rpartition(":")
    host = host.strip("[]")  # [::1]:9092
    try:
        addresses = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return _Probe(server, "unknown_host", exc.strerror or str(exc))
    outcome = _Probe(server, "unreachable", "no address")
    for family, kind, proto, _canonical, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(timeout_s)
            try:
                sock.connect(address)
            except ConnectionRefusedError:
                outcome = _Probe(server, "refused")
            except TimeoutError:
                outcome = _Probe(server, "timeout")
            except OSError as exc:
                outcome = _Probe(server, "unreachable", exc.strerror or str(exc))
            else:
                return _Probe(server, "ok")
    return outcome


def _unreachable_result(probes: Sequence[_Probe], timeout_s: float) -> tuple[ConnectionErrorKind, str]:
    outcomes = {probe.outcome for probe in probes}
    if outcomes == {"unknown_host"}:
        kind = ConnectionErrorKind.UNKNOWN_HOST
        summary = "The broker host name does not resolve"
        hint = "Check the spelling of the bootstrap servers and your DNS."
    elif "refused" in outcomes:
        kind = ConnectionErrorKind.REFUSED
        summary = "The connection was refused"
        hint = "Nothing listens on that port: check the port, and that the brokers are running."
    elif "timeout" in outcomes:
        kind = ConnectionErrorKind.TIMEOUT
        summary = f"No answer within {timeout_s:g} s"
        hint = "A firewall may drop the traffic, or the brokers are overloaded: check the network path and the port."
    else:
        kind = ConnectionErrorKind.UNAVAILABLE
        summary = "No broker could be reached"
        hint = "Check the network path to the brokers."
    per_server = {
        "unknown_host": "unknown host",
        "refused": "connection refused",
        "timeout": f"no answer within {timeout_s:g} s",
        "unreachable": "unreachable",
    }
    details = "; ".join(
        f"{probe.server}: {per_server[probe.outcome]}" + (f" ({probe.detail})" if probe.detail else "")
        for probe in probes
    )
    return kind, f"{summary} ({details}). {hint}"


def _handshake_failure(connection: ClusterConnection, exc: KafkaGatewayError) -> tuple[ConnectionErrorKind, str]:
    """The brokers accept TCP connections but Kafka calls fail: tell the likely cause from the error and protocol.

    librdkafka reports a refused SASL login, a TLS mismatch and a silent port alike as a transport
    failure or a timeout, so for those the security protocol decides which cause to name first.
    """
    protocol = connection.security_protocol
    if isinstance(exc, KafkaAuthenticationError | KafkaConfigurationError) and exc.code in ("_SSL", "_AUTHENTICATION"):
        # The gateway named the cause from librdkafka's reports (see eventscope.kafka._diagnosis).
        _operation, _, cause = exc.message.partition(": ")
        kind = ConnectionErrorKind.TLS if exc.code == "_SSL" else ConnectionErrorKind.BAD_CREDENTIALS
        return kind, cause or exc.message
    if isinstance(exc, KafkaAuthenticationError):
        return ConnectionErrorKind.BAD_CREDENTIALS, (
            f"The brokers refused the login ({protocol}, {connection.sasl_mechanism or 'no SASL'}). "
            "Check the username, the password and the SASL mechanism."
        )
    if isinstance(exc, KafkaAuthorizationError):
        return ConnectionErrorKind.NOT_AUTHORIZED, (
            "Logged in, but the user may not describe the cluster. Grant it Describe on the cluster and topics."
        )
    if isinstance(exc, KafkaConfigurationError):
        return ConnectionErrorKind.CONFIGURATION, f"The connection settings are not usable: {exc.message}"
    if not isinstance(exc, KafkaUnavailableError):
        return ConnectionErrorKind.UNAVAILABLE, f"The cluster answered with an error: {exc.message}"
    waited = f"{connection.timeout_s:g} s"
    if exc.code == "_TRANSPORT" and "first Kafka request" in exc.message:
        return ConnectionErrorKind.CONFIGURATION, exc.message.partition(": ")[2]
    if protocol.startswith("SASL_"):
        return ConnectionErrorKind.BAD_CREDENTIALS, (
            f"The brokers accept connections, but the {protocol} login did not complete within {waited}. "
            f"Most likely the username or password is wrong, or the broker does not enable "
            f"{connection.sasl_mechanism}; check also that this listener speaks {protocol}."
        )
    if protocol == "SSL":
        return ConnectionErrorKind.CONFIGURATION, (
            f"The brokers accept connections, but the TLS handshake did not complete within {waited}. "
            "Check the CA certificate and that this listener speaks TLS (SSL)."
        )
    return ConnectionErrorKind.TIMEOUT, (
        f"The brokers accept connections, but did not answer as Kafka within {waited}. "
        "If the listener needs TLS or SASL, choose that security protocol; otherwise check the port."
    )


def cluster_test_connection(*, cluster: Cluster, timeout_s: float | None = None) -> ConnectionTestResult:
    """Try the cluster's connection and say what happened in words a person can act on.

    Each bootstrap server is first resolved and connected to over TCP (which tells an unknown
    host, a refused port and a silent network apart), then the gateway reads the cluster's
    metadata, which proves the Kafka protocol, TLS and the login work. No DB writes.
    """
    started = time.monotonic()
    secrets: list[str | None] = []

    def result(
        ok: bool, message: str, brokers: int = 0, kind: ConnectionErrorKind | None = None
    ) -> ConnectionTestResult:
        outcome = ConnectionTestResult(
            ok=ok,
            message=redact(message, secrets),
            broker_count=brokers,
            duration_ms=int((time.monotonic() - started) * 1000),
            error_kind=kind,
        )
        logger.info(
            "cluster %s test connection: %s in %d ms%s",
            cluster.name,
            "ok" if ok else kind,
            outcome.duration_ms,
            "" if ok else f": {outcome.message}",
        )
        return outcome

    try:
        connection = cluster.connection()
        if timeout_s is not None:
            connection = connection.with_timeout(timeout_s)
        secrets.append(connection.sasl_password)
        connection.validate()
    except SecretDecryptionError:
        return result(
            False,
            "The stored SASL password or TLS client key cannot be decrypted with the configured keys "
            "(EVENTSCOPE_SECRETS_KEYS or DJANGO_SECRET_KEY changed): enter the password again.",
            kind=ConnectionErrorKind.CONFIGURATION,
        )
    except KafkaConfigurationError as exc:
        return result(
            False, f"The connection settings are not usable: {exc.message}", kind=ConnectionErrorKind.CONFIGURATION
        )

    servers = [server.strip() for server in connection.bootstrap_servers.split(",") if server.strip()]
    with ThreadPoolExecutor(max_workers=min(len(servers), 8)) as pool:
        probes = list(pool.map(lambda server: _probe(server, connection.timeout_s), servers))
    if not any(probe.outcome == "ok" for probe in probes):
        kind, message = _unreachable_result(probes, connection.timeout_s)
        return result(False, message, kind=kind)

    try:
        metadata = KafkaAdmin(connection).cluster_metadata()
    except KafkaGatewayError as exc:
        kind, message = _handshake_failure(connection, exc)
        return result(False, message, kind=kind)
    brokers = len(metadata.brokers)
    visible = sum(1 for topic in metadata.topics if not topic.internal)
    return result(
        True,
        f"Connected to Kafka cluster {metadata.cluster_id or '(no id)'}: "
        f"{brokers} broker{'s' if brokers != 1 else ''}, {visible} topic{'s' if visible != 1 else ''}.",
        brokers,
    )
