"""HTML views of the catalog: no business logic here."""

from django.shortcuts import render


def index(request):
    return render(request, "catalog/index.html")
