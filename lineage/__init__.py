"""Lineage: producer/consumer edges, the graph and its algorithms, schema-change impact analysis."""
