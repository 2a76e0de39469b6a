"""Page URLs of catalog objects, in one place for templates, selectors, search hits and the API.

The models stay free of URL knowledge (no get_absolute_url): these functions are the one mapping from an
object to its page. Topics and consumer groups need their cluster: select_related("cluster") first.
"""

from __future__ import annotations

from urllib.parse import quote

from django.db import models
from django.urls import reverse

from .models import Cluster, ConsumerGroup, Domain, EventType, Service, Team, Topic

__all__ = ["catalog_url", "schema_subject_url"]


def catalog_url(obj: models.Model) -> str:
    """The detail page of a catalog object."""
    if isinstance(obj, Topic):
        return reverse("catalog:topic-detail", args=[obj.cluster.name, obj.name])
    if isinstance(obj, ConsumerGroup):
        return reverse("catalog:consumer-group-detail", args=[obj.cluster.name, obj.group_id])
    if isinstance(obj, EventType):
        return reverse("catalog:event-type-detail", args=[obj.slug])
    if isinstance(obj, Service):
        return reverse("catalog:service-detail", args=[obj.slug])
    if isinstance(obj, Team):
        return reverse("catalog:team-detail", args=[obj.slug])
    if isinstance(obj, Domain):
        return reverse("catalog:domain-detail", args=[obj.slug])
    if isinstance(obj, Cluster):
        return reverse("catalog:cluster-detail", args=[obj.name])
    raise TypeError(f"no catalog page for {type(obj).__name__}")


def schema_subject_url(subject: str) -> str:
    """The registry's page of a subject. The schemas app owns that page; its URL is the public contract
    /schemas/subjects/<subject>/ (not reversed by name, so the catalog does not depend on its URL conf)."""
    return f"/schemas/subjects/{quote(subject, safe='')}/"
