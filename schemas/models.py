"""Models of the schemas app (they arrive with the schemas issue)."""
