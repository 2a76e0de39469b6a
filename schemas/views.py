"""HTML views of the schema registry: validate input, call one selector or service, render. No business logic here.

Reads come from `schemas.selectors` and `schemas.page_selectors`; the one write (register a version) is
`services.subject_register_version`, the same call the REST API makes. The list shares the catalog's list
plumbing (page sizes, HTMX fragments).
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST

from eventscope.listing import PAGE_SIZES, is_htmx_partial, paginate
from governance import ownership

from . import diff, formats, page_selectors, services
from .errors import IncompatibleSchemaError, RegistryError, SubjectNotFoundError
from .external import selectors as mirror_selectors
from .forms import SubjectFilterForm, TryVersionForm, ValidateMessageForm

MIRRORED_ROWS_SHOWN = 200


# ---------------------------------------------------------------------------------------------
# Shared plumbing
# ---------------------------------------------------------------------------------------------
def _subject_or_404(request: HttpRequest, subject: str) -> page_selectors.SubjectPage:
    """Our subject, or a mirrored one (?registry=<name> picks the external registry when both have it)."""
    registry = request.GET.get("registry", "").strip()[:100] or None
    try:
        return page_selectors.subject_page(subject, registry=registry)
    except SubjectNotFoundError:
        raise Http404(f"Subject {subject!r} not found") from None


def _version_number(request: HttpRequest, name: str) -> int | None:
    """?version=N (or from=/to=) as an int; absent or empty is None; anything else is a 404."""
    raw = request.GET.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise Http404(f"No version {raw!r}") from None


def _row_or_404(page: page_selectors.SubjectPage, number: int | None) -> page_selectors.VersionRow:
    row = page.version(number)
    if row is None:
        raise Http404(f"Subject {page.name!r} has no version {number}")
    return row


def _forbidden(request: HttpRequest, subject: str) -> HttpResponse:
    return render(request, "schemas/forbidden.html", {"subject": subject}, status=403)


# ---------------------------------------------------------------------------------------------
# Subjects list
# ---------------------------------------------------------------------------------------------
def index(request: HttpRequest) -> HttpResponse:
    form = SubjectFilterForm(request.GET)
    ordering = request.GET.get("ordering", "")
    if ordering.lstrip("-") not in page_selectors.SUBJECT_ORDERINGS:
        ordering = ""  # by name; an unknown order is ignored like an unknown filter
    filters = form.filters()
    page = paginate(request, page_selectors.subject_list(**filters, ordering=ordering or "name"))
    context = {
        "filter_form": form,
        "page_obj": page,
        "rows": list(page.object_list),
        "ordering": [ordering] if ordering else [],
        "per_page": page.paginator.per_page,
        "page_sizes": PAGE_SIZES,
        "is_filtered": any(value for key, value in request.GET.items() if key not in ("page", "per_page", "ordering")),
    }
    # Subjects mirrored from external registries, read-only, in their own table below ours (same filters).
    context["mirrored_rows"] = list(mirror_selectors.mirrored_subject_list(**filters)[:MIRRORED_ROWS_SHOWN])
    context["mirrored_rows_shown"] = MIRRORED_ROWS_SHOWN
    template = "schemas/_subjects_table.html" if is_htmx_partial(request) else "schemas/index.html"
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


# ---------------------------------------------------------------------------------------------
# Subject page and diff
# ---------------------------------------------------------------------------------------------
def subject_detail(request: HttpRequest, subject: str) -> HttpResponse:
    page = _subject_or_404(request, subject)
    row = _row_or_404(page, _version_number(request, "version"))
    context = {
        "subject": page,
        "selected": row,
        "schema": page_selectors.version_schema(subject, row, page=page),
    }
    return render(request, "schemas/subject_detail.html", context)


def subject_diff(request: HttpRequest, subject: str) -> HttpResponse:
    page = _subject_or_404(request, subject)
    to_row = _row_or_404(page, _version_number(request, "to"))
    from_number = _version_number(request, "from")
    if from_number is None:
        earlier = [row for row in page.versions if row.version < to_row.version]
        from_row = earlier[-1] if earlier else to_row
    else:
        from_row = _row_or_404(page, from_number)
    old = page.parsed(from_row.schema_id)
    new = page.parsed(to_row.schema_id)
    context = {
        "subject": page,
        "from_row": from_row,
        "to_row": to_row,
        "changes": diff.schema_diff(old, new),
        "text_diff": diff.unified_text_diff(
            page_selectors.normalized_pretty_text(old),
            page_selectors.normalized_pretty_text(new),
            old_label=f"{subject} v{from_row.version}",
            new_label=f"{subject} v{to_row.version}",
        ),
    }
    return render(request, "schemas/subject_diff.html", context)


# ---------------------------------------------------------------------------------------------
# Try a new version, register it
# ---------------------------------------------------------------------------------------------
def _check_context(page: page_selectors.SubjectPage, form: TryVersionForm) -> dict:
    """The verdict, the diff against the latest version and the affected consumers for a valid form (nothing stored)."""
    context = {"subject": page, "form": form}
    if form.is_bound and form.is_valid() and form.prepared is not None:
        # Imported here: lineage builds on the registry, so the registry's module does not load it at import.
        from lineage.impact import ImpactInputError, ImpactNotFoundError, analyze_impact

        try:
            impact = analyze_impact(
                subject=page.name,
                schema_text=form.cleaned_data["schema"],
                schema_type=form.cleaned_data["schema_type"],
                references=form.cleaned_data["references"],
                external_registry=page.mirror.name if page.mirror is not None else None,
            )
        except (ImpactInputError, ImpactNotFoundError) as exc:
            context["impact_error"] = exc.message
            context["verdict"] = page_selectors.compatibility_verdict(page.name, form.prepared, mirror=page.mirror)
        else:
            context["impact"] = impact
            context["impact_markdown"] = impact.to_markdown()
            # The analysis asked the registry already: a mirrored subject's external registry hears it once.
            context["verdict"] = impact.verdict
        latest = page.latest
        if latest is not None:
            context["latest"] = latest
            try:
                context["changes"] = diff.schema_diff(page.parsed(latest.schema_id), form.prepared.parsed)
            except formats.SchemaParseError as exc:
                context["diff_error"] = str(exc)
    return context


@require_http_methods(["GET", "POST"])
def subject_check(request: HttpRequest, subject: str) -> HttpResponse:
    page = _subject_or_404(request, subject)
    if request.method == "POST":
        form = TryVersionForm(request.POST, mirror=page.mirror)
    else:
        latest = page.record(page.latest.schema_id)
        references = [reference.as_dict() for reference in latest.references]
        form = TryVersionForm(
            initial={
                "schema_type": latest.schema_type,
                "schema": diff.pretty_text(latest.schema_type, latest.text),
                "references": json.dumps(references, indent=2) if references else "",
            },
            mirror=page.mirror,
        )
    context = _check_context(page, form)
    return render(request, "schemas/subject_check.html", context, status=400 if form.errors else 200)


@require_POST
def subject_register(request: HttpRequest, subject: str) -> HttpResponse:
    if not ownership.can_change(request, subject):  # the subject's team (through its event type or topic)
        return _forbidden(request, subject)
    page = _subject_or_404(request, subject)
    if page.read_only:
        # A mirrored subject is registered in its own registry; the mirror follows at the next sync.
        form = TryVersionForm(request.POST, mirror=page.mirror)
        form.is_valid()
        form.add_error(None, f"Not registered: {subject} is mirrored from {page.mirror.source} (read-only here).")
        return render(request, "schemas/subject_check.html", _check_context(page, form), status=400)
    form = TryVersionForm(request.POST)
    if form.is_valid():
        try:
            registration = services.subject_register_version(
                subject=subject,
                schema_text=form.cleaned_data["schema"],
                schema_type=form.cleaned_data["schema_type"],
                references=form.cleaned_data["references"],
            )
        except IncompatibleSchemaError as exc:
            form.add_error(None, f"Not registered: the schema breaks {exc.level} compatibility.")
            for message in exc.messages:
                form.add_error(None, message)
        except RegistryError as exc:
            form.add_error(None, f"Not registered: {exc.message}")
        else:
            if registration.created:
                messages.success(
                    request, f"Registered version {registration.version} (schema id {registration.schema_id})."
                )
            else:
                messages.info(request, f"Already registered as version {registration.version}; nothing changed.")
            url = reverse("schemas:subject", args=[subject])
            return redirect(f"{url}?version={registration.version}")
    context = _check_context(page, form)
    return render(request, "schemas/subject_check.html", context, status=400)


# ---------------------------------------------------------------------------------------------
# Validate a sample message
# ---------------------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
def subject_validate(request: HttpRequest, subject: str) -> HttpResponse:
    page = _subject_or_404(request, subject)
    choices = page_selectors.versions_for_choices(page.versions)
    context: dict = {"subject": page}
    if request.method == "POST":
        form = ValidateMessageForm(request.POST, version_choices=choices)
        _without_unused_fields(form, page)
        if form.is_valid():
            row = _row_or_404(page, form.cleaned_data["version"])
            parsed = page.parsed(row.schema_id)
            context["checked_row"] = row
            context["errors"] = page_selectors.message_errors(
                parsed, form.cleaned_data["message"], message_type=form.cleaned_data.get("message_type", "").strip()
            )
    else:
        selected = page.version(_version_number(request, "version")) or page.latest
        form = ValidateMessageForm(initial={"version": selected.version}, version_choices=choices)
        _without_unused_fields(form, page)
    context["form"] = form
    return render(request, "schemas/subject_validate.html", context, status=400 if form.errors else 200)


def _without_unused_fields(form: ValidateMessageForm, page: page_selectors.SubjectPage) -> None:
    # The message type only means something for Protobuf; other subjects do not show the field.
    if not any(row.schema_type == "PROTOBUF" for row in page.versions):
        del form.fields["message_type"]
