from django import forms

from .models import ApiToken

EXPIRY_CHOICES = [("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "Never")]


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'orders CI pipeline'.")
    scope = forms.ChoiceField(choices=ApiToken.Scope.choices, initial=ApiToken.Scope.READ)
    expires_in_days = forms.ChoiceField(choices=EXPIRY_CHOICES, initial="90", required=False, label="Expires in")
