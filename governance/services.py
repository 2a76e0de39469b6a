"""Writes of the governance app: API token lifecycle, and checking a presented token."""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from eventscope.roles import ROLES, user_role

from . import audit, tokens
from .models import ApiToken

# last_used_at is a hint for people cleaning up tokens, not an access log: written at most once a minute.
LAST_USED_RESOLUTION = dt.timedelta(seconds=60)


class TokenRejected(Exception):
    """A presented token is unknown, malformed, expired, revoked, or its user cannot log in."""


def token_create(
    *, user, name: str, scope: str = ApiToken.Scope.READ, expires_at: dt.datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token; returns it with its clear text, which is shown once and never stored."""
    name = (name or "").strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Give the token a name that says what it is for."
    elif len(name) > 100:
        errors["name"] = "Use at most 100 characters."
    if scope not in ApiToken.Scope.values:
        errors["scope"] = f"Choose one of: {', '.join(ApiToken.Scope.values)}."
    else:
        role = user_role(user)
        wanted = ApiToken.SCOPE_ROLES[ApiToken.Scope(scope)]
        if role is None or ROLES.index(wanted) > ROLES.index(role):
            errors["scope"] = f"A {scope} token needs the {wanted} role; you have {role or 'no'} role."
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = "The expiry must be in the future."
    if not errors and ApiToken.objects.filter(user=user, name=name).exists():
        errors["name"] = "You already have a token with this name."
    if errors:
        raise ValidationError(errors)
    clear, prefix = tokens.generate()
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(
                user=user, name=name, scope=scope, expires_at=expires_at, prefix=prefix, digest=tokens.digest(clear)
            )
    except IntegrityError as exc:  # the same name created concurrently
        raise ValidationError({"name": "You already have a token with this name."}) from exc
    return token, clear


def token_revoke(token: ApiToken) -> ApiToken:
    """Revoke a token (idempotent: a revoked token keeps its first revocation time)."""
    if token.revoked_at is None:
        before = audit.snapshot(token)
        if ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
            token.refresh_from_db(fields=["revoked_at"])
            audit.record("revoke", token, before=before, after=audit.snapshot(token))
        else:
            token.refresh_from_db(fields=["revoked_at"])
    return token


def token_authenticate(clear: str, *, username: str | None = None) -> ApiToken:
    """The active token behind a clear-text token (its user loaded), or TokenRejected with the reason.

    With `username` (HTTP Basic `user:token`), the token must belong to that user.
    """
    prefix = tokens.prefix_of(clear)
    if prefix is None:
        raise TokenRejected("Malformed API token.")
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.digest, tokens.digest(clear)):
        raise TokenRejected("Invalid API token.")
    if username is not None and token.user.get_username() != username:
        raise TokenRejected("Invalid API token.")  # same answer: do not confirm the token exists
    now = timezone.now()
    status = token.status(now)
    if status != "active":
        raise TokenRejected(f"This API token has {'expired' if status == 'expired' else 'been revoked'}.")
    if not token.user.is_active:
        raise TokenRejected("The user of this API token is inactive.")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


# ---------------------------------------------------------------------------------------------
# Schema policies
# ---------------------------------------------------------------------------------------------
def subject_domain(subject: str):
    """The catalog domain a subject belongs to: its event type's, else its topic's (`<topic>-value|key`)."""
    from catalog.models import Domain
    from catalog.selectors import subject_catalog_value

    domain_id = subject_catalog_value(subject, "domain")
    return Domain.objects.get(pk=domain_id) if domain_id is not None else None


@dataclass(frozen=True)
class PolicyLayers:
    """The schema policy settings of one scope: its own row (if any), the rules of the layer below it
    (the defaults for the global scope; defaults + global for a domain), and the effective rules."""

    own: Any
    below: dict
    effective: dict


def schema_policy_layers(domain=None) -> PolicyLayers:
    from .models import SchemaPolicy
    from .policies import merge_rules

    rows = {row.domain_id: row for row in SchemaPolicy.objects.filter(Q(domain__isnull=True) | Q(domain=domain))}
    global_rules = rows[None].rules if None in rows else {}
    if domain is None:
        return PolicyLayers(rows.get(None), merge_rules(), merge_rules(global_rules))
    own = rows.get(domain.pk)
    return PolicyLayers(own, merge_rules(global_rules), merge_rules(global_rules, own.rules if own else {}))


def effective_policy_rules(subject: str) -> dict:
    """DEFAULT_RULES, then the global settings, then those of the subject's domain."""
    return schema_policy_layers(subject_domain(subject)).effective


def schema_policy_check(subject: str, schema, previous=None) -> list:
    """The policy violations of a proposed schema (a schemas.compatibility.ParsedSchema) under a subject."""
    from .policies import evaluate

    return evaluate(subject=subject, schema=schema, previous=previous, rules=effective_policy_rules(subject))


def schema_policy_set(*, rules, domain=None, user=None):
    """Replace the global (or a domain's) policy settings; ValidationError names what is wrong."""
    from .models import SchemaPolicy
    from .policies import validate_rules

    try:
        cleaned = validate_rules(rules)
    except ValueError as exc:
        raise ValidationError({"rules": str(exc)}) from exc
    with transaction.atomic():
        policy = SchemaPolicy.objects.select_for_update().filter(domain=domain).first()
        if policy is None:
            policy = SchemaPolicy(domain=domain)
        policy.rules = cleaned
        policy.updated_by = user if user is not None and user.is_authenticated else None
        policy.save()
    return policy
