"""HTML views of the schema registry: no business logic here."""

from django.shortcuts import render


def index(request):
    return render(request, "schemas/index.html")
