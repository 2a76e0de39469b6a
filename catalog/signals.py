"""Signal receivers that keep the search index in step with catalog and registry writes.

Imported once from CatalogConfig.ready(). The services, the admin and the registry save through the
ORM, so post_save / post_delete / m2m_changed see every write except bulk_create, bulk_update and
QuerySet.update(), which send no signals: code that writes that way (discovery) calls
catalog.search.search_index_bulk_update(kind, ids) itself.

Receivers run inside the writer's transaction, so a rolled-back write leaves the index as it was.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete

from schemas.models import Subject, SubjectVersion

from . import search
from .models import ConsumerGroup, Domain, EventType, Service, Tag, Team, Topic

_KINDS: dict[type[Model], str] = {
    Topic: search.Kind.TOPIC,
    EventType: search.Kind.EVENT_TYPE,
    Service: search.Kind.SERVICE,
    Team: search.Kind.TEAM,
    Domain: search.Kind.DOMAIN,
    ConsumerGroup: search.Kind.CONSUMER_GROUP,
    Subject: search.Kind.SUBJECT,
}
# Models with tags, and the name of their reverse accessor on Tag.
_TAGGED: dict[type[Model], str] = {Topic: "topics", EventType: "event_types", Service: "services"}


def _object_saved(sender: type[Model], instance: Model, raw: bool = False, update_fields=None, **kwargs: Any) -> None:
    if raw:  # loaddata: the rows may refer to others not loaded yet; `search_reindex` afterwards
        return
    kind = _KINDS[sender]
    if update_fields is not None and not set(update_fields) & search.watched_fields(kind):
        return
    search.search_index_update(instance)


def _object_deleted(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    search.search_index_remove(_KINDS[sender], instance.pk)


def _tags_changed(
    sender: type[Model], instance: Model, action: str, reverse: bool, model: type[Model], pk_set, **kwargs: Any
) -> None:
    if not reverse:  # topic.tags.add(...): `instance` is the tagged object
        if action in ("post_add", "post_remove", "post_clear"):
            search.search_index_update(instance)
        return
    # tag.topics.add(...): `instance` is the tag, `pk_set` the tagged objects (None on clear: remember them first)
    if action == "pre_clear":
        instance._search_cleared_ids = list(getattr(instance, _TAGGED[model]).values_list("pk", flat=True))
    elif action in ("post_add", "post_remove"):
        search.search_index_bulk_update(_KINDS[model], pk_set or ())
    elif action == "post_clear":
        search.search_index_bulk_update(_KINDS[model], getattr(instance, "_search_cleared_ids", ()))


def _tagged_ids(tag: Tag) -> dict[str, list[int]]:
    return {
        _KINDS[model]: list(getattr(tag, accessor).values_list("pk", flat=True)) for model, accessor in _TAGGED.items()
    }


def _tag_saved(sender: type[Model], instance: Tag, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if raw or created:  # a new tag is on nothing yet
        return
    for kind, ids in _tagged_ids(instance).items():
        search.search_index_bulk_update(kind, ids)


def _tag_deleting(sender: type[Model], instance: Tag, **kwargs: Any) -> None:
    # The tag's m2m rows go without m2m_changed: remember who wore it, re-index them once it is gone.
    instance._search_tagged_ids = _tagged_ids(instance)


def _tag_deleted(sender: type[Model], instance: Tag, **kwargs: Any) -> None:
    for kind, ids in getattr(instance, "_search_tagged_ids", {}).items():
        search.search_index_bulk_update(kind, ids)


def _subject_version_changed(sender: type[Model], instance: SubjectVersion, raw: bool = False, **kwargs: Any) -> None:
    """A registered, soft-deleted or removed version changes the subject's fields and those of its event types."""
    if not raw:
        search.search_index_subject_changed(instance.subject_id)


def _connect() -> None:
    for model in _KINDS:
        uid = f"catalog.search.{model._meta.label_lower}"
        post_save.connect(_object_saved, sender=model, dispatch_uid=f"{uid}.saved")
        post_delete.connect(_object_deleted, sender=model, dispatch_uid=f"{uid}.deleted")
    for model in _TAGGED:
        m2m_changed.connect(
            _tags_changed, sender=model.tags.through, dispatch_uid=f"catalog.search.{model._meta.label_lower}.tags"
        )
    post_save.connect(_tag_saved, sender=Tag, dispatch_uid="catalog.search.tag.saved")
    pre_delete.connect(_tag_deleting, sender=Tag, dispatch_uid="catalog.search.tag.deleting")
    post_delete.connect(_tag_deleted, sender=Tag, dispatch_uid="catalog.search.tag.deleted")
    for signal, suffix in ((post_save, "saved"), (post_delete, "deleted")):
        signal.connect(
            _subject_version_changed, sender=SubjectVersion, dispatch_uid=f"catalog.search.subjectversion.{suffix}"
        )


_connect()
