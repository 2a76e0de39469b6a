"""Cluster writes: connection settings and their encrypted secrets."""

from __future__ import annotations

from catalog.models import Cluster
from eventscope.secrets import encrypt_secret


def cluster_set_password(*, cluster: Cluster, password: str) -> None:
    """Encrypt the SASL password onto the cluster (not saved here: the caller saves with its other changes)."""
    cluster.sasl_password_encrypted = encrypt_secret(password)
