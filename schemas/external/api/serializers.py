"""Serializers of external registries: the output shape, and the input shape the services then validate.

The password or bearer token goes in, never out: responses say only whether one is stored.
"""

from __future__ import annotations

from rest_framework import serializers

from catalog.models import Cluster
from schemas.models_external import ExternalRegistry

__all__ = ["ExternalRegistryInputSerializer", "ExternalRegistrySerializer", "RegistrySyncRequestedSerializer"]


class ExternalRegistrySerializer(serializers.ModelSerializer):
    cluster = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    source = serializers.CharField(source="source_description", read_only=True)
    has_secret = serializers.BooleanField(read_only=True, help_text="Whether a password or token is stored.")
    subject_count = serializers.IntegerField(read_only=True)
    version_count = serializers.IntegerField(read_only=True)
    page_url = serializers.SerializerMethodField()

    class Meta:
        model = ExternalRegistry
        fields = (
            "id",
            "name",
            "description",
            "source_kind",
            "source",
            "url",
            "auth_kind",
            "username",
            "has_secret",
            "ca_pem",
            "cluster",
            "topic",
            "mode",
            "sync_enabled",
            "sync_interval_s",
            "global_compatibility",
            "global_mode",
            "subject_count",
            "version_count",
            "last_synced_at",
            "last_attempt_at",
            "last_error",
            "last_sync_summary",
            "created_at",
            "updated_at",
            "page_url",
        )
        read_only_fields = fields

    def get_page_url(self, obj: ExternalRegistry) -> str:
        from django.urls import reverse

        return reverse("schemas:external-registry", args=[obj.name])


class ExternalRegistryInputSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True)
    source_kind = serializers.ChoiceField(choices=ExternalRegistry.SourceKind.values, required=False)
    url = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    auth_kind = serializers.ChoiceField(choices=ExternalRegistry.AuthKind.values, required=False)
    username = serializers.CharField(max_length=255, required=False, allow_blank=True)
    secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
        max_length=4000,
        style={"input_type": "password"},
        help_text="Write-only password (Basic) or token (Bearer). Stored encrypted, never returned. On update: "
        'absent or null keeps it, "" clears it.',
    )
    ca_pem = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, max_length=100_000)
    cluster = serializers.SlugRelatedField(
        slug_field="name", queryset=Cluster.objects.all(), required=False, allow_null=True
    )
    topic = serializers.CharField(max_length=249, required=False)
    mode = serializers.ChoiceField(choices=ExternalRegistry.Mode.values, required=False)
    sync_enabled = serializers.BooleanField(required=False)
    sync_interval_s = serializers.IntegerField(required=False, min_value=1)


class RegistrySyncRequestedSerializer(serializers.Serializer):
    registry = serializers.CharField()
    status = serializers.CharField(help_text='"queued": a worker mirrors the registry shortly.')
