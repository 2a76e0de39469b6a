"""Kafka clusters (connection settings, secrets encrypted at rest) and the record of each discovery run."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from eventscope.kafka import SASL_MECHANISMS, SECURITY_PROTOCOLS, ClusterConnection
from eventscope.secrets import decrypt_secret


class Cluster(models.Model):
    name = models.SlugField(max_length=100, unique=True, help_text="Short name, e.g. prod-eu.")
    description = models.TextField(blank=True)
    bootstrap_servers = models.CharField(max_length=1000, help_text="host:port[,host:port...]")
    security_protocol = models.CharField(
        max_length=20, choices=[(p, p) for p in SECURITY_PROTOCOLS], default="PLAINTEXT"
    )
    sasl_mechanism = models.CharField(max_length=20, choices=[(m, m) for m in SASL_MECHANISMS], blank=True)
    sasl_username = models.CharField(max_length=255, blank=True)
    # Fernet ciphertext (eventscope.secrets); the plaintext is never stored, shown or logged.
    sasl_password_encrypted = models.TextField(blank=True, editable=False)
    ssl_ca_pem = models.TextField(blank=True, verbose_name="TLS CA certificate (PEM)")
    # Mutual TLS: the certificate is public; its private key is Fernet ciphertext like the password.
    ssl_certificate_pem = models.TextField(blank=True, verbose_name="TLS client certificate (PEM)")
    ssl_key_pem_encrypted = models.TextField(blank=True, editable=False)
    ssl_verify_hostname = models.BooleanField(
        default=True,
        verbose_name="Verify the brokers' host names",
        help_text="Check that the brokers' certificates name the hosts connected to (turn off only for testing).",
    )
    is_default = models.BooleanField(default=False, help_text="The cluster of KAFKA_BOOTSTRAP_SERVERS.")
    discovery_enabled = models.BooleanField(default=True)
    discovery_interval_s = models.PositiveIntegerField(default=60)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_cluster"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_sasl_password(self) -> bool:
        return bool(self.sasl_password_encrypted)

    @property
    def has_ssl_key(self) -> bool:
        return bool(self.ssl_key_pem_encrypted)

    def connection(self, **overrides) -> ClusterConnection:
        """The gateway's connection settings, with the password and client key decrypted only here, in memory."""
        from django.conf import settings

        values = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
            "sasl_mechanism": self.sasl_mechanism or None,
            "sasl_username": self.sasl_username or None,
            "sasl_password": decrypt_secret(self.sasl_password_encrypted) if self.sasl_password_encrypted else None,
            "ssl_ca_pem": self.ssl_ca_pem or None,
            "ssl_certificate_pem": self.ssl_certificate_pem or None,
            "ssl_key_pem": decrypt_secret(self.ssl_key_pem_encrypted) if self.ssl_key_pem_encrypted else None,
            "ssl_verify_hostname": self.ssl_verify_hostname,
            "client_id": f"eventscope-{self.name}",
            "timeout_s": settings.KAFKA_REQUEST_TIMEOUT_S,
        }
        values.update(overrides)
        return ClusterConnection(**values)


class DiscoveryRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="discovery_runs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    trigger = models.CharField(max_length=20, default="schedule", help_text="schedule, manual, api or test")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    topics_seen = models.PositiveIntegerField(default=0)
    topics_created = models.PositiveIntegerField(default=0)
    topics_deleted = models.PositiveIntegerField(default=0)
    partitions_seen = models.PositiveIntegerField(default=0)
    groups_seen = models.PositiveIntegerField(default=0)
    groups_created = models.PositiveIntegerField(default=0)
    groups_deleted = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["cluster", "-started_at"])]
        constraints = [
            # Runs of one cluster never overlap: at most one RUNNING row per cluster, enforced by the database.
            models.UniqueConstraint(
                fields=["cluster"], condition=Q(status="running"), name="one_running_discovery_per_cluster"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cluster} discovery {self.started_at:%Y-%m-%d %H:%M:%S} {self.status}"
