"""List-page plumbing shared by every app's HTML views: page sizes, pagination, HTMX partial detection."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest

__all__ = ["DEFAULT_PAGE_SIZE", "PAGE_SIZES", "is_htmx_partial", "page_size", "paginate"]

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50


def is_htmx_partial(request: HttpRequest) -> bool:
    """An HTMX request for a fragment; a history restore (back button, cache miss) wants the whole page."""
    return request.headers.get("HX-Request") == "true" and not request.headers.get("HX-History-Restore-Request")


def page_size(request: HttpRequest) -> int:
    try:
        size = int(request.GET.get("per_page", DEFAULT_PAGE_SIZE))
    except ValueError:
        return DEFAULT_PAGE_SIZE
    return size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE


def paginate(request: HttpRequest, queryset: QuerySet) -> Page:
    # get_page() turns a missing, non-numeric or out-of-range ?page= into the nearest real page, never a 404.
    return Paginator(queryset, page_size(request)).get_page(request.GET.get("page"))
