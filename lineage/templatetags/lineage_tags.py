"""`{% lineage_mini obj %}`: the small lineage view (one hop up and down) on catalog topic, service and
event-type pages."""

from __future__ import annotations

from urllib.parse import urlencode

from django import template
from django.urls import reverse

from catalog.models import EventType, Service, Topic
from lineage.charts import mini_view
from lineage.selectors import build_neighbourhood, service_node_id, topic_node_id

register = template.Library()


def _node_id_of(obj) -> str | None:
    if isinstance(obj, Topic):
        return topic_node_id(obj)
    if isinstance(obj, Service):
        return service_node_id(obj)
    if isinstance(obj, EventType):
        return topic_node_id(obj.topic) if obj.topic_id else None
    raise TypeError(f"no lineage node for {type(obj).__name__}")


@register.inclusion_tag("lineage/_mini.html")
def lineage_mini(obj) -> dict:
    node_id = _node_id_of(obj)
    context = {"node_id": node_id, "view": None, "is_event_type": isinstance(obj, EventType)}
    if node_id is None:
        return context
    # A service working on several clusters neighbours same-named topics: each is drawn with its cluster.
    graph = build_neighbourhood(node_id, up=1, down=1).with_cluster_labels()
    if node_id in graph:
        context["view"] = mini_view(graph, node_id)
    context["lineage_url"] = reverse("lineage:index") + "?" + urlencode({"focus": node_id, "up": 2, "down": 2})
    return context
