"""Schema registry: subjects, versions, compatibility checks, the Confluent-compatible API."""
