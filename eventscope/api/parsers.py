"""Request body parsers of the REST API: DRF's, refusing NUL characters anywhere in the body.

No text Eventscope stores may hold NUL (PostgreSQL text cannot), and a view may look a name up
before its serializer validates it: refused here, such a body is a 400 in the API's error format,
naming the field as a validation error would, before any view code runs, on every database.
"""

from __future__ import annotations

from django.db import DataError
from rest_framework import exceptions, parsers

NUL_MESSAGE = "Text in the request must not contain NUL (\\u0000) characters."


def holds_nul(value) -> bool:
    """Whether any text in a parsed body (strings, keys, nested lists and objects) holds NUL."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(holds_nul(key) or holds_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(holds_nul(item) for item in value)
    return False


def is_nul_refusal(exc: BaseException) -> bool:
    """Whether a database error is PostgreSQL refusing a NUL in a query parameter (the input's fault)."""
    return isinstance(exc, DataError) and "NUL" in str(exc)


def _nul_field(data) -> str | None:
    """The first top-level field whose text holds NUL ("body" for a key holding one, an index in a list)."""
    if isinstance(data, dict):
        for key, item in data.items():
            if holds_nul(key):
                return "body"
            if holds_nul(item):
                return key
        return None
    if isinstance(data, list):
        return next((str(index) for index, item in enumerate(data) if holds_nul(item)), None)
    return "body" if holds_nul(data) else None


def refuse_nul(data, *, form: bool = False) -> None:
    """A 400 naming the field whose text holds NUL, as a serializer's validation error would."""
    found = _nul_field({key: data.getlist(key) for key in data} if form else data)
    if found is not None:
        raise exceptions.ValidationError({found: [NUL_MESSAGE]})


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        refuse_nul(data)
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        refuse_nul(data, form=True)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        refuse_nul(parsed.data, form=True)
        return parsed
