"""Alert evaluation: after each lag poll cycle (and from its own beat task as a fallback), check every rule against
the latest group states and poll runs, move alerts through pending -> firing -> resolved, and notify webhooks.

- De-duplication: one open alert per (rule, subject), enforced by a database constraint; the pending -> firing
  and firing -> resolved steps are conditional updates, so of two evaluations racing only one notifies; and one
  notification row per (alert, event).
- Stale data (the cluster's last poll failed) and UNKNOWN statuses change nothing: an alert neither fires nor
  resolves on data the poller could not refresh (the no-data rule is the one that speaks about that).
- Deleted groups never alert, and their open alerts resolve; so do the open alerts of a disabled rule.
- Delivery is inline, after the state changes commit, in a small thread pool with short timeouts
  (monitoring.webhooks): a slow or dead webhook costs a cycle at most a few seconds and never fails it. A failed
  delivery is recorded (status code or error) and retried in later cycles (after 1, then 2 minutes), up to
  MAX_ATTEMPTS, while it is younger than RETRY_WINDOW.
- Grouping: the notifications due in one delivery pass go out as ONE POST per rule and event (firing, resolved)
  listing their alerts (up to MAX_ALERTS_PER_POST each), so thirty groups failing at once are one message, not
  thirty (Slack rate-limits webhooks to about one a second). The history still has one notification row per
  alert and event, each recording the outcome of the POST that carried it.
"""

from __future__ import annotations

import fnmatch
import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import DatabaseError, transaction
from django.db.models import Max, Q
from django.urls import reverse
from django.utils import timezone

from catalog.models import Cluster

from .models import Alert, AlertNotification, AlertRule, GroupLagState, LagPollRun, LagStatus
from .webhooks import AlertMessage, DeliveryResult, alert_payload, webhook_post

__all__ = ["MAX_ATTEMPTS", "EvaluationSummary", "deliver_pending_notifications", "evaluate_alerts"]

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
RETRY_WINDOW = timedelta(hours=1)
RETRY_BACKOFF = timedelta(minutes=1)  # a failed delivery waits attempts x this before the next try
DELIVERY_THREADS = 8
MAX_DUE = 2000  # notifications read per delivery pass (the rest wait for the next pass)
MAX_ALERTS_PER_POST = 200  # alerts listed in one webhook POST; more of one rule and event take several


@dataclass
class EvaluationSummary:
    rules: int = 0
    pending: int = 0
    fired: int = 0
    resolved: int = 0
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Observation:
    """A rule's condition on one subject at this evaluation. holds=None: unknown (stale), change nothing."""

    subject_key: str
    subject: str
    cluster_id: int
    group_id: int | None
    holds: bool | None
    since: datetime
    value: float | None
    message: str


# ---------------------------------------------------------------------------------------------
# Conditions
# ---------------------------------------------------------------------------------------------
def _group_observation(rule: AlertRule, state: GroupLagState, now: datetime) -> Observation:
    group = state.group
    subject = f"{group.cluster.name} / {group.group_id}"
    common = {
        "subject_key": f"group:{group.pk}",
        "subject": subject,
        "cluster_id": group.cluster_id,
        "group_id": group.pk,
    }
    unknown = state.stale or state.status == LagStatus.UNKNOWN
    if rule.kind == AlertRule.Kind.GROUP_STATUS:
        holds = None if unknown else state.status != LagStatus.OK
        minutes = int((now - state.since).total_seconds() // 60)
        message = f"{subject} is {state.status} since {state.since:%Y-%m-%d %H:%M:%S} UTC ({minutes} min)"
        return Observation(holds=holds, since=state.since, value=None, message=message, **common)
    if rule.kind == AlertRule.Kind.TIME_LAG:
        value = state.max_time_lag_s
        holds = None if state.stale or value is None else value > rule.threshold
        at_least = "≥ " if state.time_lag_lower_bound else ""
        message = f"{subject}: time lag {at_least}{value or 0:.0f} s > {rule.threshold:g} s"
        return Observation(holds=holds, since=now, value=value, message=message, **common)
    value = float(state.total_lag)
    holds = None if state.stale else value > rule.threshold
    message = f"{subject}: lag {state.total_lag:,} messages > {rule.threshold:g}"
    return Observation(holds=holds, since=now, value=value, message=message, **common)


def _group_matches(rule: AlertRule, state: GroupLagState) -> bool:
    if rule.cluster_id and state.group.cluster_id != rule.cluster_id:
        return False
    return not rule.group_pattern or fnmatch.fnmatchcase(state.group.group_id, rule.group_pattern)


def _cluster_observations(rule: AlertRule, clusters: list[Cluster], last_ok: dict[int, datetime], now: datetime):
    for cluster in clusters:
        if rule.cluster_id and cluster.pk != rule.cluster_id:
            continue
        reference = last_ok.get(cluster.pk) or cluster.created_at
        age_s = max(0.0, (now - reference).total_seconds())
        holds = age_s >= rule.for_minutes * 60
        what = "since" if cluster.pk in last_ok else "ever (cluster added"
        closing = "" if cluster.pk in last_ok else ")"
        message = (
            f"no successful lag poll of cluster {cluster.name} {what} {reference:%Y-%m-%d %H:%M:%S} UTC{closing}"
            f" ({age_s / 60:.0f} min)"
        )
        yield Observation(
            subject_key=f"cluster:{cluster.pk}",
            subject=cluster.name,
            cluster_id=cluster.pk,
            group_id=None,
            holds=holds,
            since=reference,
            value=round(age_s, 1),
            message=message,
        )


# ---------------------------------------------------------------------------------------------
# State changes
# ---------------------------------------------------------------------------------------------
CHUNK = 500  # rows per bulk statement / IN list


def _chunks(items: list, size: int = CHUNK):
    for index in range(0, len(items), size):
        yield items[index : index + size]


def _notify(alert_ids: list[int], event: str, rule: AlertRule, now: datetime) -> None:
    """One notification row per alert and event; the unique constraint drops any a racing evaluation made."""
    status = AlertNotification.Status.PENDING if rule.has_webhook else AlertNotification.Status.SKIPPED
    AlertNotification.objects.bulk_create(
        [AlertNotification(alert_id=pk, event=event, status=status, created_at=now) for pk in alert_ids],
        ignore_conflicts=True,
        batch_size=CHUNK,
    )


def _fire(alert_ids: list[int], rule: AlertRule, now: datetime) -> int:
    """Pending -> firing, and a "firing" notification for each alert this evaluation moved (fired_at == now)."""
    fired: list[int] = []
    for chunk in _chunks(alert_ids):
        Alert.objects.filter(pk__in=chunk, state=Alert.State.PENDING).update(
            state=Alert.State.FIRING, fired_at=now, updated_at=now
        )
        fired += Alert.objects.filter(pk__in=chunk, state=Alert.State.FIRING, fired_at=now).values_list("pk", flat=True)
    _notify(fired, AlertNotification.Event.FIRING, rule, now)
    return len(fired)


def _close(alerts: list[tuple[Alert, str]], rule: AlertRule, now: datetime) -> int:
    """Resolve firing alerts (with a "resolved" notification each); pending ones just go away. Returns resolved."""
    pending = [alert.pk for alert, _reason in alerts if alert.state == Alert.State.PENDING]
    for chunk in _chunks(pending):
        Alert.objects.filter(pk__in=chunk, state=Alert.State.PENDING).delete()
    by_reason: dict[str, list[int]] = defaultdict(list)
    for alert, reason in alerts:
        if alert.state == Alert.State.FIRING:
            by_reason[reason[:200]].append(alert.pk)
    resolved: list[int] = []
    for reason, ids in by_reason.items():
        for chunk in _chunks(ids):
            Alert.objects.filter(pk__in=chunk, state=Alert.State.FIRING).update(
                state=Alert.State.RESOLVED, is_open=False, resolved_at=now, resolution=reason, updated_at=now
            )
            resolved += Alert.objects.filter(pk__in=chunk, state=Alert.State.RESOLVED, resolved_at=now).values_list(
                "pk", flat=True
            )
    _notify(resolved, AlertNotification.Event.RESOLVED, rule, now)
    return len(resolved)


def _due(alert: Alert, rule: AlertRule, now: datetime) -> bool:
    return now - alert.since >= timedelta(minutes=rule.for_minutes)


def _apply(
    rule: AlertRule, observations: dict[str, Observation], open_alerts: list[Alert], now: datetime, summary
) -> None:
    """Move this rule's alerts along, in a fixed number of statements per kind of change (not one per subject)."""
    by_key = {alert.subject_key: alert for alert in open_alerts}
    to_close: list[tuple[Alert, str]] = []
    to_create: list[Observation] = []
    to_fire: list[int] = []
    for key, alert in by_key.items():
        if key in observations:
            continue
        if not rule.enabled:
            reason = "rule disabled"
        elif alert.group_id and alert.group and alert.group.deleted_at:
            reason = "consumer group deleted"
        else:
            reason = "no longer in the rule's scope or no longer measured"
        to_close.append((alert, reason))
    for key, observation in observations.items():
        alert = by_key.get(key)
        if observation.holds is None:
            continue
        if not observation.holds:
            if alert is not None:
                to_close.append((alert, "condition cleared"))
            continue
        if alert is None:
            to_create.append(observation)
            continue
        if alert.value != observation.value or alert.message != observation.message[:500]:
            # Only what changed: a thousand firing alerts cost no writes while their figures stand still.
            Alert.objects.filter(pk=alert.pk).update(
                value=observation.value, message=observation.message[:500], updated_at=now
            )
        if alert.state == Alert.State.PENDING:
            if _due(alert, rule, now):
                to_fire.append(alert.pk)
            else:
                summary.pending += 1
    if to_create:
        Alert.objects.bulk_create(
            [
                Alert(
                    rule=rule,
                    subject_key=observation.subject_key,
                    subject=observation.subject[:400],
                    cluster_id=observation.cluster_id,
                    group_id=observation.group_id,
                    since=observation.since,
                    value=observation.value,
                    message=observation.message[:500],
                )
                for observation in to_create
            ],
            ignore_conflicts=True,  # another evaluation opened one a moment ago: it owns that episode
            batch_size=CHUNK,
        )
        keys = [observation.subject_key for observation in to_create]
        for chunk in _chunks(keys):
            for alert in Alert.objects.filter(rule=rule, is_open=True, subject_key__in=chunk).only(
                "pk", "state", "since"
            ):
                if alert.state != Alert.State.PENDING:
                    continue
                if _due(alert, rule, now):
                    to_fire.append(alert.pk)
                else:
                    summary.pending += 1
    summary.resolved += _close(to_close, rule, now)
    summary.fired += _fire(to_fire, rule, now)


def _rule_observations(rule, states, clusters, last_ok, now) -> dict[str, Observation]:
    if not rule.enabled:
        return {}
    if rule.kind == AlertRule.Kind.NO_DATA:
        found = _cluster_observations(rule, clusters, last_ok, now)
    else:
        found = (_group_observation(rule, state, now) for state in states if _group_matches(rule, state))
    return {observation.subject_key: observation for observation in found}


def evaluate_alerts(cluster: Cluster | None = None, now: datetime | None = None, *, deliver: bool = True):
    """Evaluate every enabled rule (and close the alerts of disabled ones), for one cluster or all.

    Returns an EvaluationSummary. Never raises for a rule or a webhook that fails: each rule is evaluated in its
    own transaction, and a failure is logged and counted.
    """
    now = now or timezone.now()
    summary = EvaluationSummary()
    rules = list(
        AlertRule.objects.filter(Q(enabled=True) | Q(alerts__is_open=True))
        .filter((Q(cluster__isnull=True) | Q(cluster=cluster)) if cluster is not None else Q())
        .distinct()
        .order_by("pk")
    )
    summary.rules = len(rules)
    if rules:
        states = list(
            GroupLagState.objects.filter(group__deleted_at__isnull=True)
            .filter(Q(group__cluster=cluster) if cluster is not None else Q())
            .select_related("group", "group__cluster")
            .defer("window", "partitions", "group__members")
        )
        clusters = [cluster] if cluster is not None else list(Cluster.objects.order_by("pk"))
        last_ok = dict(
            LagPollRun.objects.filter(status=LagPollRun.Status.OK, cluster__in=clusters)
            .values("cluster")
            .annotate(last=Max("finished_at"))
            .values_list("cluster", "last")
        )
        last_ok = {key: value for key, value in last_ok.items() if value is not None}
        open_alerts: dict[int, list[Alert]] = defaultdict(list)
        open_qs = Alert.objects.filter(is_open=True, rule__in=rules).select_related("group")
        if cluster is not None:
            open_qs = open_qs.filter(cluster=cluster)
        for alert in open_qs.defer("group__members"):
            open_alerts[alert.rule_id].append(alert)
        for rule in rules:
            try:
                with transaction.atomic():
                    observations = _rule_observations(rule, states, clusters, last_ok, now)
                    _apply(rule, observations, open_alerts.get(rule.pk, []), now, summary)
            except DatabaseError as exc:
                logger.exception("alert rule %s (%s) could not be evaluated", rule.pk, rule.name)
                summary.errors.append(f"{rule.name}: {type(exc).__name__}")
    if deliver:
        sent, failed = deliver_pending_notifications(now=now)
        summary.sent, summary.failed = sent, failed
    if summary.fired or summary.resolved or summary.errors:
        logger.info(
            "alerts: %d rules, %d fired, %d resolved, %d sent, %d failed deliveries, %d errors",
            summary.rules,
            summary.fired,
            summary.resolved,
            summary.sent,
            summary.failed,
            len(summary.errors),
        )
    return summary


# ---------------------------------------------------------------------------------------------
# Delivery
# ---------------------------------------------------------------------------------------------
def _subject_path(alert: Alert) -> str:
    if alert.group_id and alert.group is not None:
        return reverse("catalog:consumer-group-detail", args=[alert.group.cluster.name, alert.group.group_id])
    if alert.cluster_id:
        return reverse("monitoring:cluster-health", args=[alert.cluster_id])
    return reverse("monitoring:alerts")


def notification_message(notification: AlertNotification) -> AlertMessage:
    alert = notification.alert
    rule = alert.rule
    return AlertMessage(
        event=notification.event,
        rule_id=rule.pk,
        rule_name=rule.name,
        rule_kind=rule.kind,
        condition=rule.condition_text,
        subject=alert.subject,
        subject_key=alert.subject_key,
        cluster=alert.cluster.name if alert.cluster_id else "",
        group=alert.group.group_id if alert.group_id else "",
        value=alert.value,
        threshold=rule.threshold,
        message=alert.message,
        since=alert.since,
        fired_at=alert.fired_at,
        resolved_at=alert.resolved_at,
        resolution=alert.resolution,
        path=_subject_path(alert),
        list_path=reverse("monitoring:alerts"),
    )


def _claim(due: list[AlertNotification], now: datetime) -> list[AlertNotification]:
    """Take the due notifications for this pass: a conditional update on the attempt count (one statement per
    attempt count and chunk), so two processes never send the same one. Returns those this pass took."""
    by_attempts: dict[int, list[AlertNotification]] = defaultdict(list)
    for notification in due:
        if notification.attempts and notification.last_attempt_at > now - RETRY_BACKOFF * notification.attempts:
            continue  # not yet: back off before trying a failing webhook again
        by_attempts[notification.attempts].append(notification)
    claimed: list[AlertNotification] = []
    for attempts, notifications in by_attempts.items():
        by_pk = {notification.pk: notification for notification in notifications}
        for chunk in _chunks(list(by_pk)):
            AlertNotification.objects.filter(pk__in=chunk, attempts=attempts).update(
                attempts=attempts + 1, last_attempt_at=now
            )
            taken = AlertNotification.objects.filter(
                pk__in=chunk, attempts=attempts + 1, last_attempt_at=now
            ).values_list("pk", flat=True)
            claimed += [by_pk[pk] for pk in taken]
    return claimed


def deliver_pending_notifications(now: datetime | None = None) -> tuple[int, int]:
    """Send the notifications that are due (new ones, and failed ones to retry); returns (sent, failed), counted
    in notifications (alerts), not in POSTs.

    The due notifications of one rule and event go out together in one POST (see the module docstring). The
    HTTP calls run in threads without touching the database; their outcomes are recorded here afterwards, on
    every notification the POST carried.
    """
    from eventscope.secrets import SecretDecryptionError, decrypt_secret

    now = now or timezone.now()
    due = list(
        AlertNotification.objects.filter(
            status__in=[AlertNotification.Status.PENDING, AlertNotification.Status.FAILED],
            attempts__lt=MAX_ATTEMPTS,
            created_at__gte=now - RETRY_WINDOW,
        )
        .select_related("alert", "alert__rule", "alert__cluster", "alert__group", "alert__group__cluster")
        .defer("alert__group__members")
        .order_by("created_at", "pk")[:MAX_DUE]
    )
    batches: dict[tuple[int, str], list[AlertNotification]] = defaultdict(list)
    for notification in _claim(due, now):
        batches[(notification.alert.rule_id, notification.event)].append(notification)
    jobs: list[tuple[list[AlertNotification], str, dict, str]] = []
    for notifications in batches.values():
        rule = notifications[0].alert.rule
        try:
            url = decrypt_secret(rule.webhook_url_encrypted) if rule.webhook_url_encrypted else ""
            secret = decrypt_secret(rule.webhook_secret_encrypted) if rule.webhook_secret_encrypted else ""
        except SecretDecryptionError:
            _record(notifications, DeliveryResult(False, None, "the webhook cannot be decrypted", 0), final=True)
            continue
        if not url:
            AlertNotification.objects.filter(pk__in=[n.pk for n in notifications]).update(
                status=AlertNotification.Status.SKIPPED
            )
            continue
        notifications.sort(key=lambda n: (n.alert.subject, n.alert.pk))
        for index in range(0, len(notifications), MAX_ALERTS_PER_POST):
            part = notifications[index : index + MAX_ALERTS_PER_POST]
            payload = alert_payload([notification_message(n) for n in part], rule.payload_format)
            jobs.append((part, url, payload, secret))
    if not jobs:
        return 0, 0
    with ThreadPoolExecutor(max_workers=min(DELIVERY_THREADS, len(jobs)), thread_name_prefix="alert-webhook") as pool:
        results = list(pool.map(lambda job: webhook_post(job[1], job[2], secret=job[3]), jobs))
    sent = failed = 0
    for (notifications, *_request), result in zip(jobs, results, strict=True):
        _record(notifications, result)
        if result.ok:
            sent += len(notifications)
            continue
        failed += len(notifications)
        rule = notifications[0].alert.rule
        logger.warning(
            "alert webhook of rule %s failed (%d %s notifications, attempt %d): %s",
            rule.name,
            len(notifications),
            notifications[0].event,
            max(n.attempts for n in notifications) + 1,
            result.error,
        )
    return sent, failed


def _record(notifications: list[AlertNotification], result: DeliveryResult, *, final: bool = False) -> None:
    """The outcome of the POST that carried these notifications, on each of them; a failure that used up the
    attempts (or cannot be retried: final) is given up."""
    ids = [notification.pk for notification in notifications]
    for chunk in _chunks(ids):
        AlertNotification.objects.filter(pk__in=chunk).update(
            status=AlertNotification.Status.SENT if result.ok else AlertNotification.Status.FAILED,
            response_status=result.status_code,
            error=result.error[:500],
            duration_ms=result.duration_ms,
        )
        if final and not result.ok:
            AlertNotification.objects.filter(pk__in=chunk).update(attempts=MAX_ATTEMPTS)
