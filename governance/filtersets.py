"""Filters of the audit log, shared by its page and its API."""

from __future__ import annotations

import datetime as dt

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from .audit import AUDITED_MODELS
from .models import AuditEntry


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 time filter that queries in UTC: any offset Python accepts (up to ±24 h) is valid input,
    but PostgreSQL refuses offsets beyond ±15:59 in a literal. A time that has no UTC form (year 1 with a
    positive offset) matches nothing."""

    def filter(self, qs: QuerySet, value):
        if value is not None and value.tzinfo is not None:
            try:
                value = value.astimezone(dt.UTC)
            except OverflowError:
                return qs.none()
        return super().filter(qs, value)


class AuditEntryFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label="Object", max_length=200)
    actor = django_filters.CharFilter(field_name="actor_name", lookup_expr="iexact", label="Actor", max_length=150)
    channel = django_filters.ChoiceFilter(choices=AuditEntry.Channel.choices, empty_label="Any channel")
    action = django_filters.CharFilter(field_name="action", lookup_expr="iexact", max_length=20)
    object_type = django_filters.ChoiceFilter(
        choices=[(label, label) for label in sorted(AUDITED_MODELS)], empty_label="Any object type", label="Type"
    )
    object_id = django_filters.CharFilter(field_name="object_id", max_length=64, widget=forms.HiddenInput)
    since = UtcDateTimeFilter(field_name="timestamp", lookup_expr="gte", label="Since")
    until = UtcDateTimeFilter(field_name="timestamp", lookup_expr="lt", label="Until")

    class Meta:
        model = AuditEntry
        fields = ["q", "actor", "channel", "action", "object_type", "object_id", "since", "until"]

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(object_repr__icontains=value) | Q(object_id=value))
