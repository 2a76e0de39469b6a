"""Models of the simulator app (they arrive with the simulator issue)."""
