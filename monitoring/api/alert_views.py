"""Alert API: /api/v1/alert-rules/ (CRUD; writing needs the editor or admin role) and /api/v1/alerts/ (read).

Thin, like the catalog's viewsets: a write validates the request's shape, calls one service in
monitoring.alert_rules (which checks the rest in one transaction), and answers with the rule as GET shows it. A
ValidationError becomes a 400 in the project's error format and nothing changes.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.api.views import CatalogPagination
from catalog.cluster_choice import UnknownClusterError, cluster_choice
from eventscope.api.permissions import ReadAuthenticatedWriteEditor

from ..alert_rules import KEEP, alert_rule_create, alert_rule_delete, alert_rule_update
from ..models import Alert, AlertNotification, AlertRule
from .alert_serializers import AlertRuleInputSerializer, AlertRuleSerializer, AlertSerializer

__all__ = ["AlertRuleViewSet", "AlertViewSet"]


@extend_schema_view(
    create=extend_schema(request=AlertRuleInputSerializer, responses={201: AlertRuleSerializer}),
    partial_update=extend_schema(request=AlertRuleInputSerializer, responses={200: AlertRuleSerializer}),
)
class AlertRuleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = AlertRuleSerializer
    permission_classes = [ReadAuthenticatedWriteEditor]
    pagination_class = CatalogPagination
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[AlertRule]:
        return (
            AlertRule.objects.select_related("cluster")
            .annotate(open_alerts=Count("alerts", filter=Q(alerts__state=Alert.State.FIRING)))
            .order_by("name", "pk")
        )

    def get_object(self) -> AlertRule:
        rule = self.get_queryset().filter(pk=self.kwargs["pk"]).first() if str(self.kwargs["pk"]).isdigit() else None
        if rule is None:
            raise exceptions.NotFound("No alert rule with this id.")
        return rule

    def _input(self, *, partial: bool) -> dict[str, Any]:
        serializer = AlertRuleInputSerializer(data=self.request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def _answer(self, rule: AlertRule, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(AlertRuleSerializer(self.get_queryset().get(pk=rule.pk)).data, status=status_code)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rule = alert_rule_create(**self._input(partial=False), created_by=request.user)
        return self._answer(rule, status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not kwargs.get("partial"):
            raise exceptions.MethodNotAllowed(request.method)
        rule = self.get_object()
        values = self._input(partial=True)
        webhook_url = values.pop("webhook_url", KEEP)
        webhook_secret = values.pop("webhook_secret", KEEP)
        return self._answer(
            alert_rule_update(rule=rule, webhook_url=webhook_url, webhook_secret=webhook_secret, **values)
        )

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        alert_rule_delete(rule=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("state", OpenApiTypes.STR, enum=[choice for choice, _ in Alert.State.choices]),
            OpenApiParameter("open", OpenApiTypes.BOOL, description="Only pending or firing alerts."),
            OpenApiParameter("rule", OpenApiTypes.INT, description="Only the alerts of this rule id."),
            OpenApiParameter("cluster", OpenApiTypes.STR, description="Only the alerts of this cluster (by name)."),
        ]
    )
)
class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Alerts, newest first: pending and firing ones, and the history of resolved ones with their notifications."""

    serializer_class = AlertSerializer
    pagination_class = CatalogPagination

    def get_queryset(self) -> QuerySet[Alert]:
        queryset = (
            Alert.objects.select_related("rule", "cluster", "group")
            .defer("group__members")
            .prefetch_related(
                Prefetch("notifications", queryset=AlertNotification.objects.order_by("created_at", "pk"))
            )
            .order_by("-since", "-pk")
        )
        if self.action != "list":
            return queryset
        params = self.request.query_params
        errors = {}
        state = params.get("state")
        if state:
            if state not in Alert.State.values:
                errors["state"] = [f"One of {', '.join(Alert.State.values)}."]
            queryset = queryset.filter(state=state)
        open_only = params.get("open")
        if open_only:
            if open_only.lower() not in ("true", "false", "1", "0"):
                errors["open"] = ["true or false."]
            elif open_only.lower() in ("true", "1"):
                queryset = queryset.filter(is_open=True)
            else:
                queryset = queryset.filter(is_open=False)
        rule = params.get("rule")
        if rule:
            if not rule.isdigit():
                errors["rule"] = ["A rule id (a whole number)."]
            else:
                queryset = queryset.filter(rule_id=int(rule))
        try:
            cluster = cluster_choice(params, strict=True).selected
        except UnknownClusterError as exc:
            errors["cluster"] = [exc.message]
        else:
            if cluster:
                queryset = queryset.filter(Q(cluster__name=cluster) | Q(group__cluster__name=cluster))
        if errors:
            raise exceptions.ValidationError(errors)
        return queryset

    def get_object(self) -> Alert:
        pk = str(self.kwargs["pk"])
        alert = self.get_queryset().filter(pk=pk).first() if pk.isdigit() else None
        if alert is None:
            raise exceptions.NotFound("No alert with this id.")
        return alert
