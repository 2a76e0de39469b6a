"""Catalog writes: one transaction each, keyword-only arguments (HackSoft style)."""

from __future__ import annotations

from eventscope.secrets import encrypt_secret

from .models import Cluster


def cluster_set_password(*, cluster: Cluster, password: str) -> None:
    """Encrypt the SASL password onto the cluster (not saved here: the caller saves with its other changes)."""
    cluster.sasl_password_encrypted = encrypt_secret(password)
