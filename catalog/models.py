"""Models of the catalog app (they arrive with the catalog issue)."""
