"""Alert rule writes: create, change, delete. One transaction each; every check here, so the page's form and the
API reject the same input with the same messages (a ValidationError keyed by field; nothing changes).

A rule's webhook URL may carry a token (Slack and most chat tools put it in the path): it is stored encrypted
with eventscope.secrets and shown only in a masked form (scheme and host) from then on.
"""

from __future__ import annotations

import fnmatch
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction

from catalog.models import Cluster
from eventscope.secrets import encrypt_secret

from .models import AlertRule
from .webhooks import private_destination

__all__ = [
    "KEEP",
    "MAX_FOR_MINUTES",
    "alert_rule_create",
    "alert_rule_delete",
    "alert_rule_update",
    "mask_webhook_url",
]

MAX_FOR_MINUTES = 7 * 24 * 60
MAX_WEBHOOK_URL_LENGTH = 2000
MAX_WEBHOOK_SECRET_LENGTH = 200
MAX_THRESHOLD = 1e15
KEEP = object()  # alert_rule_update(webhook_url=KEEP): leave the stored webhook as it is

_FIELDS = ("name", "description", "kind", "threshold", "for_minutes", "cluster", "group_pattern", "enabled")
_url_validator = URLValidator(schemes=["http", "https"])


def mask_webhook_url(url: str) -> str:
    """Scheme, host and port only: "https://hooks.slack.com/…". Paths, queries and user info carry tokens."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


def _validate_webhook_url(url: str) -> str:
    url = url.strip()
    if not url:
        return ""
    if len(url) > MAX_WEBHOOK_URL_LENGTH:
        raise ValidationError({"webhook_url": [f"At most {MAX_WEBHOOK_URL_LENGTH} characters."]})
    try:
        _url_validator(url)
    except ValidationError as exc:
        raise ValidationError({"webhook_url": ["Enter a full http:// or https:// URL."]}) from exc
    # A name that does not resolve now is kept (DNS may be down); sending checks again.
    if not settings.EVENTSCOPE_WEBHOOK_ALLOW_PRIVATE and private_destination(url):
        raise ValidationError(
            {
                "webhook_url": [
                    "This host is on a private or local network. Webhooks go to public addresses unless the "
                    "server sets EVENTSCOPE_WEBHOOK_ALLOW_PRIVATE=true."
                ]
            }
        )
    return url


def _check(values: dict[str, Any]) -> None:
    """Rules that span fields (the model's full_clean covers each field on its own)."""
    errors: dict[str, list[str]] = {}
    kind = values["kind"]
    threshold = values.get("threshold")
    if kind in (AlertRule.Kind.TIME_LAG, AlertRule.Kind.LAG_MESSAGES):
        unit = "seconds" if kind == AlertRule.Kind.TIME_LAG else "messages"
        if threshold is None:
            errors["threshold"] = [f"This kind of rule needs a threshold (in {unit})."]
        elif not (0 <= threshold <= MAX_THRESHOLD) or threshold != threshold:
            errors["threshold"] = [f"A threshold is a number of {unit} from 0 to {MAX_THRESHOLD:g}."]
    elif threshold is not None:
        errors["threshold"] = ["Only time-lag and lag-in-messages rules take a threshold; leave it empty."]
    for_minutes = values.get("for_minutes")
    if for_minutes is None or not (0 <= for_minutes <= MAX_FOR_MINUTES):
        errors["for_minutes"] = [f"A whole number of minutes from 0 to {MAX_FOR_MINUTES} (7 days)."]
    elif kind == AlertRule.Kind.NO_DATA and for_minutes < 1:
        errors["for_minutes"] = ["A no-data rule needs at least 1 minute without a successful poll."]
    pattern = values.get("group_pattern") or ""
    if pattern and kind == AlertRule.Kind.NO_DATA:
        errors["group_pattern"] = ["A no-data rule is about a whole cluster; leave the group pattern empty."]
    elif pattern and any(ord(char) < 32 for char in pattern):
        errors["group_pattern"] = ["The pattern may not contain control characters."]
    elif pattern:
        try:
            fnmatch.translate(pattern)
        except Exception as exc:  # fnmatch accepts nearly anything; say so plainly when it does not
            errors["group_pattern"] = [f"Not a valid pattern: {exc}"]
    if errors:
        raise ValidationError(errors)


def _save(rule: AlertRule, webhook_url: Any, webhook_secret: Any = KEEP) -> AlertRule:
    # Every problem at once (a form shows them all), then one write.
    errors: dict[str, list[str]] = {}
    if webhook_secret is not KEEP:
        secret = str(webhook_secret or "")
        if len(secret) > MAX_WEBHOOK_SECRET_LENGTH:
            errors["webhook_secret"] = [f"At most {MAX_WEBHOOK_SECRET_LENGTH} characters."]
        else:
            rule.webhook_secret_encrypted = encrypt_secret(secret) if secret else ""
    if webhook_url is not KEEP:
        try:
            url = _validate_webhook_url(str(webhook_url or ""))
        except ValidationError as exc:
            errors.update(exc.message_dict)
        else:
            rule.webhook_url_encrypted = encrypt_secret(url) if url else ""
            rule.webhook_url_masked = mask_webhook_url(url)
    for check in (lambda: _check({field: getattr(rule, field) for field in _FIELDS}), rule.full_clean):
        try:
            check()
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                errors.setdefault(field, []).extend(m for m in messages if m not in errors.get(field, []))
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError as exc:  # a concurrent create with the same name
        raise ValidationError({"name": ["An alert rule with this name already exists."]}) from exc
    return rule


def alert_rule_create(
    *,
    name: str,
    kind: str,
    threshold: float | None = None,
    for_minutes: int = 0,
    cluster: Cluster | None = None,
    group_pattern: str = "",
    enabled: bool = True,
    webhook_url: str = "",
    webhook_secret: str = "",
    payload_format: str = AlertRule.PayloadFormat.JSON,
    description: str = "",
    created_by: AbstractBaseUser | None = None,
) -> AlertRule:
    rule = AlertRule(
        name=(name or "").strip(),
        kind=kind,
        threshold=threshold,
        for_minutes=for_minutes,
        cluster=cluster,
        group_pattern=(group_pattern or "").strip(),
        enabled=enabled,
        payload_format=payload_format,
        description=description or "",
        created_by=created_by if created_by is not None and created_by.is_authenticated else None,
    )
    return _save(rule, webhook_url, webhook_secret)


def alert_rule_update(
    *, rule: AlertRule, webhook_url: Any = KEEP, webhook_secret: Any = KEEP, **changes: Any
) -> AlertRule:
    """Change the fields named; `webhook_url=""` removes the webhook (and its signing secret), KEEP (the default)
    leaves it; likewise `webhook_secret`."""
    unknown = set(changes) - set(_FIELDS) - {"payload_format"}
    if unknown:
        raise ValidationError({name: ["Not a field of an alert rule."] for name in sorted(unknown)})
    rule = AlertRule.objects.get(pk=rule.pk)  # a fresh copy: a failed update leaves the caller's object alone
    for field, value in changes.items():
        if field in ("name", "group_pattern") and isinstance(value, str):
            value = value.strip()
        setattr(rule, field, value)
    if webhook_url == "" and webhook_secret is KEEP:
        webhook_secret = ""
    return _save(rule, webhook_url, webhook_secret)


@transaction.atomic
def alert_rule_delete(*, rule: AlertRule) -> None:
    """Delete a rule with its alerts and their notification history."""
    AlertRule.objects.filter(pk=rule.pk).delete()
