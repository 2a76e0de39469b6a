"""JSON Schema documents: validation against their draft's meta-schema, references, canonical text, field paths.

A document is checked with the `jsonschema` validator of the draft its `$schema` names (draft 7 when
absent, as Confluent does). References (Confluent references: name -> schema text) are registered
in a `referencing` registry under their name, their `$id` and their name resolved against the main
document's `$id`, so `{"$ref": "address.json"}` and `{"$ref": "https://shop.example/address.json"}`
both find them. Every `$ref` must resolve; nothing is fetched over the network.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import jsonschema.exceptions
import jsonschema.protocols
import referencing.exceptions
import referencing.jsonschema
from jsonschema import validators
from jsonschema_specifications import REGISTRY as META_SCHEMAS
from referencing import Registry, Resource, Specification

from schemas.compatibility import ParsedSchema
from schemas.formats import FieldInfo, SchemaParseError, load_json

if TYPE_CHECKING:
    # `referencing` exports its resolver type only from its private module.
    from referencing._core import Resolver

__all__ = ["Subschema", "field_paths", "normalize", "parse_schema"]

DEFAULT_DRAFT = validators.Draft7Validator

_SUPPORTED_DRAFTS = (
    validators.Draft4Validator,
    validators.Draft6Validator,
    validators.Draft7Validator,
    validators.Draft201909Validator,
    validators.Draft202012Validator,
)


@dataclass(frozen=True)
class Subschema:
    """A (sub)schema together with what resolves the `$ref`s inside it (its base URI and registry)."""

    contents: Any
    resolver: Resolver
    specification: Specification

    def child(self, contents: Any) -> Subschema:
        """A subschema of this one; it gets a new base URI when it declares an `$id`."""
        resource = self.specification.create_resource(contents)
        return Subschema(contents, self.resolver.in_subresource(resource), self.specification)

    def resolve(self) -> Subschema:
        """Follow `$ref` until reaching a schema without one; keywords next to `$ref` are ignored.

        Ignoring them is the rule up to draft 7; later drafts apply them as well, which
        matters only for constraints written next to a `$ref`, rarely done.
        """
        current, seen = self, set[int]()
        while isinstance(current.contents, dict) and isinstance(current.contents.get("$ref"), str):
            if id(current.contents) in seen:
                raise SchemaParseError(f"the $ref {current.contents['$ref']!r} only refers back to itself")
            seen.add(id(current.contents))
            ref = current.contents["$ref"]
            try:
                resolved = current.resolver.lookup(ref)
            except referencing.exceptions.PointerToNowhere:
                raise SchemaParseError(f"the $ref {ref!r} points to nothing in its document") from None
            except referencing.exceptions.NoSuchResource:
                raise SchemaParseError(f"the $ref {ref!r} names no schema of this document or its references") from None
            except referencing.exceptions.Unresolvable as error:
                raise SchemaParseError(f"the $ref {ref!r} cannot be resolved: {error}") from None
            specification = current.specification
            if isinstance(resolved.contents, dict) and isinstance(resolved.contents.get("$schema"), str):
                specification = referencing.jsonschema.specification_with(
                    resolved.contents["$schema"], default=specification
                )
            current = Subschema(resolved.contents, resolved.resolver, specification)
        return current


def parse_schema(schema: ParsedSchema) -> Subschema:
    """The validated document's root; raise SchemaParseError when it or a reference is invalid or unresolvable."""
    contents = load_json(schema.text, "the schema")
    validator = _checked(contents, "the schema")
    specification = _specification_of(validator)
    root_resource = specification.create_resource(contents)
    base_uri = root_resource.id() or ""

    registry: Registry = META_SCHEMAS
    # (what, uri, resource, specification) of each reference, to check its own `$ref`s below.
    references: list[tuple[str, str, Resource, Specification]] = []
    for name, text in schema.references.items():
        what = f"reference {name!r}"
        reference = load_json(text, what)
        reference_specification = _specification_of(_checked(reference, what))
        resource = reference_specification.create_resource(reference)
        uri = resource.id() or urljoin(base_uri, name)
        registry = registry.with_resources((each, resource) for each in {name, urljoin(base_uri, name), uri})
        references.append((what, uri, resource, reference_specification))
    registry = registry.with_resource(base_uri, root_resource).crawl()

    root = Subschema(contents, registry.resolver(base_uri=base_uri), specification)
    _check_references(root, "the schema")
    for what, uri, resource, reference_specification in references:
        # A reference resolves its relative `$ref`s against its own URI, not the main document's.
        _check_references(Subschema(resource.contents, registry.resolver(base_uri=uri), reference_specification), what)
    return root


def normalize(schema: ParsedSchema) -> str:
    """Canonical JSON (sorted keys, no whitespace) of the validated document; descriptions kept."""
    return json.dumps(parse_schema(schema).contents, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def field_paths(schema: ParsedSchema) -> list[FieldInfo]:
    """The properties of the document, nested objects flattened ("customer.address.city").

    Properties from `allOf` branches count as the object's own; those from `oneOf`/`anyOf`
    branches are listed too (a catalog reader wants to find them), first declaration winning.
    """
    found: dict[str, FieldInfo] = {}
    for info in _properties(parse_schema(schema), prefix="", enclosing=()):
        found.setdefault(info.path, info)
    return list(found.values())


# ---------------------------------------------------------------------------------------------
# Validation


def _checked(contents: Any, what: str) -> type[jsonschema.protocols.Validator]:
    """The validator class of the document's draft, after checking the document against its meta-schema."""
    if not isinstance(contents, dict | bool):
        raise SchemaParseError(f"{what} must be a JSON object or a boolean, not {type(contents).__name__}")
    validator = _validator_for(contents, what)
    try:
        validator.check_schema(contents)
    except jsonschema.exceptions.SchemaError as error:
        draft = validator.__name__.removesuffix("Validator")
        raise SchemaParseError(
            f"{what} is not a valid JSON Schema ({draft}): {error.message} at {error.json_path}"
        ) from None
    return validator


def _specification_of(validator: type[jsonschema.protocols.Validator]) -> Specification:
    return referencing.jsonschema.specification_with(validator.META_SCHEMA["$schema"])


def _validator_for(contents: dict | bool, what: str) -> type[jsonschema.protocols.Validator]:
    if not isinstance(contents, dict) or "$schema" not in contents:
        return DEFAULT_DRAFT
    dialect = contents["$schema"]
    if isinstance(dialect, str):
        # Writers mix http and https and drop the trailing "#"; the draft is what they mean.
        for candidate in (dialect, dialect.replace("https://", "http://"), dialect.replace("http://", "https://")):
            validator = validators.validator_for({"$schema": candidate}, default=None)
            if validator in _SUPPORTED_DRAFTS:
                return validator
    supported = ", ".join(v.META_SCHEMA.get("$schema", "") for v in _SUPPORTED_DRAFTS)
    raise SchemaParseError(f"{what} names an unsupported $schema {json.dumps(dialect)}; supported: {supported}")


def _check_references(root: Subschema, what: str) -> None:
    """Resolve every `$ref` in the document, so a broken one is refused at registration, not later."""
    stack = [root]
    while stack:
        current = stack.pop()
        if isinstance(current.contents, dict) and "$ref" in current.contents:
            try:
                current.resolve()
            except SchemaParseError as error:
                raise SchemaParseError(f"{what}: {error}") from None
        resource = current.specification.create_resource(current.contents)
        stack.extend(current.child(sub.contents) for sub in resource.subresources())


# ---------------------------------------------------------------------------------------------
# Field paths


def _properties(node: Subschema, prefix: str, enclosing: tuple[int, ...]) -> Iterator[FieldInfo]:
    """Fields declared under `node`; `enclosing` holds the resolved schemas on the way, to stop recursion."""
    resolved = node.resolve()
    contents = resolved.contents
    if not isinstance(contents, dict) or id(contents) in enclosing:
        return
    enclosing = (*enclosing, id(contents))
    required = contents.get("required") if isinstance(contents.get("required"), list) else []
    for name, raw in (contents.get("properties") or {}).items():
        path = f"{prefix}.{name}" if prefix else name
        child = resolved.child(raw)
        target = child.resolve().contents
        described = raw if isinstance(raw, dict) and "description" in raw else target
        has_default = isinstance(target, dict) and "default" in target
        yield FieldInfo(
            path=path,
            type=_type_name(child),
            doc=described.get("description") if isinstance(described, dict) else None,
            required=name in required,
            has_default=has_default,
            default=target["default"] if has_default else None,
        )
        yield from _properties(child, path, enclosing)
    items = contents.get("items")
    if isinstance(items, dict):
        yield from _properties(resolved.child(items), f"{prefix}[]", enclosing)
    additional = contents.get("additionalProperties")
    if isinstance(additional, dict):
        yield from _properties(resolved.child(additional), f"{prefix}{{}}", enclosing)
    for keyword in ("allOf", "anyOf", "oneOf"):
        for branch in contents.get(keyword) or []:
            yield from _properties(resolved.child(branch), prefix, enclosing)


def _type_name(node: Subschema) -> str:
    """A short readable type: "string (date-time)", "integer | null", "array<Address>", "string enum"."""
    contents = node.contents
    if isinstance(contents, bool):
        return "any" if contents else "nothing"
    if isinstance(contents.get("$ref"), str):
        # The referenced definition's name says more than "object".
        return contents["$ref"].rstrip("/").rsplit("/", 1)[-1].removesuffix(".json") or "object"
    declared = contents.get("type")
    types = declared if isinstance(declared, list) else [declared] if isinstance(declared, str) else []
    names = []
    for each in types:
        if each == "array" and isinstance(contents.get("items"), dict | bool):
            names.append(f"array<{_type_name(node.child(contents['items']))}>")
        elif each == "string" and isinstance(contents.get("format"), str):
            names.append(f"string ({contents['format']})")
        else:
            names.append(each)
    for keyword, joiner in (("oneOf", " | "), ("anyOf", " | "), ("allOf", " & ")):
        if isinstance(contents.get(keyword), list) and not names:
            names.append(joiner.join(_type_name(node.child(branch)) for branch in contents[keyword]))
    name = " | ".join(names)
    if "const" in contents:
        return f"{name} const {json.dumps(contents['const'])}".strip()
    if "enum" in contents:
        return f"{name} enum".strip()
    return name or "any"
