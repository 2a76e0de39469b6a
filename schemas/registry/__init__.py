"""The Confluent-compatible schema registry REST API, mounted at /registry/."""
