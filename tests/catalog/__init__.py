"""Tests of the catalog app: clusters, discovery and its pure core."""
