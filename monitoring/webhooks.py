"""Alert webhooks: the payloads (our JSON, or Slack-compatible text and blocks) and one HTTP POST with a short
timeout. Sending never raises: the outcome (status code, error, duration) comes back as a DeliveryResult for the
caller to record. No database access here, so deliveries can run in worker threads.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from django.conf import settings

__all__ = [
    "CONNECT_TIMEOUT_S",
    "READ_TIMEOUT_S",
    "SIGNATURE_HEADER",
    "DeliveryResult",
    "alert_payload",
    "signature",
    "webhook_post",
]

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 5.0
USER_AGENT = "Eventscope-Alerts/1"
SIGNATURE_HEADER = "X-Eventscope-Signature"


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


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _link(path: str) -> str:
    base = getattr(settings, "EVENTSCOPE_BASE_URL", "") or ""
    return f"{base.rstrip('/')}{path}" if base else path


def _json_payload(message: AlertMessage) -> dict[str, Any]:
    return {
        "source": "eventscope",
        "status": message.event,
        "rule": {
            "id": message.rule_id,
            "name": message.rule_name,
            "kind": message.rule_kind,
            "condition": message.condition,
        },
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


def _slack_payload(message: AlertMessage) -> dict[str, Any]:
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


def alert_payload(message: AlertMessage, payload_format: str) -> dict[str, Any]:
    return _slack_payload(message) if payload_format == "slack" else _json_payload(message)


def signature(secret: str, body: bytes) -> str:
    """The X-Eventscope-Signature value: "sha256=" and the hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_post(url: str, payload: dict[str, Any], *, secret: str = "") -> DeliveryResult:
    """POST the payload as JSON (signed when the rule has a secret); a 2xx answer is a success. Errors are
    described without the URL (it may hold a token), and nothing is raised."""
    started = time.monotonic()
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
