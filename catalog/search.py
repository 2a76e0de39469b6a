"""Catalog search: ranked search over topics, event types, services, teams, domains, consumer groups and
schema subjects (ours and those mirrored from external registries), and the index
(catalog.models.SearchDocument) that keeps it in step with the catalog.

Ranking, the same on PostgreSQL and SQLite:

1. the whole query equals a name (case-insensitive);
2. a name starts with the query;
3. a name contains the query;
4. every query word starts a word of the name ("orders placed" finds shop.orders.placed);
5. every query word starts a word somewhere in the document: tags, schema field names (weight B) or
   the description (weight C), ranked by the database's full-text rank: PostgreSQL's ts_rank over a
   stored tsvector, or SQLite's FTS5 bm25 with the same column weights (a LIKE scorer with the same
   matching rule where SQLite lacks FTS5).

Within tiers 1-4 shorter names come first. Both databases index the same pre-split words (see
`search_terms`: camelCase and snake_case split, lowercase), so they match the same documents; only the
order inside tier 5 can differ between them, as their rank functions do.

Keeping the index in step: `search_index_update(obj)` / `search_index_remove(kind, id)` for one object
(catalog.signals calls them on save and delete), `search_index_bulk_update(kind, ids)` after bulk writes
that send no signals (discovery; the external-registry mirror for the subjects it adds, changes or
deletes), `search_index_rebuild()` for everything (`manage.py search_reindex`).
Re-indexing an unchanged object writes nothing (each document carries a digest of its text).
"""

from __future__ import annotations

import contextvars
import hashlib
import html
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connection, transaction
from django.db.models import (
    Case,
    Exists,
    F,
    FloatField,
    IntegerField,
    Max,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Length
from django.utils.html import strip_tags

from eventscope.markdown import render_markdown
from eventscope.search_providers import SearchHit, SearchProvider

from .links import catalog_url, schema_subject_url
from .models import ConsumerGroup, Domain, EventType, SearchDocument, Service, Team, Topic

__all__ = [
    "CATALOG_SEARCH_PROVIDER",
    "KIND_LABELS",
    "IndexedText",
    "SearchHit",
    "query_terms",
    "search_catalog",
    "search_index_bulk_update",
    "search_index_deferred",
    "search_index_rebuild",
    "search_index_remove",
    "search_index_subject_changed",
    "search_index_update",
    "search_terms",
]

logger = logging.getLogger(__name__)

Kind = SearchDocument.Kind
# Display order of the result groups, and the tie-break between equal names of different kinds.
KIND_LABELS: dict[str, str] = {
    Kind.EVENT_TYPE: "Event types",
    Kind.TOPIC: "Topics",
    Kind.SUBJECT: "Schema subjects",
    Kind.SERVICE: "Services",
    Kind.CONSUMER_GROUP: "Consumer groups",
    Kind.TEAM: "Teams",
    Kind.DOMAIN: "Domains",
}

MAX_QUERY_LENGTH = 200
MAX_QUERY_TERMS = 8  # bounds the cost of one query: each word is one more prefix scan
MAX_TERM_LENGTH = 64
MAX_BODY_LENGTH = 20_000  # characters of description kept for matching and snippets
SNIPPET_WIDTH = 160
CHUNK = 500  # rows per statement: well under SQLite's bound-variable limit

FTS_TABLE = "catalog_search_fts"  # SQLite only, created by migration 0002_search
# Tier numbers (higher ranks first); a hit's score is tier * 10 plus a fraction below 10.
EXACT, PREFIX, CONTAINS, NAME_WORDS, TEXT = 5, 4, 3, 2, 1
# Column weights, PostgreSQL's default ts_rank weights for A, B, B, C; FTS5's bm25 gets the same.
NAME_WEIGHT, TAGS_WEIGHT, FIELDS_WEIGHT, BODY_WEIGHT = 1.0, 0.4, 0.4, 0.2


# ---------------------------------------------------------------------------------------------
# Terms: the words both databases index
# ---------------------------------------------------------------------------------------------
_WORD_RUN = re.compile(r"\w+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Where camelCase words meet: orderPlaced -> order|Placed, HTTPServer -> HTTP|Server.
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _word_parts(run: str) -> list[str]:
    parts = []
    for piece in run.split("_"):
        if piece:
            parts.extend(part.lower()[:MAX_TERM_LENGTH] for part in _CAMEL_BOUNDARY.split(piece) if part)
    return parts


def search_terms(text: str) -> list[str]:
    """The words of `text` as indexed: lowercase, camelCase and snake_case split, each compound also whole.

    "OrderPlaced" -> order, placed, orderplaced; "customer_email" -> customer, email, customeremail;
    "shop.orders.placed" -> shop, orders, placed.
    """
    terms: list[str] = []
    for run in _WORD_RUN.findall(text):
        parts = _word_parts(run)
        terms.extend(parts)
        if len(parts) > 1:
            terms.append("".join(parts)[:MAX_TERM_LENGTH])
    return terms


def query_terms(query: str) -> list[str]:
    """The words of a query (split like `search_terms`, without the whole compounds), first eight, no repeats."""
    terms: list[str] = []
    for run in _WORD_RUN.findall(query):
        terms.extend(_word_parts(run))
    return list(dict.fromkeys(terms))[:MAX_QUERY_TERMS]


def _padded(terms: Iterable[str]) -> str:
    # Leading and trailing spaces make `contains " word"` a word-prefix test on any column.
    joined = " ".join(terms)
    return f" {joined} " if joined else ""


def _plain_text(markdown: str) -> str:
    """Markdown as the words a reader sees (for snippets and matching), without markup."""
    if not markdown:
        return ""
    text = html.unescape(strip_tags(render_markdown(markdown[: MAX_BODY_LENGTH * 2])))
    return " ".join(text.split())[:MAX_BODY_LENGTH]


# ---------------------------------------------------------------------------------------------
# Kinds: what each searchable model puts into the index and how its hits look
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IndexedText:
    """The searchable text of one object: its name (weight A), tags and schema fields (B), description (C)."""

    name: str
    tags: Sequence[str] = ()
    fields: Sequence[str] = ()
    body: str = ""


@dataclass(frozen=True)
class _KindSpec:
    kind: str
    model: Callable[[], type[Model]]
    # The rows that belong in the index, with what `text` reads (deleted topics and groups do not).
    indexed: Callable[[], QuerySet]
    text: Callable[[Any, dict[str, list[str]]], IndexedText]
    # The rows for hits, with what `display` reads; display returns (title, subtitle, url).
    shown: Callable[[], QuerySet]
    display: Callable[[Any], tuple[str, str, str]]
    # Saves that change none of these fields leave the document as it is (discovery's last_seen).
    watched_fields: frozenset[str]
    # Schema subjects whose fields `text` needs, read in one go per batch.
    subjects_of: Callable[[Any], Iterable[str]] = lambda obj: ()
    # The kind its hits carry (KIND_LABELS' key) when it differs from the document kind: subjects mirrored
    # from an external registry are indexed apart (their ids are another table's) but found as schema subjects.
    hit_kind: str | None = None

    @property
    def shown_kind(self) -> str:
        return self.hit_kind or self.kind


def _tag_names(obj: Model) -> list[str]:
    return [tag.name for tag in obj.tags.all()]


def _join(*parts: str | None) -> str:
    return " · ".join(part for part in parts if part)


def _topic_display(topic: Topic) -> tuple[str, str, str]:
    owner = topic.owner_team.name if topic.owner_team else "undocumented"
    return topic.name, _join(f"Topic on {topic.cluster.name}", owner), catalog_url(topic)


def _event_type_text(event_type: EventType, fields: dict[str, list[str]]) -> IndexedText:
    body = "\n".join(part for part in (event_type.summary, _plain_text(event_type.business_meaning)) if part)
    return IndexedText(event_type.name, _tag_names(event_type), fields.get(event_type.schema_subject, []), body)


def _event_type_display(event_type: EventType) -> tuple[str, str, str]:
    subtitle = _join(
        f"Event type v{event_type.version}",
        event_type.domain.name if event_type.domain else None,
        event_type.owner_team.name if event_type.owner_team else "no owner",
        event_type.topic.name if event_type.topic else None,
    )
    return event_type.name, subtitle, catalog_url(event_type)


def _group_display(group: ConsumerGroup) -> tuple[str, str, str]:
    subtitle = _join(
        f"Consumer group on {group.cluster.name}",
        group.service.name if group.service else "no service",
        group.state.lower() if group.state else None,
    )
    return group.group_id, subtitle, catalog_url(group)


def _subject_model() -> type[Model]:
    from schemas.models import Subject

    return Subject


def _live_subjects() -> QuerySet:
    from schemas.models import SubjectVersion

    # A subject is found while it has a live version: soft-deleting all of them hides it, as the registry does.
    live = SubjectVersion.objects.filter(deleted_at__isnull=True).values("subject_id")
    return _subject_model().objects.filter(id__in=live)


def _subject_display(subject: Any) -> tuple[str, str, str]:
    return subject.name, f"Schema subject · latest v{subject.latest_version}", schema_subject_url(subject.name)


def _mirrored_subject_model() -> type[Model]:
    from schemas.models_external import MirroredSubject

    return MirroredSubject


def _mirrored_subjects() -> QuerySet:
    from schemas.models_external import MirroredVersion

    # The mirror keeps a subject while it has a version; the Exists guards a sync caught half way.
    return _mirrored_subject_model().objects.filter(Exists(MirroredVersion.objects.filter(subject=OuterRef("pk"))))


def _mirrored_indexed() -> QuerySet:
    from schemas.models_external import MirroredVersion

    latest = MirroredVersion.objects.filter(subject=OuterRef("pk")).order_by("-version")
    return (
        _mirrored_subjects()
        .annotate(
            latest_schema_id=Subquery(latest.values("schema__schema_id")[:1]),
            latest_schema_text=Subquery(latest.values("schema__text")[:1]),
        )
        .only("name", "registry")
    )


def _mirrored_subject_text(subject: Any, _fields: dict[str, list[str]]) -> IndexedText:
    fields: tuple[str, ...] = ()
    if subject.latest_schema_id is not None:
        fields = _mirrored_field_paths(subject.registry_id, subject.latest_schema_id, subject.latest_schema_text or "")
    return IndexedText(subject.name, (), fields, "")


def _mirrored_subject_display(subject: Any) -> tuple[str, str, str]:
    registry = subject.registry.name
    subtitle = f"Schema subject mirrored from registry {registry} · latest v{subject.latest_version}"
    # The page of the mirror, not ours: a name held by both would otherwise open our registry's subject.
    return subject.name, subtitle, f"{schema_subject_url(subject.name)}?{urlencode({'registry': registry})}"


_SPECS: dict[str, _KindSpec] = {
    Kind.TOPIC: _KindSpec(
        kind=Kind.TOPIC,
        model=lambda: Topic,
        indexed=lambda: Topic.objects.present().prefetch_related("tags").only("name", "description", "deleted_at"),
        text=lambda topic, _fields: IndexedText(topic.name, _tag_names(topic), (), _plain_text(topic.description)),
        shown=lambda: Topic.objects.select_related("cluster", "owner_team").only(
            "name", "cluster__name", "owner_team__name"
        ),
        display=_topic_display,
        watched_fields=frozenset({"name", "description", "deleted_at"}),
    ),
    Kind.EVENT_TYPE: _KindSpec(
        kind=Kind.EVENT_TYPE,
        model=lambda: EventType,
        indexed=lambda: EventType.objects.prefetch_related("tags").only(
            "name", "summary", "business_meaning", "schema_subject"
        ),
        text=_event_type_text,
        shown=lambda: EventType.objects.select_related("domain", "owner_team", "topic").only(
            "name", "version", "slug", "domain__name", "owner_team__name", "topic__name"
        ),
        display=_event_type_display,
        watched_fields=frozenset({"name", "summary", "business_meaning", "schema_subject"}),
        subjects_of=lambda event_type: [event_type.schema_subject] if event_type.schema_subject else [],
    ),
    Kind.SUBJECT: _KindSpec(
        kind=Kind.SUBJECT,
        model=_subject_model,
        indexed=lambda: _live_subjects().only("name"),
        text=lambda subject, fields: IndexedText(subject.name, (), fields.get(subject.name, []), ""),
        shown=lambda: (
            _live_subjects()
            .annotate(latest_version=Max("versions__version", filter=Q(versions__deleted_at__isnull=True)))
            .only("name")
        ),
        display=_subject_display,
        watched_fields=frozenset({"name"}),
        subjects_of=lambda subject: [subject.name],
    ),
    Kind.MIRRORED_SUBJECT: _KindSpec(
        kind=Kind.MIRRORED_SUBJECT,
        model=_mirrored_subject_model,
        indexed=_mirrored_indexed,
        text=_mirrored_subject_text,
        shown=lambda: (
            _mirrored_subjects()
            .select_related("registry")
            .annotate(latest_version=Max("versions__version"))
            .only("name", "registry__name")
        ),
        display=_mirrored_subject_display,
        # Only the mirror writes these rows, and it re-indexes what it changed (schemas.external.mirror).
        watched_fields=frozenset({"name"}),
        hit_kind=Kind.SUBJECT,
    ),
    Kind.SERVICE: _KindSpec(
        kind=Kind.SERVICE,
        model=lambda: Service,
        indexed=lambda: Service.objects.prefetch_related("tags").only("name", "description"),
        text=lambda service, _fields: IndexedText(
            service.name, _tag_names(service), (), _plain_text(service.description)
        ),
        shown=lambda: Service.objects.select_related("owner_team").only("name", "slug", "owner_team__name"),
        display=lambda service: (
            service.name,
            _join("Service", service.owner_team.name if service.owner_team else "no owner"),
            catalog_url(service),
        ),
        watched_fields=frozenset({"name", "description"}),
    ),
    Kind.CONSUMER_GROUP: _KindSpec(
        kind=Kind.CONSUMER_GROUP,
        model=lambda: ConsumerGroup,
        indexed=lambda: ConsumerGroup.objects.present().only("group_id", "description", "deleted_at"),
        text=lambda group, _fields: IndexedText(group.group_id, (), (), _plain_text(group.description)),
        shown=lambda: ConsumerGroup.objects.select_related("cluster", "service").only(
            "group_id", "state", "cluster__name", "service__name"
        ),
        display=_group_display,
        watched_fields=frozenset({"group_id", "description", "deleted_at"}),
    ),
    Kind.TEAM: _KindSpec(
        kind=Kind.TEAM,
        model=lambda: Team,
        indexed=lambda: Team.objects.only("name", "description", "contact_channel"),
        text=lambda team, _fields: IndexedText(
            team.name, (), (), "\n".join(p for p in (team.contact_channel, _plain_text(team.description)) if p)
        ),
        shown=lambda: Team.objects.select_related("domain").only("name", "slug", "domain__name"),
        display=lambda team: (
            team.name,
            _join("Team", team.domain.name if team.domain else None),
            catalog_url(team),
        ),
        watched_fields=frozenset({"name", "description", "contact_channel"}),
    ),
    Kind.DOMAIN: _KindSpec(
        kind=Kind.DOMAIN,
        model=lambda: Domain,
        indexed=lambda: Domain.objects.only("name", "description"),
        text=lambda domain, _fields: IndexedText(domain.name, (), (), _plain_text(domain.description)),
        shown=lambda: Domain.objects.only("name", "slug"),
        display=lambda domain: (domain.name, "Domain", catalog_url(domain)),
        watched_fields=frozenset({"name", "description"}),
    ),
}
# The order of KIND_LABELS is also the tie-break order; both must name the same kinds.
assert {spec.shown_kind for spec in _SPECS.values()} == set(KIND_LABELS)
# Document kinds in tie-break order: each right after the kinds its hits are shown as (mirrored after our subjects).
_DOCUMENT_KINDS: list[str] = [
    spec.kind for shown in KIND_LABELS for spec in _SPECS.values() if spec.shown_kind == shown
]


def kind_of(obj: Model) -> str | None:
    """The search kind of a model instance, or None when that model is not searchable."""
    for spec in _SPECS.values():
        if isinstance(obj, spec.model()):
            return spec.kind
    return None


def watched_fields(kind: str) -> frozenset[str]:
    return _SPECS[kind].watched_fields


# ---------------------------------------------------------------------------------------------
# Schema fields (from the registry's selectors)
# ---------------------------------------------------------------------------------------------
@lru_cache(maxsize=4096)
def _schema_field_paths(schema: Any) -> tuple[str, ...]:
    """Field paths of a registered schema (a schemas.selectors.SchemaRecord).

    Cached by the whole record, text included, not by id alone: an id means one schema for good in a
    registry, but a test database that rolls back hands the same id to another schema.
    """
    from schemas import formats
    from schemas.selectors import parsed_schema_by_id

    try:
        return tuple(info.path for info in formats.field_paths(parsed_schema_by_id(schema.id)))
    except Exception:  # a schema the format module cannot flatten still leaves its subject searchable by name
        logger.warning("search: cannot list the fields of schema %s", schema.id, exc_info=True)
        return ()


@lru_cache(maxsize=4096)
def _mirrored_field_paths(registry_id: int, schema_id: int, text: str) -> tuple[str, ...]:
    """Field paths of a mirrored schema (the external registry's id in the mirror of `registry_id`).

    The text is part of the cache key for the same reason as above: ids come back after a rollback.
    """
    from schemas import formats
    from schemas.external.selectors import mirrored_parsed_schema

    try:
        return tuple(info.path for info in formats.field_paths(mirrored_parsed_schema(registry_id, schema_id)))
    except Exception:  # someone else's schema we cannot flatten still leaves its subject searchable by name
        logger.warning("search: cannot list the fields of mirrored schema %s/%s", registry_id, schema_id, exc_info=True)
        return ()


def _subject_fields(names: Iterable[str]) -> dict[str, list[str]]:
    """Field paths of each subject's latest live schema; a subject without one has none."""
    from schemas.errors import SchemaNotFoundError, SubjectNotFoundError, VersionNotFoundError
    from schemas.selectors import LATEST, subject_version_get

    fields: dict[str, list[str]] = {}
    for name in set(names):
        try:
            latest = subject_version_get(name, LATEST)
        except (SubjectNotFoundError, VersionNotFoundError, SchemaNotFoundError):
            continue
        fields[name] = list(_schema_field_paths(latest.schema))
    return fields


# ---------------------------------------------------------------------------------------------
# Writing the index
# ---------------------------------------------------------------------------------------------
_DOCUMENT_FIELDS = ("name_key", "name_terms", "tags_terms", "fields_terms", "body_terms", "tags", "fields", "body")


def _document(kind: str, object_id: int, text: IndexedText) -> SearchDocument:
    tags = [tag for tag in text.tags if tag]
    body = text.body[:MAX_BODY_LENGTH]
    values = {
        "name_key": " ".join(text.name.split()).lower(),
        "name_terms": _padded(dict.fromkeys(search_terms(text.name))),
        "tags_terms": _padded(term for tag in tags for term in search_terms(tag)),
        "fields_terms": _padded(dict.fromkeys(term for path in text.fields for term in search_terms(path))),
        "body_terms": _padded(search_terms(body)),
        "tags": "\n".join(tags),
        "fields": "\n".join(text.fields),
        "body": body,
    }
    digest = hashlib.sha256("\x1f".join(values[name] for name in _DOCUMENT_FIELDS).encode()).hexdigest()
    return SearchDocument(kind=kind, object_id=object_id, digest=digest, **values)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _has_fts5() -> bool:
    """Whether this SQLite database has the FTS5 table (migration 0002 makes it where FTS5 is compiled in)."""
    key = (connection.alias, str(connection.settings_dict["NAME"]))
    if key not in _fts5_present:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", [FTS_TABLE])
            _fts5_present[key] = cursor.fetchone() is not None
    return _fts5_present[key]


_fts5_present: dict[tuple[str, str], bool] = {}


def _fulltext_backend() -> str:
    """The full-text index in use: "postgresql" (stored tsvector), "fts5" (SQLite's FTS5 table) or "like" (none)."""
    if connection.vendor == "postgresql":
        return "postgresql"
    if connection.vendor == "sqlite" and _has_fts5():
        return "fts5"
    return "like"


_VECTOR = (
    SearchVector("name_terms", weight="A", config="simple")
    + SearchVector("tags_terms", "fields_terms", weight="B", config="simple")
    + SearchVector("body_terms", weight="C", config="simple")
)


def _fulltext_refresh(document_ids: Sequence[int]) -> None:
    """Bring the database's full-text side of these documents in step with their terms."""
    backend = _fulltext_backend()
    if backend == "postgresql":
        for chunk in _chunks(document_ids):
            SearchDocument.objects.filter(id__in=chunk).update(vector=_VECTOR)
    elif backend == "fts5":
        with connection.cursor() as cursor:
            for chunk in _chunks(document_ids):
                marks = ", ".join(["%s"] * len(chunk))
                cursor.execute(f"DELETE FROM {FTS_TABLE} WHERE rowid IN ({marks})", list(chunk))  # noqa: S608
                cursor.execute(
                    f"INSERT INTO {FTS_TABLE} (rowid, name_terms, tags_terms, fields_terms, body_terms) "  # noqa: S608
                    f"SELECT id, name_terms, tags_terms, fields_terms, body_terms FROM {SearchDocument._meta.db_table} "
                    f"WHERE id IN ({marks})",
                    list(chunk),
                )


def _fulltext_forget(document_ids: Sequence[int]) -> None:
    if document_ids and _fulltext_backend() == "fts5":
        with connection.cursor() as cursor:
            for chunk in _chunks(document_ids):
                marks = ", ".join(["%s"] * len(chunk))
                cursor.execute(f"DELETE FROM {FTS_TABLE} WHERE rowid IN ({marks})", list(chunk))  # noqa: S608


def _remove_documents(queryset: QuerySet[SearchDocument]) -> int:
    ids = list(queryset.values_list("id", flat=True))
    for chunk in _chunks(ids):
        SearchDocument.objects.filter(id__in=chunk).delete()
    _fulltext_forget(ids)
    return len(ids)


# Inside `search_index_deferred()`, signal-driven updates are collected here and written once at the end.
_pending: contextvars.ContextVar[dict[str, set[int]] | None] = contextvars.ContextVar("search_pending", default=None)


@contextmanager
def search_index_deferred() -> Iterator[None]:
    """Collect the index updates of many saves (an import, a seed) and write them once, at the end of the block."""
    outer = _pending.get()
    if outer is not None:  # nested: the outermost block writes
        yield
        return
    pending: dict[str, set[int]] = {}
    token = _pending.set(pending)
    try:
        yield
    finally:
        _pending.reset(token)
    for kind, ids in pending.items():
        search_index_bulk_update(kind, ids)


def search_index_update(obj: Model) -> None:
    """Re-index one catalog object (or drop it, when it no longer belongs in the index, e.g. a deleted topic)."""
    kind = kind_of(obj)
    if kind is None:
        raise TypeError(f"{type(obj).__name__} is not searchable")
    search_index_bulk_update(kind, [obj.pk])


def search_index_remove(kind: str, object_id: int) -> None:
    """Drop one object's document (its row was deleted)."""
    pending = _pending.get()
    if pending is not None:
        pending.setdefault(kind, set()).add(object_id)  # the bulk update drops what no longer exists
        return
    _remove_documents(SearchDocument.objects.filter(kind=kind, object_id=object_id))


def search_index_bulk_update(kind: str, ids: Iterable[int]) -> int:
    """Re-index these objects of one kind (after bulk_create/bulk_update, which send no signals).

    Objects that no longer exist or no longer belong in the index lose their document; unchanged ones
    cost a read and no write. Returns the number of documents written or removed.
    """
    spec = _SPECS[kind]
    ids = sorted({int(object_id) for object_id in ids})
    pending = _pending.get()
    if pending is not None:
        pending.setdefault(kind, set()).update(ids)
        return 0
    changed = 0
    with transaction.atomic():
        for chunk in _chunks(ids):
            objects = list(spec.indexed().filter(pk__in=chunk))
            fields = _subject_fields(s for obj in objects for s in spec.subjects_of(obj))
            documents = [_document(kind, obj.pk, spec.text(obj, fields)) for obj in objects]
            existing = dict(
                SearchDocument.objects.filter(kind=kind, object_id__in=chunk).values_list("object_id", "digest")
            )
            gone = set(existing) - {obj.pk for obj in objects}
            if gone:
                changed += _remove_documents(SearchDocument.objects.filter(kind=kind, object_id__in=gone))
            documents = [doc for doc in documents if existing.get(doc.object_id) != doc.digest]
            if not documents:
                continue
            SearchDocument.objects.bulk_create(
                documents,
                update_conflicts=True,
                unique_fields=["kind", "object_id"],
                update_fields=[*_DOCUMENT_FIELDS, "digest", "updated_at"],
            )
            written = SearchDocument.objects.filter(kind=kind, object_id__in=[doc.object_id for doc in documents])
            _fulltext_refresh(list(written.values_list("id", flat=True)))
            changed += len(documents)
    return changed


def search_index_subject_changed(subject_id: int) -> None:
    """Re-index a schema subject and the event types that point at it (a version registered or deleted).

    catalog.signals calls it on every SubjectVersion save and delete; the registry calls it itself after
    writes that send no signals (a soft delete done with QuerySet.update()).
    """
    search_index_bulk_update(Kind.SUBJECT, [subject_id])
    from schemas.models import Subject

    name = Subject.objects.filter(pk=subject_id).values_list("name", flat=True).first()
    if name:
        event_types = EventType.objects.filter(schema_subject=name).values_list("pk", flat=True)
        search_index_bulk_update(Kind.EVENT_TYPE, list(event_types))


def search_index_rebuild() -> dict[str, int]:
    """Index every searchable object and drop stale documents; also rewrites the full-text side from scratch.

    Returns the number of documents per kind.
    """
    counts: dict[str, int] = {}
    with transaction.atomic():
        for kind, spec in _SPECS.items():
            ids = list(spec.indexed().values_list("pk", flat=True))
            stale = set(SearchDocument.objects.filter(kind=kind).values_list("object_id", flat=True)) - set(ids)
            for chunk in _chunks(sorted(stale)):
                _remove_documents(SearchDocument.objects.filter(kind=kind, object_id__in=chunk))
            search_index_bulk_update(kind, ids)
            counts[str(kind)] = len(ids)
        # The full-text side can drift from the table (a restore, a hand edit): rewrite all of it.
        if _fulltext_backend() == "fts5":
            with connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {FTS_TABLE}")  # noqa: S608
        _fulltext_refresh(list(SearchDocument.objects.order_by("id").values_list("id", flat=True)))
    return counts


# ---------------------------------------------------------------------------------------------
# Searching
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Ranked:
    document_id: int
    kind: str
    object_id: int
    name_key: str
    tier: int
    column_score: float
    rank: float
    tags: str
    fields: str
    body: str


_ROW = ("id", "kind", "object_id", "name_key", "tags", "fields", "body")


def _kind_rank() -> Case:
    return Case(
        *[When(kind=kind, then=Value(i)) for i, kind in enumerate(_DOCUMENT_KINDS)], output_field=IntegerField()
    )


def _column_score(terms: list[str]) -> Any:
    """Per query word, the weight of the best column that has a word starting with it, summed.

    The same expression on every database, so that a name or tag match outranks a description match
    on SQLite as on PostgreSQL; the full-text rank only orders documents with equal column scores
    (bm25 says little in a small catalog, where most words are in most documents).
    """
    score: Any = Value(0.0)
    for term in terms:
        word = f" {term}"
        score = score + Case(
            When(name_terms__contains=word, then=Value(NAME_WEIGHT)),
            When(tags_terms__contains=word, then=Value(TAGS_WEIGHT)),
            When(fields_terms__contains=word, then=Value(FIELDS_WEIGHT)),
            When(body_terms__contains=word, then=Value(BODY_WEIGHT)),
            default=Value(0.0),
            output_field=FloatField(),
        )
    return score


_TEXT_ORDER = ("-column_score", "-text_rank", "name_length", "name_key", "kind_rank", "object_id")


def _text_matches(queryset: QuerySet[SearchDocument], terms: list[str], limit: int) -> list[_Ranked]:
    """Tier 5: documents where every term starts a word somewhere, best columns first, then full-text rank."""
    candidates = queryset.annotate(
        column_score=_column_score(terms), name_length=Length("name_key"), kind_rank=_kind_rank()
    )
    backend = _fulltext_backend()
    if backend == "postgresql":
        tsquery = SearchQuery(" & ".join(f"'{term}':*" for term in terms), search_type="raw", config="simple")
        weights = [BODY_WEIGHT / 2, BODY_WEIGHT, TAGS_WEIGHT, NAME_WEIGHT]  # D, C, B, A
        rows = (
            candidates.filter(vector=tsquery)
            .annotate(text_rank=SearchRank(F("vector"), tsquery, weights=weights))
            .order_by(*_TEXT_ORDER)
            .values_list(*_ROW, "column_score", "text_rank")[:limit]
        )
    elif backend == "fts5":
        rows = _fts5_rows(candidates, terms, limit)
    else:
        # No full-text index: the same rule (every word starts a word in some column) with LIKE.
        every_word = Q()
        for term in terms:
            word = f" {term}"
            every_word &= (
                Q(name_terms__contains=word)
                | Q(tags_terms__contains=word)
                | Q(fields_terms__contains=word)
                | Q(body_terms__contains=word)
            )
        rows = (
            candidates.filter(every_word)
            .annotate(text_rank=Value(0.0))
            .order_by(*_TEXT_ORDER)
            .values_list(*_ROW, "column_score", "text_rank")[:limit]
        )
    return [_ranked(row[:-2], TEXT, column_score=row[-2], rank=row[-1]) for row in rows]


def _fts5_rows(candidates: QuerySet[SearchDocument], terms: list[str], limit: int) -> list[tuple]:
    # Terms are \w runs, so they cannot close the quotes; each is a prefix query and all must match.
    match = " AND ".join(f'"{term}"*' for term in terms)
    inner, params = candidates.values_list(*_ROW, "column_score", "name_length", "kind_rank").query.sql_with_params()
    columns = ", ".join(f"c.{column}" for column in (*_ROW, "column_score"))
    sql = (
        f"SELECT {columns}, "  # noqa: S608 - only constants and the ORM's own SQL are formatted in
        f"-bm25({FTS_TABLE}, {NAME_WEIGHT}, {TAGS_WEIGHT}, {FIELDS_WEIGHT}, {BODY_WEIGHT}) AS text_rank "
        f"FROM {FTS_TABLE} JOIN ({inner}) c ON c.id = {FTS_TABLE}.rowid "
        f"WHERE {FTS_TABLE} MATCH %s "
        "ORDER BY c.column_score DESC, text_rank DESC, c.name_length, c.name_key, c.kind_rank, c.object_id "
        "LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, match, limit])
        return cursor.fetchall()


def _ranked(row: Sequence[Any], tier: int, *, column_score: float = 0.0, rank: float = 0.0) -> _Ranked:
    document_id, kind, object_id, name_key, tags, fields, body = row
    return _Ranked(
        document_id, kind, object_id, name_key, tier, float(column_score or 0.0), float(rank or 0.0), tags, fields, body
    )


def search_catalog(query: str, *, kinds: set[str] | None = None, limit: int = 20) -> list[SearchHit]:
    """The best `limit` catalog objects for `query`, best first (see the module docstring for the ranking).

    `kinds` narrows the search to those kinds (KIND_LABELS' keys); unknown kinds are ignored. An empty
    query finds nothing.
    """
    # Control characters (a NUL would make PostgreSQL refuse the query) are separators, like spaces.
    needle = " ".join(_CONTROL.sub(" ", query).split()).lower()[:MAX_QUERY_LENGTH]
    wanted = [kind for kind in _DOCUMENT_KINDS if kinds is None or _SPECS[kind].shown_kind in kinds]
    if not needle or not wanted or limit <= 0:
        return []
    terms = query_terms(needle)
    documents = SearchDocument.objects.filter(kind__in=wanted)

    name_match = Q(name_key__contains=needle)
    if terms:
        name_match |= Q(*[Q(name_terms__contains=f" {term}") for term in terms])
    tier = Case(
        When(name_key=needle, then=Value(EXACT)),
        When(name_key__startswith=needle, then=Value(PREFIX)),
        When(name_key__contains=needle, then=Value(CONTAINS)),
        default=Value(NAME_WORDS),
        output_field=IntegerField(),
    )
    rows = (
        documents.filter(name_match)
        .annotate(tier=tier, name_length=Length("name_key"), kind_rank=_kind_rank())
        .order_by("-tier", "name_length", "name_key", "kind_rank", "object_id")
        .values_list(*_ROW, "tier")[:limit]
    )
    ranked = [_ranked(row[:-1], row[-1]) for row in rows]
    if terms and len(ranked) < limit:
        ranked += _text_matches(documents.exclude(name_match), terms, limit - len(ranked))
    return _hits(ranked, needle, terms)


def _score(item: _Ranked, needle: str, terms: list[str]) -> float:
    """tier * 10 plus a part below 10 that orders hits within their tier as the queries did."""
    if item.tier == TEXT:
        # The column score first (its steps are at least 0.2 / MAX_QUERY_TERMS * 9 = 0.225), then the
        # full-text rank, which adds less than 0.1 and so only orders hits of equal column score.
        rank = item.rank / (1.0 + item.rank) if item.rank > 0 else 0.0
        within = 9.0 * item.column_score / (NAME_WEIGHT * max(1, len(terms))) + 0.1 * rank
    else:
        # How much of the name the query covers: an exact name scores all of it, shorter names beat longer ones.
        within = 9.99 * min(1.0, len(needle) / max(1, len(item.name_key)))
    return round(item.tier * 10 + within, 4)


def _hits(ranked: list[_Ranked], needle: str, terms: list[str]) -> list[SearchHit]:
    """Load what the hits show (one query per kind) and build them; objects gone since indexing are skipped."""
    by_kind: dict[str, list[int]] = {}
    for item in ranked:
        by_kind.setdefault(item.kind, []).append(item.object_id)
    shown = {kind: {obj.pk: obj for obj in _SPECS[kind].shown().filter(pk__in=ids)} for kind, ids in by_kind.items()}
    hits = []
    for item in ranked:
        obj = shown[item.kind].get(item.object_id)
        if obj is None:
            continue
        title, subtitle, url = _SPECS[item.kind].display(obj)
        hits.append(
            SearchHit(
                kind=_SPECS[item.kind].shown_kind,
                object_id=item.object_id,
                title=title,
                subtitle=subtitle,
                url=url,
                score=_score(item, needle, terms),
                snippet=_snippet(item, terms),
            )
        )
    return hits


def _snippet(item: _Ranked, terms: list[str]) -> str:
    """Where the query shows up, as plain text: matching schema fields (people search field names to find
    events), else a window of the description around the first match, else matching tags, else the
    description's start."""

    def matches(text: str) -> bool:
        lowered = text.lower()
        return any(term in lowered for term in terms)

    fields = [path for path in item.fields.splitlines() if matches(path)]
    if fields:
        return "Fields: " + ", ".join(fields[:6]) + (" …" if len(fields) > 6 else "")
    body = item.body
    lowered = body.lower()
    positions = [p for p in (lowered.find(term) for term in terms) if p >= 0]
    if not positions:
        tags = [tag for tag in item.tags.splitlines() if matches(tag)]
        if tags:
            return "Tags: " + ", ".join(tags)
        return body[:SNIPPET_WIDTH] + ("…" if len(body) > SNIPPET_WIDTH else "")
    start = max(0, min(positions) - SNIPPET_WIDTH // 3)
    if start:
        # Start at a word boundary, so the snippet does not open with half a word.
        space = body.find(" ", start)
        start = space + 1 if 0 <= space < min(positions) else start
    end = start + SNIPPET_WIDTH
    return ("…" if start else "") + body[start:end] + ("…" if end < len(body) else "")


CATALOG_SEARCH_PROVIDER = SearchProvider(
    kinds=KIND_LABELS,
    search=lambda query, kinds, limit: search_catalog(query, kinds=kinds, limit=limit),
)
