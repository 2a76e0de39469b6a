"""Pages of the governance app: your API tokens."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from . import services
from .forms import ApiTokenForm
from .models import ApiToken

# The clear text of a just-created token travels to the next page view in the session, once.
_NEW_TOKEN_KEY = "governance-new-token"  # noqa: S105 (a session key, not a secret)


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
        "nav_section": "account",
    }
    return render(request, "governance/tokens.html", context, status=400 if form.errors else 200)


@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    services.token_revoke(token)
    messages.success(request, f"Token “{token.name}” revoked: it no longer works.")
    return redirect("governance:tokens")
