"""Models of the monitoring app (they arrive with the monitoring issue)."""
