"""Pages of the governance app: your API tokens; schema policies; the audit log."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from catalog.models import Domain
from eventscope.listing import PAGE_SIZES, is_htmx_partial, page_size, paginate
from eventscope.roles import ADMIN, user_role

from . import services
from .filtersets import AuditEntryFilterSet
from .forms import ApiTokenForm, SchemaPolicyForm
from .models import ApiToken, AuditEntry
from .policies import RULE_DESCRIPTIONS


def login_always(view):
    """Needs a login even when anonymous read is on (EVENTSCOPE_ANONYMOUS_READ): private or personal pages."""
    view.login_required_always = True
    return view


# The clear text of a just-created token travels to the next page view in the session, once.
_NEW_TOKEN_KEY = "governance-new-token"  # noqa: S105 (a session key, not a secret)


@login_always
@never_cache
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        try:
            token, clear = services.token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                scope=form.cleaned_data["scope"],
                expires_at=timezone.now() + dt.timedelta(days=int(days)) if days else None,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            request.session[_NEW_TOKEN_KEY] = {"id": token.pk, "token": clear}
            return redirect("governance:tokens")
    new = request.session.pop(_NEW_TOKEN_KEY, None)
    context = {
        "form": form,
        "tokens": ApiToken.objects.filter(user=request.user),
        "new_token": new,
    }
    return render(request, "governance/tokens.html", context, status=400 if form.errors else 200)


@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    services.token_revoke(token)
    messages.success(request, f"Token “{token.name}” revoked: it no longer works.")
    return redirect("governance:tokens")


@never_cache
@require_http_methods(["GET", "POST"])
def policies(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    """Schema policies, global or of one domain; anyone reads, admins change them."""
    domain = get_object_or_404(Domain, slug=slug) if slug else None
    layers = services.schema_policy_layers(domain)
    own, below, effective = layers.own, layers.below, layers.effective
    can_change = user_role(request.user) == ADMIN
    if request.method == "POST" and not can_change:
        return render(request, "catalog/forbidden.html", status=403)
    form = SchemaPolicyForm(request.POST or None, effective=effective, below=below)
    if request.method == "POST" and form.is_valid():
        try:
            services.schema_policy_set(rules=form.cleaned_data["layer"], domain=domain, user=request.user)
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            messages.success(request, f"Schema policies of {domain or 'every domain'} saved.")
            return redirect(request.path)
    rows = [
        {
            "rule": rule,
            "description": RULE_DESCRIPTIONS[rule],
            "fields": [form[name] for name in names.values()],
            "overridden": domain is not None and own is not None and rule in own.rules,
        }
        for rule, names in form.rules
    ]
    context = {
        "form": form,
        "rows": rows,
        "domain": domain,
        "domains": Domain.objects.order_by("name"),
        "can_change": can_change,
        "own": own,
    }
    return render(request, "governance/policies.html", context, status=400 if form.errors else 200)


@login_always
@require_http_methods(["GET"])
def audit_log(request: HttpRequest) -> HttpResponse:
    """The audit log, newest first, filterable; read-only by design (no page changes entries)."""
    filterset = AuditEntryFilterSet(request.GET or None, queryset=AuditEntry.objects.all())
    entries = filterset.qs if filterset.is_valid() else AuditEntry.objects.none()
    page = paginate(request, entries)
    context = {
        "filterset": filterset,
        "filter_fields": [field for field in filterset.form if field.name != "object_id"],
        "is_filtered": any(request.GET.get(name) for name in filterset.form.fields),
        "page_obj": page,
        "rows": page.object_list,
        "per_page": page_size(request),
        "page_sizes": PAGE_SIZES,
    }
    template = "governance/_audit_table.html" if is_htmx_partial(request) else "governance/audit_log.html"
    return render(request, template, context, status=400 if filterset.errors else 200)


@login_always
@require_http_methods(["GET"])
def audit_entry(request: HttpRequest, pk: int) -> HttpResponse:
    entry = get_object_or_404(AuditEntry, pk=pk)
    before, after = entry.before or {}, entry.after or {}
    rows = [
        {"field": name, "before": before.get(name), "after": after.get(name), "changed": name in entry.changed}
        for name in dict.fromkeys([*before, *after])
    ]
    history = AuditEntry.objects.filter(object_type=entry.object_type, object_id=entry.object_id).exclude(pk=entry.pk)
    context = {"entry": entry, "rows": rows, "history": history[:20]}
    return render(request, "governance/audit_entry.html", context)
