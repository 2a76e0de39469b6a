"""Forms of the schema pages: the subjects list's filters, "try a new version", "validate a sample message".

Validation of a schema text is the registry's own (`selectors.prepare_schema`), so a form refuses exactly
what a registration would refuse, with the same message.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django import forms

from catalog.models import Team
from schemas import selectors
from schemas.compatibility import CompatibilityLevel, SchemaType
from schemas.errors import RegistryError

__all__ = ["SubjectFilterForm", "TryVersionForm", "ValidateMessageForm"]

Q_MAX_LENGTH = 200
MAX_MESSAGE_CHARS = 1_000_000
SCHEMA_TYPE_CHOICES = [(kind.value, kind.value) for kind in SchemaType]


class SubjectFilterForm(forms.Form):
    """The subjects list's filters; an invalid value is ignored (and said), never a 400."""

    q = forms.CharField(label="Subject contains", required=False, max_length=Q_MAX_LENGTH)
    type = forms.ChoiceField(label="Schema type", required=False, choices=[("", "Any type"), *SCHEMA_TYPE_CHOICES])
    compatibility = forms.ChoiceField(
        label="Compatibility",
        required=False,
        choices=[("", "Any level"), *[(level.value, level.value) for level in CompatibilityLevel]],
    )
    owner = forms.ModelChoiceField(
        label="Owner team",
        required=False,
        queryset=Team.objects.order_by("name"),
        to_field_name="slug",
        empty_label="Any team",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["q"].widget.attrs.update({"type": "search", "placeholder": "orders", "autocomplete": "off"})

    def filters(self) -> dict[str, str]:
        """The valid filters as keyword arguments of `page_selectors.subject_list`."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        owner = data.get("owner")
        return {
            "q": (data.get("q") or "").strip(),
            "schema_type": data.get("type") or "",
            "compatibility": data.get("compatibility") or "",
            "owner_team": owner.slug if owner else "",
        }


class TryVersionForm(forms.Form):
    """A candidate schema for a subject; `prepared` holds it validated by the registry's own rules."""

    schema_type = forms.ChoiceField(label="Schema type", choices=SCHEMA_TYPE_CHOICES)
    schema = forms.CharField(
        label="Schema",
        strip=False,
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false", "class": "code-input"}),
    )
    references = forms.CharField(
        label="References",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "class": "code-input"}),
        help_text='Optional JSON list, as in the registry API: [{"name": "...", "subject": "...", "version": 1}]',
    )

    prepared: selectors.PreparedSchema | None = None

    def __init__(self, *args: Any, mirror: Any = None, **kwargs: Any) -> None:
        # A mirrored subject's candidate resolves its references in that mirror (schemas.external.selectors).
        super().__init__(*args, **kwargs)
        self.mirror = mirror

    def clean_references(self) -> list[dict[str, Any]] | None:
        text = (self.cleaned_data.get("references") or "").strip()
        if not text:
            return None
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"References are not valid JSON: {exc}") from None
        if not isinstance(value, list):
            raise forms.ValidationError("References are a JSON list of {name, subject, version} objects.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "schema" in data and "schema_type" in data and "references" in data:
            try:
                if self.mirror is not None:
                    from schemas.external.selectors import mirrored_prepare

                    self.prepared = mirrored_prepare(
                        self.mirror,
                        schema_text=data["schema"],
                        schema_type=data["schema_type"],
                        references=data["references"],
                    )
                else:
                    self.prepared = selectors.prepare_schema(
                        schema_text=data["schema"], schema_type=data["schema_type"], references=data["references"]
                    )
            except RegistryError as exc:
                self.add_error("schema", _printable(exc.message))
            except UnicodeError:
                # JSON escapes can spell lone surrogates ("\\ud800"), which no UTF-8 text can hold; the
                # registry core does not catch this yet (reported), so the form refuses them itself.
                self.add_error("schema", "Invalid schema: it contains a lone surrogate escape (\\ud800-\\udfff).")
        return data


def _printable(text: str) -> str:
    """Messages quote the schema back; lone surrogates in it would break the page's encoding."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class ValidateMessageForm(forms.Form):
    version = forms.TypedChoiceField(label="Version", coerce=int)
    message_type = forms.CharField(
        label="Message type",
        required=False,
        max_length=500,
        help_text="Protobuf only: the fully qualified message name; empty means the file's first message.",
    )
    message = forms.CharField(
        label="Message (JSON)",
        strip=False,
        max_length=MAX_MESSAGE_CHARS,
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false", "class": "code-input"}),
    )

    def __init__(self, *args: Any, version_choices: Sequence[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["version"].choices = list(version_choices)
