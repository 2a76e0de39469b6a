"""AsyncAPI export and import of the catalog: rows to a document and a document to rows, in one transaction.

The document format is the pure core's business (`catalog.asyncapi`); here we only read rows into a
`CatalogSnapshot` (a fixed number of queries, whatever the catalog's size) and write a parsed snapshot back.

Import semantics, so that a document can be re-imported safely:

- Rows are matched by their natural keys: domains, teams and services by slug, event types by (name, version),
  topics by (cluster, name), consumer groups by group id.
- A field the document states is written; a field it does not mention is left alone.
- The relations a document declares for the services it describes replace the relations that earlier imports
  from the same `source` declared for those services; relations from other sources (manual, api) are kept.
- Importing the same document again changes nothing; the result counts created, updated, unchanged and deleted
  rows per kind.
- An invalid document, or one whose references do not resolve against the catalog, raises
  AsyncAPIDocumentError listing every problem with its JSON pointer, and nothing is written.

Writes go through catalog.services.documentation (the same validation as the pages and the API); only
topic and consumer-group rows that discovery has not created yet are created here, as bare rows it fills in.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Prefetch, Q
from django.utils import timezone

from catalog.asyncapi import (
    X_CLASSIFICATION,
    X_DOMAIN,
    X_OWNER,
    X_READER_VERSION,
    X_READS,
    X_REPOSITORY,
    X_SCHEMA_SUBJECT,
    AsyncAPIDocumentError,
    CatalogSnapshot,
    DomainSpec,
    EventTypeRef,
    EventTypeSpec,
    Problem,
    RelationSpec,
    ServerSpec,
    ServiceSpec,
    TeamSpec,
    TopicSpec,
    build_document,
    infer_json_schema,
    parse_document,
    pointer,
)
from catalog.models import Cluster, ConsumerGroup, DeclaredRelation, Domain, EventType, Service, Team, Topic
from catalog.services import documentation
from catalog.services.clusters import cluster_ensure_default

__all__ = ["IMPORT_KINDS", "ImportResult", "asyncapi_export", "asyncapi_import", "asyncapi_snapshot"]

logger = logging.getLogger(__name__)

CATALOG_TITLE = "Eventscope catalog"
CATALOG_DESCRIPTION = (
    "Every service, event type and topic of the catalog, with owners and who produces and consumes what."
)
IMPORT_KINDS = ("domains", "teams", "services", "topics", "event_types", "relations", "consumer_groups")
SOURCE_MAX = DeclaredRelation._meta.get_field("source").max_length


# ---------------------------------------------------------------------------------------------
# Export: rows to a snapshot to a document
# ---------------------------------------------------------------------------------------------
def asyncapi_export(*, service: Service | None = None) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of one service (what it produces and consumes), or of the whole catalog."""
    return build_document(asyncapi_snapshot(service=service))


def asyncapi_snapshot(*, service: Service | None = None) -> CatalogSnapshot:
    """The catalog, or one service's part of it, as plain data; a fixed number of queries."""
    services_qs = Service.objects.select_related("owner_team", "domain").prefetch_related(
        "tags", Prefetch("consumer_groups", queryset=ConsumerGroup.objects.order_by("group_id"))
    )
    relations_qs = DeclaredRelation.objects.select_related("service", "event_type", "topic__cluster").order_by(
        "service__slug", "direction", "event_type__name", "event_type__version", "topic__name", "pk"
    )
    event_types_qs = EventType.objects.select_related("owner_team", "domain").prefetch_related("tags")

    if service is not None:
        services = list(services_qs.filter(pk=service.pk))
        relations = list(relations_qs.filter(service=service))
        event_type_ids = {relation.event_type_id for relation in relations if relation.event_type_id}
        event_types = list(event_types_qs.filter(pk__in=event_type_ids))
        topic_ids = {relation.topic_id for relation in relations if relation.topic_id}
        topic_ids |= {event_type.topic_id for event_type in event_types if event_type.topic_id}
        topics = _topics_query().filter(pk__in=topic_ids)
    else:
        services = list(services_qs)
        relations = list(relations_qs)
        event_types = list(event_types_qs)
        # Every topic that is on the cluster now, and every topic the documentation points at even if it is gone.
        topics = (
            _topics_query()
            .filter(
                Q(deleted_at__isnull=True, internal=False) | Q(event_types__isnull=False) | Q(relations__isnull=False)
            )
            .distinct()
        )
    topics = sorted(topics, key=lambda topic: (topic.name, topic.cluster.name))

    team_slugs, domain_slugs = _referenced_teams_and_domains(services, event_types, topics)
    teams_qs = Team.objects.select_related("domain").order_by("slug")
    if service is not None:
        teams_qs = teams_qs.filter(slug__in=team_slugs)
    teams = list(teams_qs)
    domain_slugs |= {team.domain.slug for team in teams if team.domain}
    domains_qs = Domain.objects.order_by("slug")
    if service is not None:
        domains_qs = domains_qs.filter(slug__in=domain_slugs)

    topic_keys = _topic_keys(topics)
    event_types.sort(key=lambda event_type: (event_type.name, event_type.version))
    return CatalogSnapshot(
        title=service.name if service is not None else CATALOG_TITLE,
        description=None if service is not None else CATALOG_DESCRIPTION,
        application=service.slug if service is not None else None,
        servers=tuple(
            ServerSpec(name=cluster.name, host=cluster.bootstrap_servers, description=cluster.description or None)
            for cluster in sorted({topic.cluster for topic in topics}, key=lambda cluster: cluster.name)
        ),
        domains=tuple(
            DomainSpec(slug=domain.slug, name=domain.name, description=domain.description or None)
            for domain in domains_qs
        ),
        teams=tuple(
            TeamSpec(
                slug=team.slug,
                name=team.name,
                description=team.description or None,
                contact_channel=team.contact_channel or None,
                domain=team.domain.slug if team.domain else None,
            )
            for team in teams
        ),
        services=tuple(_service_spec(row) for row in services),
        topics=tuple(_topic_spec(topic, topic_keys[topic.pk]) for topic in topics),
        event_types=tuple(_event_type_spec(event_type, topic_keys) for event_type in event_types),
        relations=tuple(_relation_spec(relation, topic_keys) for relation in relations),
    )


def _topics_query() -> models.QuerySet[Topic]:
    return Topic.objects.select_related("cluster", "owner_team", "domain").prefetch_related("tags")


def _referenced_teams_and_domains(services, event_types, topics) -> tuple[set[str], set[str]]:
    teams, domains = set(), set()
    for row in (*services, *event_types, *topics):
        if row.owner_team is not None:
            teams.add(row.owner_team.slug)
        if row.domain is not None:
            domains.add(row.domain.slug)
    return teams, domains


def _topic_keys(topics: list[Topic]) -> dict[int, str]:
    """Channel keys: the topic name, qualified by the cluster where two clusters have a topic of that name."""
    counts = Counter(topic.name for topic in topics)
    return {
        topic.pk: topic.name if counts[topic.name] == 1 else f"{topic.cluster.name}.{topic.name}" for topic in topics
    }


def _tag_names(row: models.Model) -> tuple[str, ...]:
    return tuple(sorted(tag.name for tag in row.tags.all()))


def _service_spec(service: Service) -> ServiceSpec:
    return ServiceSpec(
        slug=service.slug,
        name=service.name,
        description=service.description or None,
        owner=service.owner_team.slug if service.owner_team else None,
        domain=service.domain.slug if service.domain else None,
        repository_url=service.repository_url or None,
        tags=_tag_names(service),
        consumer_groups=tuple(dict.fromkeys(group.group_id for group in service.consumer_groups.all())),
    )


def _topic_spec(topic: Topic, key: str) -> TopicSpec:
    configs: dict[str, Any] = {}
    if topic.cleanup_policy:
        configs["cleanup.policy"] = [policy.strip() for policy in topic.cleanup_policy.split(",") if policy.strip()]
    if topic.retention_ms is not None:
        configs["retention.ms"] = topic.retention_ms
    if topic.retention_bytes is not None:
        configs["retention.bytes"] = topic.retention_bytes
    return TopicSpec(
        key=key,
        name=topic.name,
        server=topic.cluster.name,
        description=topic.description or None,
        owner=topic.owner_team.slug if topic.owner_team else None,
        domain=topic.domain.slug if topic.domain else None,
        tags=_tag_names(topic),
        partitions=topic.partition_count or None,
        replicas=topic.replication_factor or None,
        configs=configs,
    )


def _event_type_spec(event_type: EventType, topic_keys: dict[int, str]) -> EventTypeSpec:
    examples, payload = (), None
    if event_type.example_payload.strip():
        try:
            example = json.loads(event_type.example_payload)
        except ValueError:
            examples = (event_type.example_payload,)  # not JSON: still worth showing, as text
        else:
            examples = (example,)
            # The registry's schema will be the authoritative payload once the schemas app can be asked for
            # it; until then the example tells consumers the payload's shape.
            payload = infer_json_schema(example)
    return EventTypeSpec(
        name=event_type.name,
        version=event_type.version,
        summary=event_type.summary or None,
        description=event_type.business_meaning or None,
        owner=event_type.owner_team.slug if event_type.owner_team else None,
        domain=event_type.domain.slug if event_type.domain else None,
        classification=event_type.data_classification or None,
        tags=_tag_names(event_type),
        topic=topic_keys.get(event_type.topic_id) if event_type.topic_id else None,
        schema_subject=event_type.schema_subject or None,
        payload=payload,
        examples=examples,
    )


def _relation_spec(relation: DeclaredRelation, topic_keys: dict[int, str]) -> RelationSpec:
    return RelationSpec(
        service=relation.service.slug,
        direction=relation.direction,
        event_type=(relation.event_type.name, relation.event_type.version) if relation.event_type else None,
        topic=topic_keys.get(relation.topic_id) if relation.topic_id else None,
        reader_version=relation.reader_schema_version,
        reads_fields=tuple(relation.reads_fields) if relation.reads_fields else None,
    )


# ---------------------------------------------------------------------------------------------
# Import: a document to rows
# ---------------------------------------------------------------------------------------------
@dataclass
class ImportResult:
    """What an import did, per kind of row (IMPORT_KINDS)."""

    created: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)
    unchanged: Counter = field(default_factory=Counter)
    deleted: Counter = field(default_factory=Counter)

    @property
    def changed(self) -> bool:
        return bool(sum(self.created.values()) + sum(self.updated.values()) + sum(self.deleted.values()))

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {
            outcome: {kind: getattr(self, outcome)[kind] for kind in IMPORT_KINDS}
            for outcome in ("created", "updated", "unchanged", "deleted")
        }

    def summary(self) -> str:
        """One line for logs and messages, e.g. "created 12, updated 1, unchanged 30, deleted 0"."""
        totals = {outcome: sum(getattr(self, outcome).values()) for outcome in ("created", "updated", "unchanged")}
        totals["deleted"] = sum(self.deleted.values())
        return ", ".join(f"{outcome} {count}" for outcome, count in totals.items())


def asyncapi_import(*, document: Any, source: str = "asyncapi", user: Any = None) -> ImportResult:
    """Create or update the catalog from an AsyncAPI 3.0.0 document, all or nothing.

    Raises AsyncAPIDocumentError (every problem, with its JSON pointer) when the document is invalid or
    refers to teams or domains that neither it nor the catalog has; then nothing is written.
    """
    if not source or len(source) > SOURCE_MAX:
        raise ValueError(f"source must be 1 to {SOURCE_MAX} characters, got {source!r}")
    snapshot = parse_document(document)
    try:
        with transaction.atomic():
            result = _Importer(snapshot, source).run()
    except IntegrityError as exc:
        # A concurrent write took a name or slug between our checks and our writes; the transaction is undone.
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AsyncAPIDocumentError([Problem("#", f"the catalog refused the change: {first_line}")]) from exc
    logger.info(
        "AsyncAPI import from %s by %s: %s", source, getattr(user, "username", None) or "system", result.summary()
    )
    return result


class _Importer:
    """Check a snapshot against the catalog, then write it; one instance per import, inside its transaction.

    Writes go through catalog.services.documentation, so an import validates exactly like the pages and the
    API. A write it refuses becomes a problem at the document's place for that field and the import goes on,
    so one answer lists every problem; any problem at the end undoes the whole transaction.
    """

    def __init__(self, snapshot: CatalogSnapshot, source: str):
        self.snapshot = snapshot
        self.source = source
        self.result = ImportResult()
        self.problems: list[Problem] = []
        self.now = timezone.now()
        self.domains: dict[str, Domain] = {}  # by the document's slug
        self.teams: dict[str, Team] = {}
        self.services: dict[str, Service] = {}
        self.topics: dict[str, Topic] = {}  # by channel key
        self.event_types: dict[EventTypeRef, EventType] = {}

    def run(self) -> ImportResult:
        self.load()
        self.check_references()
        if self.problems:
            raise AsyncAPIDocumentError(self.problems)
        self.write_domains()
        self.write_teams()
        self.write_services()
        self.write_topics()
        self.write_event_types()
        self.write_relations()
        self.write_consumer_groups()
        if self.problems:
            raise AsyncAPIDocumentError(self.problems)
        return self.result

    # -- reading what exists --------------------------------------------------------------------
    def load(self) -> None:
        """Existing rows, matched by the document's slug, else by name (the pages make slugs from names)."""
        s = self.snapshot
        self.domains = _match(Domain.objects.all(), s.domains, {d.domain for d in s.teams} | _refs(s, "domain"))
        self.teams = _match(Team.objects.all(), s.teams, _refs(s, "owner"))
        self.services = _match(Service.objects.prefetch_related("tags"), s.services, set())
        names = {spec.name for spec in s.event_types}
        self.event_types = {
            (row.name, row.version): row for row in EventType.objects.filter(name__in=names).prefetch_related("tags")
        }
        self.clusters = list(Cluster.objects.all())

    def check_references(self) -> None:
        s = self.snapshot
        known_domains = {d.slug for d in s.domains} | set(self.domains)
        known_teams = {t.slug for t in s.teams} | set(self.teams)
        for team in s.teams:
            self.check_ref(team.domain, known_domains, "domain", f"{team.path}/domain")
        for spec in s.services:
            fields = _SERVICE_INFO_FIELDS if spec.path == pointer("info") else _SERVICE_FIELDS
            self.check_ref(spec.owner, known_teams, "team", f"{spec.path}/{fields['owner_team']}")
            self.check_ref(spec.domain, known_domains, "domain", f"{spec.path}/{fields['domain']}")
        for spec in (*s.topics, *s.event_types):
            self.check_ref(spec.owner, known_teams, "team", f"{spec.path}/{X_OWNER}")
            self.check_ref(spec.domain, known_domains, "domain", f"{spec.path}/{X_DOMAIN}")
        claimed: dict[str, str] = {}
        for spec in s.services:
            for group_id in spec.consumer_groups:
                if claimed.setdefault(group_id, spec.slug) != spec.slug:
                    self.problems.append(
                        Problem(spec.path, f"consumer group {group_id!r} is claimed by {claimed[group_id]!r} too")
                    )

    def check_ref(self, slug: str | None, known: set[str], kind: str, path: str) -> None:
        if slug is not None and slug not in known:
            self.problems.append(Problem(path, f"no {kind} {slug!r} in this document or the catalog"))

    # -- writing ------------------------------------------------------------------------------
    def write(
        self,
        kind: str,
        row: models.Model | None,
        values: dict[str, Any],
        *,
        create: Callable[..., models.Model],
        update: Callable[..., models.Model],
        path: str,
        fields: dict[str, str],
    ) -> models.Model | None:
        """Create the row, or update the fields that differ; count the outcome. None when refused."""
        try:
            if row is None:
                row = create(**values)
                self.result.created[kind] += 1
                return row
            changes = {name: value for name, value in values.items() if _differs(row, name, value)}
            if changes:
                update(row, **changes)
                self.result.updated[kind] += 1
            else:
                self.result.unchanged[kind] += 1
            return row
        except ValidationError as exc:
            self.problems.extend(_problems(exc, path, fields))
            return None

    def write_domains(self) -> None:
        for spec in self.snapshot.domains:
            row = self.write(
                "domains",
                self.domains.get(spec.slug),
                _stated(name=spec.name, description=spec.description),
                create=lambda **values: documentation.domain_create(**values),
                update=lambda row, **changes: documentation.domain_update(domain=row, **changes),
                path=spec.path,
                fields={},
            )
            if row is not None:
                self.domains[spec.slug] = row

    def write_teams(self) -> None:
        for spec in self.snapshot.teams:
            values = _stated(name=spec.name, description=spec.description, contact_channel=spec.contact_channel)
            if spec.domain is not None:
                values["domain"] = self.domains.get(spec.domain)
            row = self.write(
                "teams",
                self.teams.get(spec.slug),
                values,
                create=lambda **values: documentation.team_create(**values),
                update=lambda row, **changes: documentation.team_update(team=row, **changes),
                path=spec.path,
                fields={"contact_channel": "contact"},
            )
            if row is not None:
                self.teams[spec.slug] = row

    def owner_and_domain(self, spec: ServiceSpec | TopicSpec | EventTypeSpec) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if spec.owner is not None:
            values["owner_team"] = self.teams.get(spec.owner)
        if spec.domain is not None:
            values["domain"] = self.domains.get(spec.domain)
        return values

    def write_services(self) -> None:
        for spec in self.snapshot.services:
            values = _stated(
                name=spec.name, description=spec.description, repository_url=spec.repository_url, tags=spec.tags
            )
            values.update(self.owner_and_domain(spec))
            row = self.write(
                "services",
                self.services.get(spec.slug),
                values,
                create=lambda **values: documentation.service_create(**values),
                update=lambda row, **changes: documentation.service_update(service=row, **changes),
                path=spec.path,
                fields=_SERVICE_INFO_FIELDS if spec.path == pointer("info") else _SERVICE_FIELDS,
            )
            if row is not None:
                self.services[spec.slug] = row

    def write_topics(self) -> None:
        """Channels that name a concrete topic; a topic discovery has not seen yet is created on its cluster."""
        servers = {server.name: server for server in self.snapshot.servers}
        wanted = [spec for spec in self.snapshot.topics if spec.name is not None]
        clusters = {spec.key: self.cluster_for(servers.get(spec.server), spec.path) for spec in wanted}
        wanted = [spec for spec in wanted if clusters[spec.key] is not None]
        existing = {
            (topic.cluster_id, topic.name): topic
            for topic in Topic.objects.filter(
                cluster__in={cluster.pk for cluster in clusters.values() if cluster is not None},
                name__in={spec.name for spec in wanted},
            ).prefetch_related("tags")
        }
        for spec in wanted:
            cluster = clusters[spec.key]
            values = _stated(description=spec.description, tags=spec.tags)
            values.update(self.owner_and_domain(spec))
            row = self.write(
                "topics",
                existing.get((cluster.pk, spec.name)),
                values,
                create=lambda cluster=cluster, spec=spec, **values: self.topic_create(cluster, spec.name, values),
                update=lambda row, **changes: documentation.topic_update_documentation(topic=row, **changes),
                path=spec.path,
                fields=_CHANNEL_FIELDS,
            )
            if row is not None:
                existing[(cluster.pk, spec.name)] = row
                self.topics[spec.key] = row

    def topic_create(self, cluster: Cluster, name: str, documentation_values: dict[str, Any]) -> Topic:
        # Discovery owns topic rows and has no "create one" service: a documented topic it has not seen yet
        # starts as a bare row (seen now) that its next run fills in; its upsert keeps the documentation.
        topic = Topic.objects.create(cluster=cluster, name=name, first_seen=self.now, last_seen=self.now)
        return documentation.topic_update_documentation(topic=topic, **documentation_values)

    def cluster_for(self, server: ServerSpec | None, path: str) -> Cluster | None:
        """The cluster a channel's server names (by cluster name, then by bootstrap servers), else the default."""
        if server is not None:
            for cluster in self.clusters:
                if cluster.name == server.name:
                    return cluster
            for cluster in self.clusters:
                if cluster.bootstrap_servers == server.host:
                    return cluster
        default = next((cluster for cluster in self.clusters if cluster.is_default), None)
        if default is None:
            try:
                default = cluster_ensure_default()
            except ValidationError as exc:
                self.problems.append(Problem(path, f"no default cluster to put it on: {' '.join(exc.messages)}"))
                return None
            self.clusters.append(default)
        return default

    def write_event_types(self) -> None:
        for spec in self.snapshot.event_types:
            row = self.event_types.get(spec.ref)
            values = _stated(
                summary=spec.summary,
                business_meaning=spec.description,
                schema_subject=spec.schema_subject,
                data_classification=spec.classification,
                tags=spec.tags,
            )
            values.update(self.owner_and_domain(spec))
            if spec.topic in self.topics:
                values["topic"] = self.topics[spec.topic]
            if spec.examples:
                values["example_payload"] = _example_text(spec.examples[0], row.example_payload if row else "")
            row = self.write(
                "event_types",
                row,
                values,
                create=lambda spec=spec, **values: documentation.event_type_create(
                    name=spec.name, version=spec.version, **values
                ),
                update=lambda row, **changes: documentation.event_type_update(event_type=row, **changes),
                path=spec.path,
                fields=_MESSAGE_FIELDS,
            )
            if row is not None:
                self.event_types[spec.ref] = row

    def write_relations(self) -> None:
        services = [row for row in self.services.values() if row.pk]
        existing = {
            (relation.service_id, relation.direction, relation.event_type_id, relation.topic_id): relation
            for relation in DeclaredRelation.objects.filter(service__in=services)
        }
        wanted: dict[tuple, RelationSpec] = {}
        for spec in self.snapshot.relations:
            service = self.services.get(spec.service)
            target = self.event_types.get(spec.event_type) if spec.event_type else self.topics.get(spec.topic)
            if service is None or target is None:
                continue  # its service or target was refused, which is a problem already, or is not a topic
            key = (service.pk, spec.direction, *((target.pk, None) if spec.event_type else (None, target.pk)))
            wanted[key] = spec
            # What a consumer reads (x-eventscope-reader-version / x-eventscope-reads): stated values only.
            reader = _stated(reader_schema_version=spec.reader_version, reads_fields=spec.reads_fields)
            if "reads_fields" in reader:
                reader["reads_fields"] = list(reader["reads_fields"])
            if key in existing:
                relation = existing[key]
                changes = {name: value for name, value in reader.items() if getattr(relation, name) != value}
                if not changes:
                    self.result.unchanged["relations"] += 1
                    continue
                try:
                    documentation.relation_update_reader(relation=relation, **changes)
                except ValidationError as exc:
                    self.problems.extend(_problems(exc, spec.path, _READER_FIELDS))
                else:
                    self.result.updated["relations"] += 1
                continue
            try:
                documentation.relation_create(
                    service=service,
                    direction=spec.direction,
                    event_type=target if spec.event_type else None,
                    topic=None if spec.event_type else target,
                    source=self.source,
                    **reader,
                )
            except ValidationError as exc:
                self.problems.extend(_problems(exc, spec.path, _READER_FIELDS))
            else:
                self.result.created["relations"] += 1
        # The document speaks for its services' relations from this source: those it no longer declares go.
        described = {self.services[spec.slug].pk for spec in self.snapshot.services if spec.slug in self.services}
        for key, relation in existing.items():
            if key not in wanted and relation.source == self.source and relation.service_id in described:
                documentation.relation_delete(relation=relation)
                self.result.deleted["relations"] += 1

    def write_consumer_groups(self) -> None:
        """Attach each service's consumer groups; a group discovery has not seen yet is created on the default cluster.

        Discovery's upsert keeps `service`, so the group stays attached once the cluster reports it.
        """
        claims = {
            group_id: self.services[spec.slug]
            for spec in self.snapshot.services
            if spec.slug in self.services
            for group_id in spec.consumer_groups
        }
        found: set[str] = set()
        for group in ConsumerGroup.objects.filter(group_id__in=claims):
            found.add(group.group_id)
            if group.service_id == claims[group.group_id].pk:
                self.result.unchanged["consumer_groups"] += 1
            else:
                documentation.consumer_group_update_documentation(group=group, service=claims[group.group_id])
                self.result.updated["consumer_groups"] += 1
        for group_id in sorted(set(claims) - found):
            cluster = self.cluster_for(None, pointer())
            if cluster is None:
                return
            ConsumerGroup.objects.create(
                cluster=cluster,
                group_id=group_id,
                service=claims[group_id],
                first_seen=self.now,
                last_seen=self.now,
            )
            self.result.created["consumer_groups"] += 1


# Where each model field lives in the document, per kind of spec (field names the same in both are left out).
_SERVICE_FIELDS = {"repository_url": "repository", "owner_team": "owner", "domain": "domain"}
_SERVICE_INFO_FIELDS = {
    "name": "title",
    "repository_url": X_REPOSITORY,
    "owner_team": X_OWNER,
    "domain": X_DOMAIN,
}
_CHANNEL_FIELDS = {"owner_team": X_OWNER, "domain": X_DOMAIN}
_READER_FIELDS = {"reader_schema_version": X_READER_VERSION, "reads_fields": X_READS}
_MESSAGE_FIELDS = {
    "business_meaning": "description",
    "schema_subject": X_SCHEMA_SUBJECT,
    "data_classification": X_CLASSIFICATION,
    "example_payload": "examples",
    "owner_team": X_OWNER,
    "domain": X_DOMAIN,
}


def _problems(exc: ValidationError, path: str, fields: dict[str, str]) -> list[Problem]:
    """A refused write as problems at the document's places for the refused fields."""
    if not hasattr(exc, "error_dict"):
        return [Problem(path, message) for message in exc.messages]
    return [
        Problem(path if name == NON_FIELD_ERRORS else f"{path}/{fields.get(name, name)}", message)
        for name, messages in exc.message_dict.items()
        for message in messages
    ]


def _match(queryset: models.QuerySet, specs: Iterable[Any], referenced: set[str | None]) -> dict[str, Any]:
    """Rows by the document's slug: a described row matches by slug, else by name; a referenced one by slug."""
    specs = list(specs)
    slugs = {spec.slug for spec in specs} | {slug for slug in referenced if slug}
    rows = list(queryset.filter(Q(slug__in=slugs) | Q(name__in=[spec.name for spec in specs])))
    by_slug = {row.slug: row for row in rows}
    by_name = {row.name: row for row in rows}
    matched = {slug: by_slug[slug] for slug in slugs if slug in by_slug}
    for spec in specs:
        row = by_slug.get(spec.slug) or by_name.get(spec.name)
        if row is not None:
            matched[spec.slug] = row
    return matched


def _refs(snapshot: CatalogSnapshot, attribute: str) -> set[str]:
    specs = (*snapshot.services, *snapshot.topics, *snapshot.event_types)
    return {getattr(spec, attribute) for spec in specs if getattr(spec, attribute) is not None}


def _differs(row: models.Model, name: str, value: Any) -> bool:
    if name == "tags":  # prefetched for existing rows, so this comparison costs no query
        return {tag.name for tag in row.tags.all()} != set(value)
    field = row._meta.get_field(name)
    if field.is_relation:  # compare ids: reading the related object would cost a query per row
        return getattr(row, field.attname) != (value.pk if value is not None else None)
    return getattr(row, name) != value


def _stated(**values: Any) -> dict[str, Any]:
    """The values the document states (None: not mentioned, so the row keeps what it has)."""
    return {name: value for name, value in values.items() if value is not None}


def _example_text(example: Any, current: str) -> str:
    """The example payload as stored JSON text; the current text when it already says the same (however formatted)."""
    try:
        if current.strip() and json.loads(current) == example:
            return current
    except ValueError:
        pass
    return json.dumps(example, indent=2, ensure_ascii=False)
