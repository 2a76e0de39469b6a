"""Catalog writes, one module per area; import from the module (catalog.services.discovery, ...)."""
