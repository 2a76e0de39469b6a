"""HTML views of alerts: the alerts page (open alerts, history, rules) and the rule forms. Thin: reads here are
plain queries for the page; every write goes through monitoring.alert_rules. Anyone logged in may look; saving or
deleting needs the editor or admin role (checked before any input is read)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from catalog.cluster_choice import cluster_choice
from catalog.forms import add_service_errors
from catalog.views import action_needs_role, writes_need_role
from eventscope.listing import paginate

from .alert_forms import AlertRuleForm
from .alert_rules import alert_rule_create, alert_rule_delete, alert_rule_update
from .models import Alert, AlertNotification, AlertRule

__all__ = ["alerts", "rule_create", "rule_delete", "rule_edit"]


def _alert_queryset():
    return Alert.objects.select_related("rule", "cluster", "group", "group__cluster").defer(
        "group__members", "cluster__ssl_ca_pem"
    )


@require_GET
def alerts(request: HttpRequest) -> HttpResponse:
    notifications = Prefetch("notifications", queryset=AlertNotification.objects.order_by("created_at", "pk"))
    clusters = cluster_choice(request.GET)
    alerts_of = _alert_queryset()
    rules_of = AlertRule.objects.select_related("cluster")
    if clusters.selected:
        # A rule without a cluster watches every cluster: it stays listed, its alerts are those of this cluster.
        alerts_of = alerts_of.filter(Q(cluster__name=clusters.selected) | Q(group__cluster__name=clusters.selected))
        rules_of = rules_of.filter(Q(cluster__name=clusters.selected) | Q(cluster__isnull=True))
    open_alerts = list(
        alerts_of.filter(is_open=True)
        .prefetch_related(notifications)
        .order_by("state", "-fired_at", "-since")  # "firing" sorts before "pending"
    )
    history = paginate(
        request,
        alerts_of.filter(fired_at__isnull=False).prefetch_related(notifications).order_by("-fired_at", "-pk"),
    )
    rules = list(
        rules_of.annotate(
            firing=Count("alerts", filter=Q(alerts__state=Alert.State.FIRING)),
            pending=Count("alerts", filter=Q(alerts__state=Alert.State.PENDING)),
        )
    )
    context = {
        "clusters": clusters,
        "open_alerts": open_alerts,
        "firing_count": sum(alert.state == Alert.State.FIRING for alert in open_alerts),
        "history": history,
        "page_obj": history,
        "rules": rules,
    }
    return render(request, "monitoring/alerts.html", context)


def _rule_form_page(request: HttpRequest, *, rule: AlertRule | None) -> HttpResponse:
    if request.method == "POST":
        form = AlertRuleForm(request.POST, rule=rule)
        if form.is_valid():
            values = form.service_values()
            try:
                if rule is None:
                    saved = alert_rule_create(**values, created_by=request.user)
                else:
                    saved = alert_rule_update(rule=rule, **values)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, f"Alert rule “{saved.name}” saved.")
                return redirect(f"{reverse('monitoring:alerts')}#rule-{saved.pk}")
    else:
        form = AlertRuleForm(initial=AlertRuleForm.initial_for(rule) if rule else None, rule=rule)
    context = {
        "form": form,
        "rule": rule,
        "title": f"Edit alert rule {rule.name}" if rule else "New alert rule",
        "submit_label": "Save rule" if rule else "Create rule",
    }
    return render(request, "monitoring/alert_rule_form.html", context, status=400 if form.errors else 200)


@writes_need_role
def rule_create(request: HttpRequest) -> HttpResponse:
    return _rule_form_page(request, rule=None)


@writes_need_role
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _rule_form_page(request, rule=get_object_or_404(AlertRule.objects.select_related("cluster"), pk=pk))


@action_needs_role
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(AlertRule, pk=pk)
    alert_rule_delete(rule=rule)
    messages.success(request, f"Alert rule “{rule.name}” deleted, with its alert history.")
    return redirect("monitoring:alerts")
