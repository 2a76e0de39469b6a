"""Forms of the catalog pages: they parse and check input; the services in catalog.services.documentation write.

Plain forms rather than ModelForms on purpose: a ModelForm validates by mutating the instance it edits
and tempts a `form.save()` that skips the service. Here `cleaned_data` goes to one service call, and the
model's own validation (run inside the service) comes back onto the form with `add_service_errors`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from .models import ConsumerGroup, DeclaredRelation, Domain, EventType, Service, Team, TeamMembership, Topic
from .services import documentation

__all__ = [
    "ConsumerGroupDocumentationForm",
    "DomainForm",
    "EventTypeForm",
    "RelationForm",
    "RelationReaderForm",
    "ServiceForm",
    "TeamForm",
    "TopicDocumentationForm",
    "add_service_errors",
]

MARKDOWN_HELP = "Markdown: **bold**, _italic_, `code`, [links](https://example.com), lists and tables."


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a service's ValidationError on the form: on the field it names, or at the top when the form has no
    such field (then prefixed with the field's name, so "slug: ..." still says what was wrong)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for field_name, errors in error.error_dict.items():
        messages = [message for err in errors for message in err.messages]
        if field_name in form.fields:
            form.add_error(field_name, messages)
        elif field_name == NON_FIELD_ERRORS:
            form.add_error(None, messages)
        else:
            form.add_error(None, [f"{field_name.replace('_', ' ')}: {message}" for message in messages])


class MarkdownField(forms.CharField):
    def __init__(self, *, rows: int = 8, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", MARKDOWN_HELP)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": rows, "class": "markdown-input"}))
        # Keep the author's whitespace: indentation and trailing spaces mean something in Markdown.
        kwargs.setdefault("strip", False)
        super().__init__(**kwargs)


class TagsField(forms.CharField):
    """Tags as one comma-separated text field; cleans to a list of names (the service validates them)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 1000)
        kwargs.setdefault("help_text", "Comma-separated, e.g. orders, pii, gdpr.")
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(str(tag) for tag in value)
        return value

    def to_python(self, value: Any) -> list[str]:
        text = super().to_python(value)
        return [name.strip().lower() for name in text.split(",") if name.strip()]


class TopicField(forms.CharField):
    """A topic by name, or `cluster/name` when the name exists on several clusters (Kafka names have no "/")."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 400)
        kwargs.setdefault("help_text", "Topic name; write cluster/name when it exists on more than one cluster.")
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, Topic):
            return f"{value.cluster.name}/{value.name}"
        return value

    def clean(self, value: Any) -> Topic | None:
        text = super().clean(value)
        if not text:
            return None
        cluster_name, _, name = text.rpartition("/")
        candidates = Topic.objects.select_related("cluster").filter(name=name.strip())
        if cluster_name:
            candidates = candidates.filter(cluster__name=cluster_name.strip())
        topics = list(candidates.order_by("deleted_at", "cluster__name")[:10])
        present = [topic for topic in topics if topic.deleted_at is None] or topics
        if not present:
            raise ValidationError("No topic of this name has been discovered.", code="unknown_topic")
        if len(present) > 1:
            clusters = ", ".join(f"{topic.cluster.name}/{topic.name}" for topic in present)
            raise ValidationError(f"This name exists on several clusters; write one of: {clusters}", code="ambiguous")
        return present[0]


def _team_choice(label: str = "Owner team") -> forms.ModelChoiceField:
    return forms.ModelChoiceField(Team.objects.order_by("name"), required=False, label=label, empty_label="— none —")


def _domain_choice() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(Domain.objects.order_by("name"), required=False, empty_label="— none —")


def _users() -> forms.ModelMultipleChoiceField:
    return forms.ModelMultipleChoiceField(
        get_user_model().objects.filter(is_active=True).order_by("username"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )


class DomainForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = MarkdownField()


class TeamForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = MarkdownField(rows=5)
    contact_channel = forms.CharField(
        max_length=255, required=False, help_text="Where to reach the team: #orders-team, orders@example.com."
    )
    domain = _domain_choice()
    members = _users()
    editors = _users()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["members"].help_text = "Ctrl- or Cmd-click to choose several."
        self.fields[
            "editors"
        ].help_text = "Members who maintain the team's documentation (listed here, they need not be ticked above)."

    def member_roles(self) -> dict[Any, str]:
        """{user: role} for the service; an editor listed among the members too is an editor."""
        roles = {user: TeamMembership.Role.MEMBER for user in self.cleaned_data.get("members") or []}
        roles.update({user: TeamMembership.Role.EDITOR for user in self.cleaned_data.get("editors") or []})
        return roles


class ServiceForm(forms.Form):
    name = forms.CharField(max_length=100)
    owner_team = _team_choice()
    domain = _domain_choice()
    repository_url = forms.URLField(required=False, assume_scheme="https", max_length=200, label="Repository URL")
    tags = TagsField()
    description = MarkdownField()


class EventTypeForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="What happened, e.g. OrderPlaced.")
    version = forms.IntegerField(min_value=1, initial=1)
    summary = forms.CharField(max_length=300, required=False, help_text="One line: what happened.")
    owner_team = _team_choice()
    domain = _domain_choice()
    topic = TopicField()
    schema_subject = forms.CharField(
        max_length=255,
        required=False,
        help_text="Registry subject of the payload schema, e.g. shop.orders.placed-value.",
    )
    data_classification = forms.ChoiceField(choices=EventType.Classification.choices, initial="internal")
    tags = TagsField()
    business_meaning = MarkdownField(rows=10)
    example_payload = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8, "class": "code-input", "spellcheck": "false"}),
        help_text="A representative payload, as JSON.",
        validators=[documentation.validate_json_text],
    )


class ReadFieldsField(forms.CharField):
    """The field paths a consumer reads, one per line (commas work too); cleans to a list."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 20_000)
        kwargs.setdefault("label", "Fields it reads")
        kwargs.setdefault(
            "help_text",
            "Consumes only: one field path per line, e.g. order_id or items[].sku. Impact analysis checks a "
            "schema change against them; leave empty when unknown.",
        )
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 5, "class": "code-input", "spellcheck": "false"}))
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return "\n".join(str(path) for path in value)
        return value

    def to_python(self, value: Any) -> list[str]:
        text = super().to_python(value)
        return [path.strip() for line in text.splitlines() for path in line.split(",") if path.strip()]


def _reader_version_field() -> forms.IntegerField:
    return forms.IntegerField(
        required=False,
        min_value=1,
        max_value=2_147_483_647,
        label="Reader schema version",
        help_text="Consumes only: the version of the registry subject (the event type's subject, else "
        "<topic>-value) whose schema this consumer reads with.",
    )


class RelationForm(forms.Form):
    direction = forms.ChoiceField(choices=DeclaredRelation.Direction.choices, widget=forms.RadioSelect)
    event_type = forms.ModelChoiceField(
        EventType.objects.order_by("name", "version"), required=False, empty_label="— pick an event type —"
    )
    topic = TopicField(help_text="…or a topic: its name, or cluster/name when it exists on more than one cluster.")
    reader_schema_version = _reader_version_field()
    reads_fields = ReadFieldsField()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if (
            "event_type" in cleaned
            and "topic" in cleaned
            and (cleaned["event_type"] is None) == (cleaned["topic"] is None)
        ):
            raise ValidationError("Pick an event type or name a topic (one of the two).")
        return cleaned


class RelationReaderForm(forms.Form):
    """What a consumer declares it reads, on its own (the relation's other fields do not change)."""

    reader_schema_version = _reader_version_field()
    reads_fields = ReadFieldsField()


class TopicDocumentationForm(forms.Form):
    owner_team = _team_choice()
    domain = _domain_choice()
    tags = TagsField()
    description = MarkdownField(rows=12)


class ConsumerGroupDocumentationForm(forms.Form):
    service = forms.ModelChoiceField(
        Service.objects.order_by("name"),
        required=False,
        empty_label="— none —",
        help_text="The service this group belongs to.",
    )
    description = MarkdownField()


def initial_for(obj: Any) -> dict[str, Any]:
    """The initial values of an edit form from the object it edits."""
    if isinstance(obj, Topic):
        return {
            "owner_team": obj.owner_team_id,
            "domain": obj.domain_id,
            "tags": [tag.name for tag in obj.tags.all()],
            "description": obj.description,
        }
    if isinstance(obj, ConsumerGroup):
        return {"service": obj.service_id, "description": obj.description}
    if isinstance(obj, DeclaredRelation):
        return {"reader_schema_version": obj.reader_schema_version, "reads_fields": list(obj.reads_fields or [])}
    if isinstance(obj, Domain):
        return {"name": obj.name, "description": obj.description}
    if isinstance(obj, Team):
        memberships = list(obj.memberships.all())
        return {
            "name": obj.name,
            "description": obj.description,
            "contact_channel": obj.contact_channel,
            "domain": obj.domain_id,
            "members": [m.user_id for m in memberships],
            "editors": [m.user_id for m in memberships if m.role == TeamMembership.Role.EDITOR],
        }
    if isinstance(obj, Service):
        return {
            "name": obj.name,
            "owner_team": obj.owner_team_id,
            "domain": obj.domain_id,
            "repository_url": obj.repository_url,
            "tags": [tag.name for tag in obj.tags.all()],
            "description": obj.description,
        }
    if isinstance(obj, EventType):
        return {
            "name": obj.name,
            "version": obj.version,
            "summary": obj.summary,
            "owner_team": obj.owner_team_id,
            "domain": obj.domain_id,
            "topic": obj.topic,
            "schema_subject": obj.schema_subject,
            "data_classification": obj.data_classification,
            "tags": [tag.name for tag in obj.tags.all()],
            "business_meaning": obj.business_meaning,
            "example_payload": obj.example_payload,
        }
    raise TypeError(f"no edit form for {type(obj).__name__}")
