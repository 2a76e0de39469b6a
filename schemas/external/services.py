"""Writes of external registries: create, update, delete (with their beat schedules) and "sync now".

Every write validates through `external_registry_validate` (model rules plus what a source needs) and keeps
the registry's sync schedule (a django-celery-beat PeriodicTask) in step in the same transaction. The password
or bearer token is encrypted before it reaches the model and is never returned, logged or put in a message.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django_celery_beat.models import PeriodicTask

from eventscope.schedules import periodic_task_sync, periodic_tasks_delete
from eventscope.secrets import SecretDecryptionError, encrypt_secret
from schemas.models_external import ExternalRegistry

__all__ = [
    "MAX_SYNC_INTERVAL_S",
    "MIN_SYNC_INTERVAL_S",
    "SYNC_TASK",
    "SyncQueueUnavailableError",
    "external_registry_create",
    "external_registry_delete",
    "external_registry_schedule_sync",
    "external_registry_sync_request",
    "external_registry_update",
]

logger = logging.getLogger(__name__)

SYNC_TASK = "schemas.sync_external_registry"
MIN_SYNC_INTERVAL_S = 10
MAX_SYNC_INTERVAL_S = 24 * 3600
REQUEST_EXPIRES_S = 300
QUEUE_CHECK_TIMEOUT_S = 2
UPDATABLE_FIELDS = frozenset(
    {
        "name",
        "description",
        "source_kind",
        "url",
        "auth_kind",
        "username",
        "secret",
        "ca_pem",
        "cluster",
        "topic",
        "mode",
        "sync_enabled",
        "sync_interval_s",
    }
)
_SCHEDULE_FIELDS = frozenset({"name", "sync_enabled", "sync_interval_s"})


def _stored_secret(registry: ExternalRegistry) -> str | None:
    try:
        return registry.secret()
    except SecretDecryptionError:
        return None  # validation then asks for it again, which is the fix


def external_registry_validate(registry: ExternalRegistry, *, secret: str | None) -> None:
    """Raise a ValidationError with one message per field that cannot work; the secret is never in it."""
    errors: dict[str, list[str]] = {}
    try:
        registry.full_clean()
    except ValidationError as exc:
        errors = {field: list(messages) for field, messages in exc.message_dict.items()}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    kinds = ExternalRegistry.SourceKind
    if registry.source_kind == kinds.REST:
        parts = urlsplit(registry.url.strip())
        if "url" not in errors and (parts.scheme not in ("http", "https") or not parts.hostname):
            add("url", "Give the registry's http:// or https:// URL, e.g. https://schema-registry.example.com:8081.")
        elif parts.username or parts.password:
            add("url", "Put the credentials in the username and password fields, not in the URL.")
        if registry.auth_kind == ExternalRegistry.AuthKind.BASIC:
            if not registry.username:
                add("username", "HTTP Basic needs a username.")
            if not secret:
                add("secret", "HTTP Basic needs a password.")
        if registry.auth_kind == ExternalRegistry.AuthKind.BEARER and not secret:
            add("secret", "Bearer authentication needs a token.")
        ca = registry.ca_pem.strip()
        if ca and "-----BEGIN CERTIFICATE-----" not in ca:
            add("ca_pem", "The CA certificate must be in PEM format (-----BEGIN CERTIFICATE----- ...).")
    elif registry.source_kind == kinds.STORAGE_TOPIC:
        if registry.cluster_id is None:
            add("cluster", "A storage-topic source reads the topic from a cluster: choose it.")
        if not registry.topic.strip():
            add("topic", "Name the registry's storage topic (usually _schemas).")
    interval = registry.sync_interval_s
    if interval is not None and not MIN_SYNC_INTERVAL_S <= interval <= MAX_SYNC_INTERVAL_S:
        add(
            "sync_interval_s", f"The sync interval must be between {MIN_SYNC_INTERVAL_S} s and {MAX_SYNC_INTERVAL_S} s."
        )
    if registry.cluster_id is not None and "cluster" not in errors:
        taken = ExternalRegistry.objects.filter(cluster_id=registry.cluster_id).exclude(pk=registry.pk).first()
        if taken is not None:
            add("cluster", f"That cluster already uses the external registry {taken.name}.")
    if errors:
        raise ValidationError(errors)


def external_registry_create(
    *,
    name: str,
    url: str = "",
    source_kind: str = ExternalRegistry.SourceKind.REST,
    auth_kind: str = ExternalRegistry.AuthKind.NONE,
    username: str = "",
    secret: str | None = None,
    ca_pem: str = "",
    cluster: Any = None,
    topic: str = "_schemas",
    mode: str = ExternalRegistry.Mode.BESIDE,
    description: str = "",
    sync_enabled: bool = True,
    sync_interval_s: int = 300,
) -> ExternalRegistry:
    """Create an external registry and its sync schedule; a ValidationError names each bad field."""
    registry = ExternalRegistry(
        name=name,
        description=description,
        source_kind=source_kind,
        url=url.strip(),
        auth_kind=auth_kind,
        username=username,
        ca_pem=ca_pem,
        cluster=cluster,
        topic=topic,
        mode=mode,
        sync_enabled=sync_enabled,
        sync_interval_s=sync_interval_s,
    )
    external_registry_validate(registry, secret=secret)
    if secret and auth_kind != ExternalRegistry.AuthKind.NONE:
        registry.secret_encrypted = encrypt_secret(secret)
    with transaction.atomic():
        registry.save()
        external_registry_schedule_sync(registry=registry)
    logger.info("external registry %s created (%s)", registry.name, registry.source_description)
    return registry


def external_registry_update(*, registry: ExternalRegistry, **changes: Any) -> ExternalRegistry:
    """Change an external registry. `secret`: None (or absent) keeps the stored one, "" clears it.

    On a ValidationError the object is left as it was, so a form can show it again.
    """
    unknown = set(changes) - UPDATABLE_FIELDS
    if unknown:
        raise TypeError(f"external_registry_update() cannot change: {', '.join(sorted(unknown))}")
    secret = changes.pop("secret", None)
    if "url" in changes:
        changes["url"] = changes["url"].strip()
    previous = {field: getattr(registry, field) for field in [*changes, "secret_encrypted"]}
    for field, value in changes.items():
        setattr(registry, field, value)
    try:
        effective = _stored_secret(registry) if secret is None else (secret or None)
        external_registry_validate(registry, secret=effective)
    except ValidationError:
        for field, value in previous.items():
            setattr(registry, field, value)
        raise
    if registry.auth_kind == ExternalRegistry.AuthKind.NONE or secret == "":
        registry.secret_encrypted = ""
    elif secret is not None:
        registry.secret_encrypted = encrypt_secret(secret)
    with transaction.atomic():
        registry.save()
        if _SCHEDULE_FIELDS & set(changes):
            external_registry_schedule_sync(registry=registry)
    logger.info("external registry %s updated: %s", registry.name, ", ".join(sorted(changes)) or "nothing")
    return registry


def external_registry_delete(*, registry: ExternalRegistry) -> None:
    """Delete an external registry with its mirror and its schedule."""
    name = registry.name
    with transaction.atomic():
        periodic_tasks_delete(PeriodicTask.objects.filter(name=_schedule_name(registry.pk)))
        # The mirror's versions protect their schemas; delete them first, then the rest cascades.
        from catalog.search import Kind, search_index_bulk_update
        from schemas.models_external import MirroredSubject, MirroredVersion

        subject_ids = list(MirroredSubject.objects.filter(registry=registry).values_list("pk", flat=True))
        MirroredVersion.objects.filter(subject__registry=registry).delete()
        registry.delete()
        search_index_bulk_update(Kind.MIRRORED_SUBJECT, subject_ids)  # they are gone: their documents go
    logger.info("external registry %s deleted", name)


# ---------------------------------------------------------------------------------------------
# Schedules and "sync now"
# ---------------------------------------------------------------------------------------------
def _schedule_name(registry_id: int) -> str:
    return f"schemas: sync external registry {registry_id}"


def external_registry_schedule_sync(*, registry: ExternalRegistry) -> PeriodicTask:
    every = registry.sync_interval_s
    return periodic_task_sync(
        name=_schedule_name(registry.pk),
        task=SYNC_TASK,
        every=every,
        args=[registry.pk],
        enabled=registry.sync_enabled,
        description=f"Mirror of external registry {registry.name} every {every} s (kept in step by the schemas app).",
    )


def external_registry_schedule_delete(*, registry_id: int) -> None:
    periodic_tasks_delete(PeriodicTask.objects.filter(name=_schedule_name(registry_id)))


class SyncQueueUnavailableError(Exception):
    """The Celery broker cannot be reached: nothing was queued."""


def external_registry_sync_request(*, registry: ExternalRegistry) -> None:
    """Queue a sync of this registry now (after the current transaction commits).

    Raises SyncQueueUnavailableError when the task queue cannot be reached (then `manage.py mirror_registry`
    is the synchronous way); a web request never runs the sync itself.
    """
    from kombu.exceptions import OperationalError as KombuOperationalError

    from eventscope.celery import app

    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=0, interval_start=0, timeout=QUEUE_CHECK_TIMEOUT_S)
    except (KombuOperationalError, OSError) as exc:
        logger.warning("sync of external registry %s not queued: the task queue is unavailable: %s", registry.name, exc)
        raise SyncQueueUnavailableError(
            "The task queue is unavailable, so the sync was not requested. Start Redis and the Celery worker, "
            f"or run `manage.py mirror_registry --name {registry.name}` on the server."
        ) from None

    registry_id, name = registry.pk, registry.name

    def send() -> None:
        app.send_task(SYNC_TASK, args=[registry_id], expires=REQUEST_EXPIRES_S, retry=False)
        logger.info("sync of external registry %s queued", name)

    transaction.on_commit(send, robust=True)
