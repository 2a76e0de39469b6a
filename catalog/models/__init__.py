"""Catalog models: clusters and discovery runs, discovered topics and groups, the documented catalog."""

from .clusters import Cluster, DiscoveryRun
from .discovered import ConsumerGroup, Partition, Topic
from .entities import DeclaredRelation, Domain, EventType, Service, Tag, Team, TeamMembership
from .search import SearchDocument

__all__ = [
    "Cluster",
    "ConsumerGroup",
    "DeclaredRelation",
    "DiscoveryRun",
    "Domain",
    "EventType",
    "Partition",
    "SearchDocument",
    "Service",
    "Tag",
    "Team",
    "TeamMembership",
    "Topic",
]
