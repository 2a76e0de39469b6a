"""HTML views of lineage: no business logic here."""

from django.shortcuts import render


def index(request):
    return render(request, "lineage/index.html")
