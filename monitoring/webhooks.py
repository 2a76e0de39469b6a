"""Alert webhooks: the payloads (our JSON, or Slack-compatible text and blocks) and one HTTP POST with a short
timeout. Sending never raises: the outcome (status code, error, duration) comes back as a DeliveryResult for the
caller to record. No database access here, so deliveries can run in worker threads.

One POST carries every alert of one rule that went the same way (firing, or resolved) in one delivery pass, so a
mass outage is one message per rule rather than one per consumer group (Slack accepts about one per second):
- our JSON: "count" and "alerts" (one object per alert with the per-alert fields) always; with one alert the
  per-alert fields are also at the top level, as they always were;
- Slack: one alert keeps its own headline; several get a summary line and the first SLACK_MAX_LISTED subjects,
  then "and K more".
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

__all__ = [
    "CONNECT_TIMEOUT_S",
    "READ_TIMEOUT_S",
    "SIGNATURE_HEADER",
    "SLACK_MAX_LISTED",
    "DeliveryResult",
    "alert_payload",
    "signature",
    "webhook_post",
]

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 5.0
USER_AGENT = "Eventscope-Alerts/1"
SIGNATURE_HEADER = "X-Eventscope-Signature"
SLACK_MAX_LISTED = 10  # subjects named in a grouped Slack message; the rest are "and K more"
SLACK_LINE_CHARS = 200  # one listed subject's line at most (a section block holds 3,000 characters)


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    status_code: int | None
    error: str
    duration_ms: int


@dataclass(frozen=True)
class AlertMessage:
    """What a notification says, independent of the payload format."""

    event: str  # "firing" or "resolved"
    rule_id: int
    rule_name: str
    rule_kind: str
    condition: str
    subject: str
    subject_key: str
    cluster: str
    group: str
    value: float | None
    threshold: float | None
    message: str
    since: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    resolution: str
    path: str  # the page of the subject, e.g. /catalog/consumer-groups/<cluster>/<group>/
    list_path: str = "/monitoring/alerts/"  # the page that lists several alerts (a grouped notification's link)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _link(path: str) -> str:
    base = getattr(settings, "EVENTSCOPE_BASE_URL", "") or ""
    return f"{base.rstrip('/')}{path}" if base else path


def _alert_fields(message: AlertMessage) -> dict[str, Any]:
    """The per-alert fields of our JSON payload."""
    return {
        "subject": {
            "key": message.subject_key,
            "name": message.subject,
            "cluster": message.cluster,
            "group": message.group or None,
        },
        "value": message.value,
        "threshold": message.threshold,
        "message": message.message,
        "since": _iso(message.since),
        "fired_at": _iso(message.fired_at),
        "resolved_at": _iso(message.resolved_at),
        "resolution": message.resolution or None,
        "url": _link(message.path),
    }


def _subjects_noun(messages: Sequence[AlertMessage]) -> str:
    if all(m.group for m in messages):
        return f"{len(messages)} consumer groups"
    if not any(m.group for m in messages):
        return f"{len(messages)} clusters"
    return f"{len(messages)} subjects"


def _summary(messages: Sequence[AlertMessage]) -> str:
    """'30 consumer groups: lag > 100 messages' (firing) or '30 consumer groups resolved'."""
    first = messages[0]
    if first.event == "firing":
        return f"{_subjects_noun(messages)}: {first.condition}"
    return f"{_subjects_noun(messages)} resolved"


def _json_payload(messages: Sequence[AlertMessage]) -> dict[str, Any]:
    first = messages[0]
    payload: dict[str, Any] = {
        "source": "eventscope",
        "status": first.event,
        "rule": {
            "id": first.rule_id,
            "name": first.rule_name,
            "kind": first.rule_kind,
            "condition": first.condition,
        },
    }
    alerts = [_alert_fields(message) for message in messages]
    if len(messages) == 1:
        payload.update(alerts[0])  # one alert: the shape it always had, at the top level
    else:
        payload.update(message=_summary(messages), url=_link(first.list_path))
    payload.update(count=len(alerts), alerts=alerts)
    return payload


def _slack_payload(messages: Sequence[AlertMessage]) -> dict[str, Any]:
    if len(messages) == 1:
        return _slack_single(messages[0])
    first = messages[0]
    icon = ":rotating_light:" if first.event == "firing" else ":white_check_mark:"
    verb = "FIRING" if first.event == "firing" else "RESOLVED"
    headline = f"{icon} [{verb}] {first.rule_name}: {_summary(messages)}"
    lines = []
    for message in messages[:SLACK_MAX_LISTED]:
        detail = message.message if message.event == "firing" else (message.resolution or "condition cleared")
        # A firing alert's message starts with its subject ("prod / orders: lag 500 messages > 100").
        line = f"• {detail}" if detail.startswith(message.subject) else f"• {message.subject}: {detail}"
        lines.append(line if len(line) <= SLACK_LINE_CHARS else line[: SLACK_LINE_CHARS - 1] + "…")
    more = len(messages) - SLACK_MAX_LISTED
    if more > 0:
        lines.append(f"and {more} more")
    listing = "\n".join(lines)
    link = _link(first.list_path)
    context = [f"rule: {first.condition}"]
    if link.startswith("http"):
        context.append(f"<{link}|open in Eventscope>")
    return {
        "text": f"{headline}\n{listing}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline}*\n{listing}"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]},
        ],
    }


def _slack_single(message: AlertMessage) -> dict[str, Any]:
    icon = ":rotating_light:" if message.event == "firing" else ":white_check_mark:"
    verb = "FIRING" if message.event == "firing" else "RESOLVED"
    headline = f"{icon} [{verb}] {message.rule_name}: {message.subject}"
    detail = message.message if message.event == "firing" else (message.resolution or "condition cleared")
    link = _link(message.path)
    text = f"{headline}\n{detail}"
    context = [f"rule: {message.condition}", f"since {_iso(message.since)}"]
    if link.startswith("http"):
        context.append(f"<{link}|open in Eventscope>")
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline}*\n{detail}"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]},
        ],
    }


def alert_payload(messages: AlertMessage | Sequence[AlertMessage], payload_format: str) -> dict[str, Any]:
    """The body of one POST about one alert or several (of one rule, all firing or all resolved)."""
    batch = [messages] if isinstance(messages, AlertMessage) else list(messages)
    if not batch:
        raise ValueError("a notification needs at least one alert")
    if len({(m.rule_id, m.event) for m in batch}) != 1:
        raise ValueError("one notification is about one rule and one event")
    return _slack_payload(batch) if payload_format == "slack" else _json_payload(batch)


def signature(secret: str, body: bytes) -> str:
    """The X-Eventscope-Signature value: "sha256=" and the hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


PRIVATE_REFUSAL = (
    "refused: the webhook's host is on a private or local network (EVENTSCOPE_WEBHOOK_ALLOW_PRIVATE=true allows it)"
)


def _not_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def private_destination(url: str, *, resolve: bool = True) -> bool | None:
    """Whether the URL's host is (or resolves to) a private, loopback, link-local or otherwise non-public
    address; None when the name cannot be resolved (or `resolve` is off and the host is a name)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        return _not_public(ipaddress.ip_address(host))
    except ValueError:
        pass
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    if not resolve:
        return None
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    return any(_not_public(ipaddress.ip_address(info[4][0].split("%", 1)[0])) for info in infos)


def webhook_post(url: str, payload: dict[str, Any], *, secret: str = "") -> DeliveryResult:
    """POST the payload as JSON (signed when the rule has a secret); a 2xx answer is a success. Errors are
    described without the URL (it may hold a token), and nothing is raised. A host on a private network is
    refused unless EVENTSCOPE_WEBHOOK_ALLOW_PRIVATE (checked when sending too: a name may resolve elsewhere
    later than when the rule was saved)."""
    started = time.monotonic()
    if not settings.EVENTSCOPE_WEBHOOK_ALLOW_PRIVATE and private_destination(url):
        return DeliveryResult(False, None, PRIVATE_REFUSAL, _elapsed_ms(started))
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json"}
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, body)
    try:
        response = requests.post(
            url,
            data=body,
            timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
            headers=headers,
            allow_redirects=False,
        )
    except requests.Timeout:
        return DeliveryResult(False, None, "timed out", _elapsed_ms(started))
    except requests.ConnectionError:
        return DeliveryResult(False, None, "could not connect", _elapsed_ms(started))
    except requests.RequestException as exc:
        return DeliveryResult(False, None, f"request failed: {type(exc).__name__}", _elapsed_ms(started))
    duration = _elapsed_ms(started)
    if 200 <= response.status_code < 300:
        return DeliveryResult(True, response.status_code, "", duration)
    return DeliveryResult(False, response.status_code, f"HTTP {response.status_code}", duration)


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
