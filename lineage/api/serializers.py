"""Serializers of the impact API: the request body, and the report (documentation only: the view answers with
`ImpactReport.as_dict()`, whose shape these describe for OpenAPI)."""

from __future__ import annotations

from rest_framework import serializers

from schemas.compatibility import SchemaType

__all__ = ["ImpactReportSerializer", "ImpactRequestSerializer"]


class ReferenceSerializer(serializers.Serializer):
    name = serializers.CharField()
    subject = serializers.CharField()
    version = serializers.IntegerField(min_value=1)


class ImpactRequestSerializer(serializers.Serializer):
    subject = serializers.CharField(required=False, max_length=1000, help_text="Registry subject of the schema.")
    topic = serializers.CharField(
        required=False,
        max_length=249,
        help_text="Instead of a subject: the topic; its event types' subject, else <topic>-value.",
    )
    schema = serializers.CharField(trim_whitespace=False, help_text="The proposed schema's text.")
    schemaType = serializers.ChoiceField(choices=[kind.value for kind in SchemaType], required=False, default="AVRO")
    references = ReferenceSerializer(many=True, required=False)

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("subject") and not attrs.get("topic"):
            raise serializers.ValidationError({"subject": ["Give a subject or a topic."]})
        return attrs


class CompatibilitySerializer(serializers.Serializer):
    level = serializers.CharField()
    compatible = serializers.BooleanField(
        allow_null=True, help_text="null when the external registry of a mirrored subject could not be asked."
    )
    verdict = serializers.ChoiceField(choices=["compatible", "incompatible", "unknown"])
    unknownReason = serializers.CharField(help_text="Why the verdict is unknown (empty otherwise).")
    source = serializers.CharField(
        allow_null=True, help_text="For a mirrored subject: the external registry whose endpoint gave the verdict."
    )
    checkedVersions = serializers.ListField(child=serializers.IntegerField())
    existingVersion = serializers.IntegerField(allow_null=True)
    messages = serializers.ListField(child=serializers.CharField())


class FieldChangeSerializer(serializers.Serializer):
    kind = serializers.CharField()
    path = serializers.CharField()
    old = serializers.CharField(allow_null=True)
    new = serializers.CharField(allow_null=True)
    old_path = serializers.CharField(allow_null=True)
    reason = serializers.CharField()


class ConsumerSerializer(serializers.Serializer):
    service = serializers.CharField(allow_null=True)
    team = serializers.CharField(allow_null=True)
    contact = serializers.CharField(allow_null=True)
    group = serializers.CharField(allow_null=True)
    topic = serializers.CharField()
    cluster = serializers.CharField(allow_null=True, help_text="The cluster of the topic (and group) it reads.")
    depth = serializers.IntegerField(help_text="Consumer hops: 1 reads the changed topic.")
    graphDepth = serializers.IntegerField(help_text="Edges from the changed topic in the lineage graph.")
    direct = serializers.BooleanField()
    via = serializers.CharField(allow_null=True, help_text="For a transitive consumer: the direct one upstream.")
    verdict = serializers.ChoiceField(choices=["breaks", "safe", "unknown"])
    reasons = serializers.ListField(child=serializers.CharField())
    readerVersion = serializers.IntegerField(allow_null=True)
    readsFields = serializers.ListField(child=serializers.CharField())
    fieldsHit = serializers.ListField(child=serializers.CharField())


class ImpactReportSerializer(serializers.Serializer):
    subject = serializers.CharField()
    schemaType = serializers.CharField()
    breaking = serializers.BooleanField(help_text="Incompatible, or a consumer breaks.")
    summary = serializers.CharField()
    compatibility = CompatibilitySerializer()
    latestVersion = serializers.IntegerField(allow_null=True)
    changes = FieldChangeSerializer(many=True)
    diffError = serializers.CharField()
    topics = serializers.ListField(child=serializers.CharField())
    counts = serializers.DictField(child=serializers.IntegerField())
    consumers = ConsumerSerializer(many=True)
    notes = serializers.ListField(child=serializers.CharField())
    markdown = serializers.CharField(help_text="The report as a pull-request comment.")
