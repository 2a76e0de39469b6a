from __future__ import annotations

from rest_framework import serializers

from ..models import ApiToken


class ApiTokenSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()
    user = serializers.CharField(source="user.get_username", read_only=True)

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "scope",
            "user",
            "status",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
        ]
        read_only_fields = fields

    def get_status(self, token: ApiToken) -> str:
        return token.status()


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scope = serializers.ChoiceField(choices=ApiToken.Scope.values, default=ApiToken.Scope.READ)
    expires_in_days = serializers.IntegerField(
        min_value=1, max_value=3650, required=False, allow_null=True, help_text="Empty or absent: never expires."
    )


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The token itself. Shown in this response only.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class SchemaPolicySerializer(serializers.Serializer):
    domain = serializers.CharField(allow_null=True, help_text="The domain's slug; null for the global settings.")
    rules = serializers.DictField(help_text="Only what this layer changes: {rule: {setting: value}}.")
    effective = serializers.DictField(help_text="The defaults with the global (and the domain's) settings applied.")
    updated_at = serializers.DateTimeField(allow_null=True)


class SchemaPolicyWriteSerializer(serializers.Serializer):
    rules = serializers.DictField(help_text="{rule: {setting: value}}; see the rule list in the README.")


class PolicyCheckSerializer(serializers.Serializer):
    subject = serializers.CharField(max_length=255)
    schema = serializers.CharField()
    schemaType = serializers.ChoiceField(choices=["AVRO", "JSON", "PROTOBUF"], default="AVRO")


class ViolationSerializer(serializers.Serializer):
    rule = serializers.CharField()
    severity = serializers.ChoiceField(choices=["error", "warning"])
    message = serializers.CharField()
    path = serializers.CharField(allow_null=True)


class PolicyCheckResultSerializer(serializers.Serializer):
    subject = serializers.CharField()
    passes = serializers.BooleanField(help_text="False when any violation is of severity error.")
    violations = ViolationSerializer(many=True)


class AuditEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    timestamp = serializers.DateTimeField()
    actor = serializers.CharField(source="actor_name")
    channel = serializers.CharField()
    action = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    object_repr = serializers.CharField()
    changed = serializers.ListField(child=serializers.CharField())
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)
    request_method = serializers.CharField()
    request_path = serializers.CharField()
