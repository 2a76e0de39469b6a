"""Catalog API serializers: output shapes, and input shapes that the services then validate and write.

Two kinds, after the HackSoft styleguide. `<Thing>Serializer` renders a row of the selectors' list
querysets (related rows joined, tags prefetched, counts annotated), so reading never queries per row.
`<Thing>InputSerializer` checks the shape of a request body (types, choices, that referenced rows
exist) and hands plain values to a service in catalog.services, which owns every rule and the write.

Related rows are named as people and the pages name them: clusters by name, teams, domains, services
and event types by slug, tags by name, topics by id (a topic name is only unique per cluster).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from eventscope.kafka import SASL_MECHANISMS, SECURITY_PROTOCOLS

from ..links import catalog_url
from ..models import (
    Cluster,
    ConsumerGroup,
    DeclaredRelation,
    Domain,
    EventType,
    Service,
    Team,
    TeamMembership,
    Topic,
)

__all__ = [
    "ClusterInputSerializer",
    "ClusterSerializer",
    "ConnectionTestSerializer",
    "ConsumerGroupDetailSerializer",
    "ConsumerGroupInputSerializer",
    "ConsumerGroupSerializer",
    "DomainInputSerializer",
    "DomainSerializer",
    "ErrorSerializer",
    "EventTypeDetailSerializer",
    "EventTypeInputSerializer",
    "EventTypeSerializer",
    "RelationInputSerializer",
    "RelationSerializer",
    "ServiceInputSerializer",
    "ServiceSerializer",
    "SyncRequestedSerializer",
    "TeamInputSerializer",
    "TeamSerializer",
    "TopicDetailSerializer",
    "TopicInputSerializer",
    "TopicSerializer",
]


# ---------------------------------------------------------------------------------------------
# Shared fields
# ---------------------------------------------------------------------------------------------
def _tags() -> serializers.ManyRelatedField:
    """Tag names of a tagged row, from the prefetched tags (one query per page, not one per row)."""
    return serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)


def _tag_input() -> serializers.ListField:
    # The shape only; tags_ensure() (in the services) decides which names are valid and creates new tags.
    return serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=100, help_text="Tag names."
    )


def _slug_of(queryset, **kwargs: Any) -> serializers.SlugRelatedField:
    """Input: a related row by slug; null clears the relation."""
    return serializers.SlugRelatedField(slug_field="slug", queryset=queryset, required=False, allow_null=True, **kwargs)


class PageUrlMixin(serializers.Serializer):
    page_url = serializers.SerializerMethodField(help_text="The object's page in the Eventscope UI.")

    def get_page_url(self, obj) -> str:
        return catalog_url(obj)


class ErrorDetailSerializer(serializers.Serializer):
    status = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField()
    detail = serializers.JSONField(required=False, help_text="Per field messages, when the input was invalid.")


class ErrorSerializer(serializers.Serializer):
    """The project's error format (eventscope.api.errors)."""

    error = ErrorDetailSerializer()


# ---------------------------------------------------------------------------------------------
# Clusters (the SASL password goes in, never out)
# ---------------------------------------------------------------------------------------------
class ClusterSerializer(PageUrlMixin, serializers.ModelSerializer):
    has_sasl_password = serializers.BooleanField(read_only=True, help_text="Whether a SASL password is stored.")
    has_ssl_key = serializers.BooleanField(read_only=True, help_text="Whether a TLS client key is stored.")
    topic_count = serializers.IntegerField(read_only=True)
    group_count = serializers.IntegerField(read_only=True)
    last_run_status = serializers.CharField(read_only=True, allow_null=True)
    last_run_started_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_run_error = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = Cluster
        fields = (
            "id",
            "name",
            "description",
            "bootstrap_servers",
            "security_protocol",
            "sasl_mechanism",
            "sasl_username",
            "has_sasl_password",
            "ssl_ca_pem",
            "ssl_certificate_pem",
            "has_ssl_key",
            "ssl_verify_hostname",
            "is_default",
            "discovery_enabled",
            "discovery_interval_s",
            "topic_count",
            "group_count",
            "last_run_status",
            "last_run_started_at",
            "last_run_error",
            "created_at",
            "updated_at",
            "page_url",
        )
        read_only_fields = fields


class ClusterInputSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True)
    bootstrap_servers = serializers.CharField(max_length=1000)
    security_protocol = serializers.ChoiceField(choices=SECURITY_PROTOCOLS, required=False)
    sasl_mechanism = serializers.ChoiceField(choices=SASL_MECHANISMS, required=False, allow_blank=True)
    sasl_username = serializers.CharField(max_length=255, required=False, allow_blank=True)
    sasl_password = serializers.CharField(
        write_only=True,
        required=False,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,  # a password is exactly what was sent
        max_length=1000,
        style={"input_type": "password"},
        help_text='Write-only. Stored encrypted, never returned. On update: absent or null keeps it, "" clears it.',
    )
    ssl_ca_pem = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, max_length=100_000)
    ssl_certificate_pem = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=100_000,
        help_text="Mutual TLS: the client certificate (PEM); needs ssl_key_pem.",
    )
    ssl_key_pem = serializers.CharField(
        write_only=True,
        required=False,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
        max_length=100_000,
        help_text="Mutual TLS: the client certificate's private key (unencrypted PEM). Write-only, stored encrypted, "
        'never returned. On update: absent or null keeps it, "" clears it.',
    )
    ssl_verify_hostname = serializers.BooleanField(
        required=False, help_text="Check that the brokers' certificates name the hosts (default true)."
    )
    discovery_enabled = serializers.BooleanField(required=False)
    discovery_interval_s = serializers.IntegerField(required=False, min_value=1)


class ConnectionTestSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField(help_text="What happened and what to check; never contains a secret.")
    broker_count = serializers.IntegerField()
    duration_ms = serializers.IntegerField()
    error_kind = serializers.CharField(
        allow_null=True,
        help_text="refused, unknown_host, bad_credentials, tls, not_authorized, timeout, configuration or unavailable.",
    )


class SyncRequestedSerializer(serializers.Serializer):
    cluster = serializers.CharField()
    status = serializers.CharField(help_text='"queued": a worker runs the discovery shortly.')


# ---------------------------------------------------------------------------------------------
# Topics and consumer groups (discovered; people edit only their documentation)
# ---------------------------------------------------------------------------------------------
class TopicSerializer(PageUrlMixin, serializers.ModelSerializer):
    cluster = serializers.SlugRelatedField(slug_field="name", read_only=True)
    owner_team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    domain = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    tags = _tags()
    is_documented = serializers.BooleanField(read_only=True)
    event_type_count = serializers.IntegerField(read_only=True)
    consumer_group_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Topic
        fields = (
            "id",
            "cluster",
            "name",
            "internal",
            "partition_count",
            "replication_factor",
            "under_replicated_partitions",
            "retention_ms",
            "retention_bytes",
            "cleanup_policy",
            "message_timestamp_type",
            "min_insync_replicas",
            "description",
            "owner_team",
            "domain",
            "tags",
            "is_documented",
            "event_type_count",
            "consumer_group_count",
            "first_seen",
            "last_seen",
            "deleted_at",
            "updated_at",
            "page_url",
        )
        read_only_fields = fields


class PartitionSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    leader = serializers.IntegerField(help_text="Broker id of the leader; -1 when there is none.")
    replicas = serializers.ListField(child=serializers.IntegerField())
    isr = serializers.ListField(child=serializers.IntegerField(), help_text="In-sync replicas.")
    under_replicated = serializers.BooleanField()


class TopicDetailSerializer(TopicSerializer):
    """One topic: the list fields plus every fetched config and the partitions."""

    configs = serializers.DictField(child=serializers.CharField(allow_null=True), read_only=True)
    partitions = PartitionSerializer(many=True, read_only=True)

    class Meta(TopicSerializer.Meta):
        fields = (*TopicSerializer.Meta.fields, "configs", "partitions")
        read_only_fields = fields


class TopicInputSerializer(serializers.Serializer):
    description = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    owner_team = _slug_of(Team.objects.all())
    domain = _slug_of(Domain.objects.all())
    tags = _tag_input()


class GroupLagSummarySerializer(serializers.Serializer):
    """The poller's latest verdict on a group (monitoring.models.GroupLagState); null before the first poll."""

    status = serializers.CharField(help_text="OK, WARN, STALL, STOP, REWIND or UNKNOWN.")
    since = serializers.DateTimeField(help_text="When the current status began.")
    total_lag = serializers.IntegerField(help_text="Records behind, summed over the group's partitions.")
    max_time_lag_s = serializers.FloatField(allow_null=True, help_text="The largest time lag of a partition (s).")
    time_lag_lower_bound = serializers.BooleanField(
        help_text="max_time_lag_s is only a lower bound (at least this far behind): some partition's committed "
        "offset is older than the poller can date."
    )
    time_to_clear_s = serializers.FloatField(
        allow_null=True, help_text="Seconds until caught up at current rates; 0 caught up; null never or unknown."
    )
    sampled_at = serializers.DateTimeField()
    stale = serializers.BooleanField(help_text="The cluster's last poll failed: this is older data.")


class PartitionLagSerializer(serializers.Serializer):
    topic = serializers.CharField()
    partition = serializers.IntegerField()
    committed = serializers.IntegerField(allow_null=True)
    log_end = serializers.IntegerField()
    lag = serializers.IntegerField()
    time_lag_s = serializers.FloatField(allow_null=True)
    time_lag_lower_bound = serializers.BooleanField(
        help_text="time_lag_s is only a lower bound: the committed offset is older than the oldest point of the "
        "partition's (log-end offset, time) table, or (exact mode) than the oldest record retention kept."
    )
    status = serializers.CharField()


class GroupLagSerializer(serializers.Serializer):
    """`GET /api/v1/consumer-groups/{group}/lag` (monitoring.lag_selectors.group_lag)."""

    cluster = serializers.CharField()
    group = serializers.CharField()
    deleted = serializers.BooleanField(help_text="Deleted groups are no longer evaluated.")
    status = serializers.CharField(help_text="The worst partition status; UNKNOWN before the first poll.")
    since = serializers.DateTimeField(allow_null=True)
    total_lag = serializers.IntegerField(allow_null=True)
    max_time_lag_s = serializers.FloatField(allow_null=True)
    time_lag_lower_bound = serializers.BooleanField(help_text="max_time_lag_s is only a lower bound.")
    time_to_clear_s = serializers.FloatField(allow_null=True)
    time_to_clear = serializers.CharField(help_text="clear, clearing, never or unknown.")
    consume_rate = serializers.FloatField(allow_null=True, help_text="Records per second committed.")
    produce_rate = serializers.FloatField(allow_null=True, help_text="Records per second into its partitions.")
    sampled_at = serializers.DateTimeField(allow_null=True)
    stale = serializers.BooleanField()
    partitions = PartitionLagSerializer(many=True)


class ConsumerGroupSerializer(PageUrlMixin, serializers.ModelSerializer):
    cluster = serializers.SlugRelatedField(slug_field="name", read_only=True)
    service = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    is_documented = serializers.BooleanField(read_only=True)
    topic_count = serializers.IntegerField(read_only=True)
    lag = GroupLagSummarySerializer(source="lag_state", read_only=True, allow_null=True)

    class Meta:
        model = ConsumerGroup
        fields = (
            "id",
            "cluster",
            "group_id",
            "state",
            "protocol",
            "partition_assignor",
            "is_simple",
            "member_count",
            "service",
            "description",
            "is_documented",
            "topic_count",
            "lag",
            "first_seen",
            "last_seen",
            "deleted_at",
            "updated_at",
            "page_url",
        )
        read_only_fields = fields


class GroupMemberSerializer(serializers.Serializer):
    member_id = serializers.CharField(required=False)
    client_id = serializers.CharField(required=False)
    host = serializers.CharField(required=False)
    assignment = serializers.ListField(
        child=serializers.ListField(child=serializers.JSONField()), required=False, help_text="[[topic, partition]]"
    )


class ConsumerGroupDetailSerializer(ConsumerGroupSerializer):
    members = GroupMemberSerializer(many=True, read_only=True)
    committed_topics = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta(ConsumerGroupSerializer.Meta):
        fields = (*ConsumerGroupSerializer.Meta.fields, "members", "committed_topics")
        read_only_fields = fields


class ConsumerGroupInputSerializer(serializers.Serializer):
    service = _slug_of(Service.objects.all())
    description = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)


# ---------------------------------------------------------------------------------------------
# The documented catalog
# ---------------------------------------------------------------------------------------------
class DomainSerializer(PageUrlMixin, serializers.ModelSerializer):
    team_count = serializers.IntegerField(read_only=True)
    service_count = serializers.IntegerField(read_only=True)
    event_type_count = serializers.IntegerField(read_only=True)
    topic_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Domain
        fields = (
            "id",
            "name",
            "slug",
            "description",
            "team_count",
            "service_count",
            "event_type_count",
            "topic_count",
            "created_at",
            "updated_at",
            "page_url",
        )
        read_only_fields = fields


class DomainInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)


class MembershipSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=TeamMembership.Role.choices, default=TeamMembership.Role.MEMBER)


class TeamSerializer(PageUrlMixin, serializers.ModelSerializer):
    domain = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    members = serializers.SerializerMethodField()
    member_count = serializers.IntegerField(read_only=True)
    service_count = serializers.IntegerField(read_only=True)
    event_type_count = serializers.IntegerField(read_only=True)
    topic_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Team
        fields = (
            "id",
            "name",
            "slug",
            "description",
            "contact_channel",
            "domain",
            "members",
            "member_count",
            "service_count",
            "event_type_count",
            "topic_count",
            "created_at",
            "updated_at",
            "page_url",
        )
        read_only_fields = fields

    @extend_schema_field(MembershipSerializer(many=True))
    def get_members(self, team: Team) -> list[dict[str, str]]:
        # The viewset prefetches memberships with their users, ordered by username.
        return [{"username": m.user.get_username(), "role": m.role} for m in team.memberships.all()]


class TeamInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    contact_channel = serializers.CharField(required=False, allow_blank=True, max_length=255)
    domain = _slug_of(Domain.objects.all())
    members = MembershipSerializer(
        many=True, required=False, help_text="The complete member list: who is not in it is removed from the team."
    )

    def validate_members(self, members: list[dict[str, str]]) -> dict[Any, str]:
        """[{username, role}] -> {user: role}, as team_create/team_update take them."""
        names = [member["username"] for member in members]
        if len(set(names)) != len(names):
            raise serializers.ValidationError("A user is listed twice.")
        users = {user.get_username(): user for user in get_user_model().objects.filter(username__in=names)}
        unknown = sorted(set(names) - set(users))
        if unknown:
            raise serializers.ValidationError(f"Unknown user(s): {', '.join(unknown)}.")
        # In a PATCH (partial) DRF leaves defaults out, so the role's default is applied here too.
        return {users[member["username"]]: member.get("role", TeamMembership.Role.MEMBER) for member in members}


class ServiceSerializer(PageUrlMixin, serializers.ModelSerializer):
    owner_team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    domain = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    tags = _tags()
    produces_count = serializers.IntegerField(read_only=True)
    consumes_count = serializers.IntegerField(read_only=True)
    group_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Service
        fields = (
            "id",
            "name",
            "slug",
            "description",
            "owner_team",
            "domain",
            "repository_url",
            "tags",
            "produces_count",
            "consumes_count",
            "group_count",
            "created_at",
            "updated_at",
            "page_url",
        )
        read_only_fields = fields


class ServiceInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    owner_team = _slug_of(Team.objects.all())
    domain = _slug_of(Domain.objects.all())
    repository_url = serializers.URLField(required=False, allow_blank=True, max_length=200)
    tags = _tag_input()


class TopicRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    cluster = serializers.CharField(source="cluster.name")
    name = serializers.CharField()


class EventTypeSerializer(PageUrlMixin, serializers.ModelSerializer):
    domain = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    owner_team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    topic = TopicRefSerializer(read_only=True, allow_null=True)
    tags = _tags()
    is_documented = serializers.BooleanField(read_only=True)
    producer_count = serializers.IntegerField(read_only=True)
    consumer_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = EventType
        fields = (
            "id",
            "name",
            "version",
            "slug",
            "summary",
            "business_meaning",
            "domain",
            "owner_team",
            "topic",
            "schema_subject",
            "data_classification",
            "tags",
            "is_documented",
            "producer_count",
            "consumer_count",
            "created_at",
            "updated_at",
            "page_url",
        )
        read_only_fields = fields


class EventTypeDetailSerializer(EventTypeSerializer):
    class Meta(EventTypeSerializer.Meta):
        fields = (*EventTypeSerializer.Meta.fields, "example_payload")
        read_only_fields = fields


class EventTypeInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    version = serializers.IntegerField(required=False, min_value=1)
    summary = serializers.CharField(required=False, allow_blank=True, max_length=300)
    business_meaning = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    domain = _slug_of(Domain.objects.all())
    owner_team = _slug_of(Team.objects.all())
    topic = serializers.PrimaryKeyRelatedField(
        queryset=Topic.objects.all(), required=False, allow_null=True, help_text="Topic id."
    )
    schema_subject = serializers.CharField(required=False, allow_blank=True, max_length=255)
    data_classification = serializers.ChoiceField(choices=EventType.Classification.choices, required=False)
    tags = _tag_input()
    example_payload = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text="JSON text."
    )


# ---------------------------------------------------------------------------------------------
# Declared relations
# ---------------------------------------------------------------------------------------------
class RelationSerializer(serializers.ModelSerializer):
    service = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    event_type = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    topic = TopicRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = DeclaredRelation
        fields = (
            "id",
            "service",
            "direction",
            "event_type",
            "topic",
            "source",
            "reader_schema_version",
            "reads_fields",
            "created_at",
        )
        read_only_fields = fields


class RelationInputSerializer(serializers.Serializer):
    service = serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.all())
    direction = serializers.ChoiceField(choices=DeclaredRelation.Direction.choices)
    event_type = serializers.SlugRelatedField(
        slug_field="slug", queryset=EventType.objects.all(), required=False, allow_null=True
    )
    topic = serializers.PrimaryKeyRelatedField(
        queryset=Topic.objects.all(), required=False, allow_null=True, help_text="Topic id."
    )
    reader_schema_version = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="Consumes only: the version of the target's registry subject this consumer reads with.",
    )
    reads_fields = serializers.ListField(
        child=serializers.CharField(max_length=500),
        required=False,
        allow_empty=True,
        help_text='Consumes only: the field paths it reads, e.g. ["order_id", "items[].sku"].',
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.partial:
            # PATCH changes only what a consumer declares it reads; the relation itself is deleted and declared anew.
            fixed = sorted(set(attrs) - {"reader_schema_version", "reads_fields"})
            if fixed:
                raise serializers.ValidationError(
                    {name: ["Cannot change; delete the relation and declare a new one."] for name in fixed}
                )
            return attrs
        # The shape only: exactly one target. relation_create() checks it again, with the model's constraints.
        if (attrs.get("event_type") is None) == (attrs.get("topic") is None):
            raise serializers.ValidationError("Give either an event type or a topic, not both and not neither.")
        return attrs
