"""Django admin for the catalog. Cluster secrets are write-only here too."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from . import models
from .services import clusters as cluster_services


class SecretTextarea(forms.Textarea):
    """A textarea that never renders a value back, not even the one just submitted (like PasswordInput)."""

    def format_value(self, value):
        return None


class ClusterAdminForm(forms.ModelForm):
    """Cluster settings; the password and client key are write-only; every change goes through the cluster services."""

    sasl_password = forms.CharField(
        required=False,
        label="SASL password",
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the stored password. It is stored encrypted and never shown.",
    )
    clear_sasl_password = forms.BooleanField(required=False, label="Clear SASL password")
    ssl_key_pem = forms.CharField(
        required=False,
        strip=False,
        label="TLS client key (PEM)",
        # Never rendered back: the field is always empty on the page, like the password.
        widget=SecretTextarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
        help_text="Mutual TLS: the client certificate's private key, unencrypted PEM. Leave empty to keep the "
        "stored key. It is stored encrypted and never shown.",
    )
    clear_ssl_key_pem = forms.BooleanField(required=False, label="Clear TLS client key")

    class Meta:
        model = models.Cluster
        fields = (
            "name",
            "description",
            "bootstrap_servers",
            "security_protocol",
            "sasl_mechanism",
            "sasl_username",
            "ssl_ca_pem",
            "ssl_certificate_pem",
            "ssl_verify_hostname",
            "discovery_enabled",
            "discovery_interval_s",
        )
        labels = {"sasl_mechanism": "SASL mechanism", "sasl_username": "SASL username"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "ssl_key_pem" in self.fields and self.instance.pk and self.instance.has_ssl_key:
            self.fields["ssl_key_pem"].widget.attrs["placeholder"] = "A key is stored (not shown)."

    def password_change(self) -> str | None:
        """What cluster_update takes: None keeps the stored password, "" clears it."""
        if self.cleaned_data.get("clear_sasl_password"):
            return ""
        return self.cleaned_data.get("sasl_password") or None

    def ssl_key_change(self) -> str | None:
        """Like password_change, for the TLS client key."""
        if self.cleaned_data.get("clear_ssl_key_pem"):
            return ""
        return self.cleaned_data.get("ssl_key_pem") or None

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors:
            return
        # The services' own rules (SASL needs a password, servers are host:port, ...), shown on the form.
        change = self.password_change()
        password = cluster_services.cluster_stored_password(self.instance) if change is None else (change or None)
        key_change = self.ssl_key_change()
        key = cluster_services.cluster_stored_ssl_key(self.instance) if key_change is None else (key_change or None)
        try:
            cluster_services.cluster_validate(self.instance, sasl_password=password, ssl_key_pem=key)
        except ValidationError as exc:
            self._update_errors(exc)


@admin.register(models.Cluster)
class ClusterAdmin(admin.ModelAdmin):
    form = ClusterAdminForm
    list_display = ("name", "bootstrap_servers", "security_protocol", "is_default", "discovery_enabled")
    search_fields = ("name", "bootstrap_servers")
    readonly_fields = ("is_default",)
    fieldsets = (
        (None, {"fields": ("name", "description", "bootstrap_servers", "security_protocol", "is_default")}),
        ("SASL", {"fields": ("sasl_mechanism", "sasl_username", "sasl_password", "clear_sasl_password")}),
        (
            "TLS",
            {
                "fields": (
                    "ssl_ca_pem",
                    "ssl_certificate_pem",
                    "ssl_key_pem",
                    "clear_ssl_key_pem",
                    "ssl_verify_hostname",
                ),
                "description": "For SSL and SASL_SSL. A client certificate and key make it mutual TLS.",
            },
        ),
        ("Discovery", {"fields": ("discovery_enabled", "discovery_interval_s")}),
    )

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in ClusterAdminForm.Meta.fields}
        if change:
            stored = models.Cluster.objects.get(pk=obj.pk)
            cluster_services.cluster_update(
                cluster=stored, sasl_password=form.password_change(), ssl_key_pem=form.ssl_key_change(), **fields
            )
            obj.pk = stored.pk
        else:
            created = cluster_services.cluster_create(
                sasl_password=form.password_change(), ssl_key_pem=form.ssl_key_change(), **fields
            )
            obj.pk = created.pk

    def has_delete_permission(self, request, obj=None):
        # The default cluster comes from KAFKA_BOOTSTRAP_SERVERS; the service refuses to delete it.
        return super().has_delete_permission(request, obj) and not (obj is not None and obj.is_default)

    def delete_model(self, request, obj):
        cluster_services.cluster_delete(cluster=obj)

    def delete_queryset(self, request, queryset):
        for cluster in queryset.filter(is_default=False):
            cluster_services.cluster_delete(cluster=cluster)


@admin.register(models.DiscoveryRun)
class DiscoveryRunAdmin(admin.ModelAdmin):
    list_display = ("cluster", "status", "trigger", "started_at", "duration_ms", "topics_seen", "groups_seen")
    list_filter = ("status", "cluster")
    readonly_fields = [f.name for f in models.DiscoveryRun._meta.fields]


class PartitionInline(admin.TabularInline):
    model = models.Partition
    extra = 0
    readonly_fields = ("number", "leader", "replicas", "isr", "under_replicated")


@admin.register(models.Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ("name", "cluster", "partition_count", "replication_factor", "owner_team", "deleted_at")
    list_filter = ("cluster", "internal", "owner_team", "domain")
    search_fields = ("name", "description")
    inlines = [PartitionInline]
    filter_horizontal = ("tags",)


@admin.register(models.ConsumerGroup)
class ConsumerGroupAdmin(admin.ModelAdmin):
    list_display = ("group_id", "cluster", "state", "member_count", "service", "deleted_at")
    list_filter = ("cluster", "state", "service")
    search_fields = ("group_id",)


@admin.register(models.Domain)
class DomainAdmin(admin.ModelAdmin):
    list_display = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ("name",)


class TeamMembershipInline(admin.TabularInline):
    model = models.TeamMembership
    extra = 0


@admin.register(models.Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "domain", "contact_channel")
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ("name",)
    inlines = [TeamMembershipInline]


@admin.register(models.Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ("name", "owner_team", "domain")
    list_filter = ("owner_team", "domain")
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ("name", "description")
    filter_horizontal = ("tags",)


@admin.register(models.EventType)
class EventTypeAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "domain", "owner_team", "topic", "data_classification")
    list_filter = ("domain", "owner_team", "data_classification")
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ("name", "summary", "business_meaning")
    filter_horizontal = ("tags",)


@admin.register(models.DeclaredRelation)
class DeclaredRelationAdmin(admin.ModelAdmin):
    list_display = ("service", "direction", "event_type", "topic", "source")
    list_filter = ("direction", "source")


admin.site.register(models.Tag)
