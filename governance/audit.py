"""The audit log: who changed what, when, through what, with the object before and after.

Changes are caught where every write path meets: Django's model signals on the audited models (the
catalog's documentation and clusters, the registry's subjects, versions and config, tokens,
policies, alert rules, tracing settings, users). A handful of services write with queryset
updates, which send no signals; they call `record` themselves.

Who and through what come from a context variable:
- web requests (AuditContextMiddleware): `page`, `api` (/api/) or `registry` (/registry/), with the
  request's user read when the entry is written (DRF authenticates inside the view, so a token or
  Basic user is known by then);
- Celery tasks: `task`, named after the task;
- management commands: `cli`, named after the OS user and the command;
- anything else: `system`.

Discovery's bulk writes of topics, partitions and groups are what the cluster reports, not changes
anyone made; they are not logged (a documentation edit of a topic or group is).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import getpass
import sys
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models.signals import post_delete, post_save, pre_save

__all__ = ["AUDITED_MODELS", "audit_context", "connect_signals", "current_channel", "record", "snapshot"]

PAGE, API, REGISTRY, CLI, TASK, SYSTEM = "page", "api", "registry", "cli", "task", "system"
CHANNELS = (PAGE, API, REGISTRY, CLI, TASK, SYSTEM)

# model label -> fields never shown (secrets: only "changed" is recorded) and fields ignored (noise).
AUDITED_MODELS: dict[str, dict[str, frozenset[str]]] = {
    "catalog.Cluster": {"secret": frozenset({"sasl_password_encrypted"})},
    "catalog.Domain": {},
    "catalog.Team": {},
    "catalog.TeamMembership": {},
    "catalog.Service": {},
    "catalog.EventType": {},
    "catalog.Tag": {},
    "catalog.DeclaredRelation": {},
    "catalog.Topic": {"ignore": frozenset({"last_seen"})},
    "catalog.ConsumerGroup": {"ignore": frozenset({"last_seen"})},
    "schemas.Subject": {},
    "schemas.SubjectVersion": {},
    "schemas.GlobalConfig": {},
    "schemas.ExternalRegistry": {
        "secret": frozenset({"secret_encrypted"}),
        # Sync bookkeeping (queryset updates, no signals; listed in case a save carries them along).
        "ignore": frozenset({"last_synced_at", "last_attempt_at", "last_error", "last_sync_summary"}),
    },
    "governance.ApiToken": {"secret": frozenset({"digest"}), "ignore": frozenset({"last_used_at"})},
    "governance.SchemaPolicy": {},
    "monitoring.TracingSettings": {},
    "monitoring.AlertRule": {"secret": frozenset({"webhook_url_encrypted", "webhook_secret_encrypted"})},
    "auth.User": {"secret": frozenset({"password"}), "ignore": frozenset({"last_login"})},
}
_ALWAYS_IGNORED = frozenset({"updated_at", "search_vector"})
SECRET_MARK = "••••••"  # noqa: S105 (what a secret shows as, not a secret)


@dataclass(frozen=True)
class AuditContext:
    channel: str
    request: Any = None  # the Django HttpRequest, whose user is read when an entry is written
    actor_name: str = ""


_context: ContextVar[AuditContext | None] = ContextVar("eventscope_audit_context", default=None)


@contextlib.contextmanager
def audit_context(channel: str, *, request: Any = None, actor_name: str = "") -> Iterator[AuditContext]:
    context = AuditContext(channel, request, actor_name)
    token = _context.set(context)
    try:
        yield context
    finally:
        _context.reset(token)


def _default_context() -> AuditContext:
    argv = sys.argv
    if argv and argv[0].endswith("manage.py") and len(argv) > 1:
        try:
            who = getpass.getuser()
        except (KeyError, OSError):
            who = "unknown"
        return AuditContext(CLI, None, f"{who} (manage.py {argv[1]})")
    return AuditContext(SYSTEM, None, "")


def current_context() -> AuditContext:
    return _context.get() or _default_context()


def current_channel() -> str:
    return current_context().channel


def _actor(context: AuditContext) -> tuple[Any, str]:
    user = getattr(context.request, "user", None)
    if user is not None and getattr(user, "is_authenticated", False):
        return user, user.get_username()
    return None, context.actor_name or context.channel


# ---------------------------------------------------------------------------------------------
# Snapshots
# ---------------------------------------------------------------------------------------------
def _rules(instance: models.Model) -> dict[str, frozenset[str]]:
    return AUDITED_MODELS.get(instance._meta.label, {})


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return str(value)


def snapshot(instance: models.Model) -> dict[str, Any]:
    """The instance's concrete fields (foreign keys as ids), secrets masked, noise left out."""
    rules = _rules(instance)
    secret, ignore = rules.get("secret", frozenset()), _ignored(instance)
    values: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if field.name in ignore:
            continue
        value = getattr(instance, field.attname)
        if field.name in secret:
            values[field.name] = SECRET_MARK if value else ""
        else:
            values[field.name] = _json_safe(value)
    return values


def _secret_changed(instance: models.Model, before: dict | None) -> list[str]:
    """Names of secret fields whose stored value changed (their snapshots are masked, so compare raw)."""
    raw = getattr(instance, "_audit_raw_secrets", None) or {}
    changed = []
    for name in _rules(instance).get("secret", frozenset()):
        field = instance._meta.get_field(name)
        if before is not None and raw.get(name) != getattr(instance, field.attname):
            changed.append(name)
    return changed


# ---------------------------------------------------------------------------------------------
# Writing entries
# ---------------------------------------------------------------------------------------------
def record(
    action: str,
    instance: models.Model | None = None,
    *,
    before: dict | None = None,
    after: dict | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    object_repr: str | None = None,
    changed: list[str] | None = None,
) -> Any:
    """Append one entry. `instance` fills the object's type, id and name unless they are given."""
    AuditEntry = apps.get_model("governance", "AuditEntry")
    context = current_context()
    user, actor_name = _actor(context)
    request = context.request
    if changed is None:  # for a create or a delete every field "changed": list none
        keys = set(before or {}) | set(after or {}) if before is not None and after is not None else set()
        changed = sorted(k for k in keys if before.get(k) != after.get(k))
    return AuditEntry.objects.create(
        actor=user,
        actor_name=actor_name[:150],
        channel=context.channel,
        action=action,
        object_type=object_type or (instance._meta.label if instance is not None else ""),
        object_id=str(object_id if object_id is not None else getattr(instance, "pk", "") or ""),
        object_repr=(object_repr if object_repr is not None else str(instance) if instance is not None else "")[:200],
        before=before,
        after=after,
        changed=changed,
        request_method=(getattr(request, "method", "") or "")[:10],
        request_path=(getattr(request, "path", "") or "")[:300],
    )


def _ignored(instance: models.Model) -> frozenset[str]:
    return _rules(instance).get("ignore", frozenset()) | _ALWAYS_IGNORED


def _pre_save(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    instance._audit_skip = bool(update_fields) and set(update_fields) <= _ignored(instance)
    if raw or instance._audit_skip or instance._state.adding or instance.pk is None:
        instance._audit_before = None
        return
    stored = sender._base_manager.filter(pk=instance.pk).first()
    instance._audit_before = snapshot(stored) if stored is not None else None
    if stored is not None:
        instance._audit_raw_secrets = {
            name: getattr(stored, sender._meta.get_field(name).attname)
            for name in _rules(instance).get("secret", frozenset())
        }


def _post_save(sender, instance, created, raw=False, **kwargs) -> None:
    if raw or getattr(instance, "_audit_skip", False):  # e.g. a save of last_seen only: nothing to log
        return
    before = None if created else getattr(instance, "_audit_before", None)
    after = snapshot(instance)
    if created or before is None:
        record("create", instance, before=None, after=after)
        return
    changed = sorted({k for k in after if before.get(k) != after.get(k)} | set(_secret_changed(instance, before)))
    if changed:
        record("update", instance, before=before, after=after, changed=changed)


def _post_delete(sender, instance, **kwargs) -> None:
    record("delete", instance, before=snapshot(instance), after=None)


def connect_signals() -> None:
    for label in AUDITED_MODELS:
        try:
            model = apps.get_model(label)
        except LookupError:  # an app or model not installed: nothing to audit
            continue
        uid = f"audit-{label}"
        pre_save.connect(_pre_save, sender=model, dispatch_uid=f"{uid}-pre", weak=False)
        post_save.connect(_post_save, sender=model, dispatch_uid=f"{uid}-post", weak=False)
        post_delete.connect(_post_delete, sender=model, dispatch_uid=f"{uid}-delete", weak=False)


def on_task_prerun(task=None, **kwargs) -> None:
    """Celery: changes a task makes are logged as `task`, named after it."""
    task_context = AuditContext(TASK, None, getattr(task, "name", "task"))
    if task is not None:
        task._audit_token = _context.set(task_context)


def on_task_postrun(task=None, **kwargs) -> None:
    token = getattr(task, "_audit_token", None)
    if token is not None:
        _context.reset(token)
        task._audit_token = None
