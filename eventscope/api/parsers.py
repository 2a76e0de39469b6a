"""Request body parsers of the REST API: DRF's, refusing NUL characters anywhere in the body.

No text Eventscope stores may hold NUL (PostgreSQL text cannot), and a view may look a name up
before its serializer validates it: refused here, such a body is a 400 in the API's error format,
naming the field as a validation error would, before any view code runs, on every database.
"""

from __future__ import annotations

from rest_framework import exceptions, parsers

NUL_MESSAGE = "Text in the request must not contain NUL (\\u0000) characters."


def _nul_at(value, path: str) -> str | None:
    """The dotted path of the first text holding NUL in `value` (a key counts as its entry's), else None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and "\x00" in key:
                return path or "body"
            if (found := _nul_at(item, inner)) is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if (found := _nul_at(item, f"{path}.{index}" if path else str(index))) is not None:
                return found
    return None


def refuse_nul(data, *, form: bool = False) -> None:
    found = _nul_at({key: data.getlist(key) for key in data} if form else data, "")
    if found is not None:
        raise exceptions.ValidationError({found.split(".")[0].replace("\x00", "\ufffd"): [NUL_MESSAGE]})


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
