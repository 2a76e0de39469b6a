"""Catalog: clusters, discovered topics and consumer groups, domains, teams, services, event types."""
