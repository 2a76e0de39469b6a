"""REST API of external registries: /api/v1/external-registries/."""
