"""Existing schema registries beside our own: their contents as plain data, and the sources that read them.

`snapshot` is the shared vocabulary: a source (the REST client of a Confluent-compatible registry, or
the reader of a registry's `_schemas` storage topic) produces a RegistrySnapshot; the mirror and the
import both consume one.
"""
