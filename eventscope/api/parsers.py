"""Request body parsers of the REST API: DRF's, refusing NUL characters anywhere in the body.

No text Eventscope stores may hold NUL (PostgreSQL text cannot), and a view may look a name up
before its serializer validates it: refused here, such a body is a 400 in the API's error format
before any view code runs, on every database.
"""

from __future__ import annotations

from rest_framework import exceptions, parsers

NUL_MESSAGE = "Text in the request must not contain NUL (\\u0000) characters."


def _holds_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_nul(item) for item in value)
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if _holds_nul(data):
            raise exceptions.ParseError(NUL_MESSAGE)
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if any(_holds_nul(key) or _holds_nul(data.getlist(key)) for key in data):
            raise exceptions.ParseError(NUL_MESSAGE)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        if any(_holds_nul(key) or _holds_nul(parsed.data.getlist(key)) for key in parsed.data):
            raise exceptions.ParseError(NUL_MESSAGE)
        return parsed
