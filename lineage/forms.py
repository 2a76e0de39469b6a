"""The lineage page's filter form (GET): one place validates cluster, domain, team, date, focus and display."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from catalog.models import Cluster, Domain, Team

from .overview import COLLAPSE_CHOICES

MAX_HOPS = 10


class LineageFilterForm(forms.Form):
    cluster = forms.ChoiceField(required=False)
    domain = forms.ChoiceField(required=False)
    team = forms.ChoiceField(required=False)
    as_of = forms.DateField(
        required=False, label="As of", widget=forms.DateInput(attrs={"type": "date"}), help_text="End of that day."
    )
    focus = forms.CharField(
        required=False,
        max_length=400,
        widget=forms.TextInput(attrs={"list": "lineage-nodes", "placeholder": "a node id, e.g. topic:cluster/name"}),
    )
    up = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_HOPS,
        label="Hops up",
        widget=forms.NumberInput(attrs={"placeholder": "2"}),
    )
    down = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_HOPS,
        label="Hops down",
        widget=forms.NumberInput(attrs={"placeholder": "2"}),
    )
    colour = forms.ChoiceField(required=False, choices=[("domain", "domain"), ("team", "team")], label="Colour by")
    collapse = forms.ChoiceField(required=False, choices=[(c, c) for c in COLLAPSE_CHOICES])
    stale = forms.ChoiceField(required=False, choices=[("show", "show"), ("hide", "hide")], label="Stale edges")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cluster"].choices = [("", "all")] + [
            (n, n) for n in Cluster.objects.values_list("name", flat=True)
        ]
        self.fields["domain"].choices = [("", "all"), *list(Domain.objects.values_list("slug", "name"))]
        self.fields["team"].choices = [("", "all"), *list(Team.objects.values_list("slug", "name"))]

    def clean_as_of(self):
        day = self.cleaned_data.get("as_of")
        if day is None:
            return None
        if day > timezone.localdate():
            raise forms.ValidationError("Pick today or a past date.")
        # The graph as it was at the end of that day.
        return timezone.make_aware(dt.datetime.combine(day, dt.time.max))

    def options(self) -> dict:
        data = self.cleaned_data
        return {
            "cluster": data.get("cluster") or None,
            "domain": data.get("domain") or None,
            "team": data.get("team") or None,
            "as_of": data.get("as_of"),
            "focus": (data.get("focus") or "").strip() or None,
            "up": 2 if data.get("up") is None else data["up"],
            "down": 2 if data.get("down") is None else data["down"],
            "colour": data.get("colour") or "domain",
            "collapse": data.get("collapse") or "auto",
            "include_stale": data.get("stale") != "hide",
        }
