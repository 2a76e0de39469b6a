"""Models of the lineage app (they arrive with the lineage issue)."""
