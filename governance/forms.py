from django import forms
from django.contrib.auth.forms import AuthenticationForm

from . import throttle
from .models import ApiToken

EXPIRY_CHOICES = [("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "Never")]


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'orders CI pipeline'.")
    scope = forms.ChoiceField(choices=ApiToken.Scope.choices, initial=ApiToken.Scope.READ)
    expires_in_days = forms.ChoiceField(choices=EXPIRY_CHOICES, initial="90", required=False, label="Expires in")


class SchemaPolicyForm(forms.Form):
    """One row of settings per rule: enabled, severity, and its parameter (a pattern, or the envelope's names).

    `initial` is the effective settings; `clean` gives the layer to store: only what differs from `below`
    (the defaults, or the defaults with the global settings for a domain).
    """

    def __init__(self, *args, effective: dict, below: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.below = below
        self.rules = []
        for rule, settings in effective.items():
            names = {"enabled": f"{rule}__enabled", "severity": f"{rule}__severity"}
            self.fields[names["enabled"]] = forms.BooleanField(required=False, initial=settings["enabled"], label="on")
            self.fields[names["severity"]] = forms.ChoiceField(
                choices=[("error", "error (blocks)"), ("warning", "warning")], initial=settings["severity"]
            )
            if "pattern" in settings:
                names["pattern"] = f"{rule}__pattern"
                self.fields[names["pattern"]] = forms.CharField(
                    initial=settings["pattern"],
                    max_length=500,
                    widget=forms.TextInput(attrs={"class": "mono", "size": 56}),
                )
            if "fields" in settings:
                names["fields"] = f"{rule}__fields"
                self.fields[names["fields"]] = forms.CharField(
                    initial="\n".join(f"{part}: {', '.join(aliases)}" for part, aliases in settings["fields"].items()),
                    widget=forms.Textarea(attrs={"rows": 5, "cols": 56, "class": "mono"}),
                    help_text="One part per line: `part: name, other name`.",
                )
            self.rules.append((rule, names))

    def clean(self):
        data = super().clean()
        layer: dict[str, dict] = {}
        for rule, names in self.rules:
            values = {"enabled": data.get(names["enabled"], False), "severity": data.get(names["severity"])}
            if "pattern" in names:
                values["pattern"] = data.get(names["pattern"], "")
            if "fields" in names:
                parsed = {}
                for number, line in enumerate((data.get(names["fields"]) or "").splitlines(), start=1):
                    if not line.strip():
                        continue
                    part, sep, aliases = line.partition(":")
                    names_ = [a.strip() for a in aliases.split(",") if a.strip()]
                    if not sep or not part.strip() or not names_:
                        self.add_error(names["fields"], f"Line {number}: write `part: name, other name`.")
                        break
                    parsed[part.strip()] = names_
                values["fields"] = parsed
            changed = {key: value for key, value in values.items() if self.below[rule].get(key) != value}
            if changed:
                layer[rule] = changed
        data["layer"] = layer
        return data


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's login form, refusing early while the user name (or address) is blocked by failed logins."""

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = throttle.client_address(self.request)
        wait = throttle.login_blocked_for(username, address)
        if wait:
            raise forms.ValidationError(
                f"Too many failed logins. Try again in {max(1, wait // 60)} minutes.", code="throttled"
            )
        cleaned = super().clean()
        throttle.record_success(username, address)
        return cleaned
