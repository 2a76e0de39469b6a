"""HTML views of external registries: list, detail, create and edit (admins), sync now and delete.

Thin: validate input, call one selector or service, render. The mirrored subjects themselves are shown by
the registry's own subject pages (schemas.views), read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from catalog.forms import add_service_errors
from eventscope.roles import ADMIN, user_can_write, user_role
from schemas.models_external import ExternalRegistry, MirroredSubject

from . import selectors, services
from .forms import ExternalRegistryForm


def _forbidden(request: HttpRequest, reason: str) -> HttpResponse:
    return render(request, "catalog/forbidden.html", {"reason": reason}, status=403)


def _writes_need_admin(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """GET for anyone logged in (the form is shown, disabled); POST only for admins."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST" and user_role(request.user) != ADMIN:
            return _forbidden(request, "Connecting external registries needs the admin role.")
        return view(request, *args, **kwargs)

    return require_http_methods(["GET", "POST"])(wrapper)


def _registry(name: str) -> ExternalRegistry:
    found = selectors.external_registry_list().filter(name=name).first()
    if found is None:
        raise Http404(f"No external registry {name!r}")
    return found


def _detail_url(registry: ExternalRegistry) -> str:
    return reverse("schemas:external-registry", args=[registry.name])


def registry_list(request: HttpRequest) -> HttpResponse:
    return render(request, "schemas/external/list.html", {"registries": list(selectors.external_registry_list())})


def registry_detail(request: HttpRequest, name: str) -> HttpResponse:
    registry = _registry(name)
    subjects = list(
        MirroredSubject.objects.filter(registry=registry).annotate(**_subject_annotations()).order_by("name")[:500]
    )
    context = {"registry": registry, "subjects": subjects, "is_admin": user_role(request.user) == ADMIN}
    return render(request, "schemas/external/detail.html", context)


def _subject_annotations() -> dict[str, Any]:
    from django.db.models import Count, Max

    return {"latest_version": Max("versions__version"), "version_count": Count("versions")}


def _form_page(request: HttpRequest, *, registry: ExternalRegistry | None) -> HttpResponse:
    editing = registry is not None
    if request.method == "POST":
        form = ExternalRegistryForm(request.POST, editing=editing)
        if form.is_valid():
            try:
                if registry is None:
                    values = form.values()
                    if values["secret"] == "":
                        values["secret"] = None
                    saved = services.external_registry_create(**values)
                else:
                    saved = services.external_registry_update(registry=registry, **form.values())
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, f"External registry {saved.name} saved. Use “Sync now” to mirror it.")
                return redirect(_detail_url(saved))
    else:
        initial: dict[str, Any] = {"topic": "_schemas", "sync_interval_s": 300, "sync_enabled": True}
        if registry is not None:
            initial = {
                field: getattr(registry, field)
                for field in (
                    "name",
                    "description",
                    "source_kind",
                    "url",
                    "auth_kind",
                    "username",
                    "ca_pem",
                    "topic",
                    "mode",
                    "sync_enabled",
                    "sync_interval_s",
                )
            }
            initial["cluster"] = registry.cluster.name if registry.cluster_id else None
        form = ExternalRegistryForm(initial=initial, editing=editing)
    context = {
        "form": form,
        "registry": registry,
        "title": f"Edit {registry.name}" if registry else "Connect an existing registry",
        "cancel_url": _detail_url(registry) if registry else reverse("schemas:external-registries"),
        "is_admin": user_role(request.user) == ADMIN,
    }
    return render(request, "schemas/external/form.html", context, status=400 if form.errors else 200)


@_writes_need_admin
def registry_create(request: HttpRequest) -> HttpResponse:
    return _form_page(request, registry=None)


@_writes_need_admin
def registry_edit(request: HttpRequest, name: str) -> HttpResponse:
    return _form_page(request, registry=_registry(name))


@require_POST
def registry_delete(request: HttpRequest, name: str) -> HttpResponse:
    if user_role(request.user) != ADMIN:
        return _forbidden(request, "Removing an external registry needs the admin role.")
    registry = _registry(name)
    services.external_registry_delete(registry=registry)
    messages.success(request, f"External registry {name} and its mirror removed.")
    return redirect("schemas:external-registries")


@require_POST
def registry_sync(request: HttpRequest, name: str) -> HttpResponse:
    if not user_can_write(request.user):
        return _forbidden(request, "Syncing needs the editor or admin role.")
    registry = _registry(name)
    try:
        services.external_registry_sync_request(registry=registry)
    except services.SyncQueueUnavailableError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Sync of {registry.name} requested: a worker mirrors it shortly.")
    return redirect(_detail_url(registry))
