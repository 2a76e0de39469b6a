"""AsyncAPI pages: download the catalog's or a service's document, and upload one to import. No business logic here."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_http_methods

from catalog.asyncapi import AsyncAPIDocumentError, Problem, dump_document, load_document
from catalog.models import Service
from catalog.services.asyncapi import IMPORT_KINDS, asyncapi_export, asyncapi_import
from eventscope.roles import user_can_write

__all__ = ["asyncapi_import_page", "catalog_asyncapi_download", "service_asyncapi_download"]

CONTENT_TYPES = {"yaml": "application/yaml; charset=utf-8", "json": "application/json; charset=utf-8"}
MAX_UPLOAD_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _document_response(document: dict, *, filename: str, fmt: str) -> HttpResponse:
    fmt = fmt if fmt in CONTENT_TYPES else "yaml"
    response = HttpResponse(dump_document(document, format=fmt), content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}.asyncapi.{fmt}"'
    return response


@require_GET
def catalog_asyncapi_download(request: HttpRequest, fmt: str = "yaml") -> HttpResponse:
    """The whole catalog as an AsyncAPI 3.0.0 file."""
    return _document_response(asyncapi_export(), filename="eventscope-catalog", fmt=fmt)


@require_GET
def service_asyncapi_download(request: HttpRequest, slug: str, fmt: str = "yaml") -> HttpResponse:
    """One service's AsyncAPI 3.0.0 file."""
    service = get_object_or_404(Service, slug=slug)
    return _document_response(asyncapi_export(service=service), filename=service.slug, fmt=fmt)


class AsyncAPIUploadForm(forms.Form):
    document = forms.FileField(
        required=False, label="AsyncAPI file", help_text="An AsyncAPI 3.0.0 document, .yaml or .json."
    )
    text = forms.CharField(
        required=False,
        label="…or paste it",
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false", "class": "mono"}),
    )

    def clean(self):
        cleaned = super().clean()
        upload, text = cleaned.get("document"), (cleaned.get("text") or "").strip()
        if bool(upload) == bool(text):
            raise forms.ValidationError("Choose a file or paste a document (one of the two).")
        if upload is not None and upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
        return cleaned

    def document_text(self) -> tuple[bytes | str, str]:
        """The document's text and its format ("json" for a .json file, else YAML, which also reads JSON)."""
        upload = self.cleaned_data.get("document")
        if upload is not None:
            return upload.read(), "json" if upload.name.lower().endswith(".json") else "yaml"
        return self.cleaned_data["text"], "yaml"


@require_http_methods(["GET", "POST"])
def asyncapi_import_page(request: HttpRequest) -> HttpResponse:
    """Upload or paste an AsyncAPI document; show every problem with its path, or what the import changed."""
    problems: list[Problem] = []
    result = None
    status = 200
    if request.method == "POST":
        if not user_can_write(request.user):
            return render(request, "catalog/forbidden.html", status=403)
        form = AsyncAPIUploadForm(request.POST, request.FILES)
        if form.is_valid():
            text, fmt = form.document_text()
            try:
                result = asyncapi_import(document=load_document(text, format=fmt), source="asyncapi", user=request.user)
            except AsyncAPIDocumentError as exc:
                problems = list(exc.problems)
        if form.errors or problems:
            status = 400
        else:
            form = AsyncAPIUploadForm()
    else:
        form = AsyncAPIUploadForm()
    context = {
        "form": form,
        "problems": problems,
        "result": result,
        "result_rows": _result_rows(result) if result is not None else [],
    }
    return render(request, "catalog/asyncapi_import.html", context, status=status)


def _result_rows(result) -> list[tuple[str, int, int, int, int]]:
    counts = result.as_dict()
    return [
        (
            kind.replace("_", " "),
            counts["created"][kind],
            counts["updated"][kind],
            counts["unchanged"][kind],
            counts["deleted"][kind],
        )
        for kind in IMPORT_KINDS
    ]
