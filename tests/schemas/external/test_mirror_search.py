"""The global search finds subjects mirrored from an existing registry: on the search page, in the instant
suggestions and under the "Schema subjects" kind, labelled with their registry and linking to the mirror's
subject page. The index follows the mirror (a sync that adds, changes or deletes a subject), removing the
registry, and `search_reindex`. Subject names are someone else's text: always escaped."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.core.management import call_command

import catalog.signals  # noqa: F401 - CatalogConfig.ready() imports it too; the index must follow writes here
from catalog.models import SearchDocument
from catalog.search import search_catalog
from schemas import services as own_registry
from schemas.external.mirror import external_registry_sync
from schemas.external.services import external_registry_delete
from schemas.models_external import MirroredSubject
from tests.schemas.external.helpers import avro, connect

pytestmark = pytest.mark.django_db

MIRRORED = SearchDocument.Kind.MIRRORED_SUBJECT


@pytest.fixture
def mirror(second_registry, unique_name):
    """An existing registry with one subject (two versions), connected and synced."""
    client = second_registry.client()
    subject = f"{unique_name}.parcels-value"
    client.register_schema(subject, avro("Parcel", "parcel_id"))
    client.register_schema(subject, avro("Parcel", "parcel_id", "weight_grams"))
    registry = connect(second_registry)
    assert external_registry_sync(registry_id=registry.pk).ok
    return {"registry": registry, "subject": subject, "client": client, "token": short_token(unique_name)}


def short_token(unique_name: str) -> str:
    """The unique name's last word: a query has at most eight words, and unique names are long."""
    return unique_name.rsplit("-", 1)[-1]


def mirror_link(subject: str, registry: str = "confluent-prod") -> str:
    return f"/schemas/subjects/{quote(subject, safe='')}/?registry={registry}"


def test_a_synced_subject_is_found_as_a_schema_subject_of_its_registry(mirror, viewer):
    subject = mirror["subject"]
    hits = [hit for hit in search_catalog(subject) if hit.title == subject]
    assert len(hits) == 1
    hit = hits[0]
    assert hit.kind == "subject"
    assert "mirrored from registry confluent-prod" in hit.subtitle and "latest v2" in hit.subtitle
    assert hit.url == mirror_link(subject)

    response = viewer.get("/search/", {"q": subject})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="search-group-subject"' in html
    assert f'href="{mirror_link(subject).replace("&", "&amp;")}"' in html
    assert "mirrored from registry confluent-prod" in html
    # The link opens the mirror's page, which names where it comes from.
    page = viewer.get(hit.url)
    assert page.status_code == 200 and "Mirrored from" in page.content.decode()
    # "Only schema subjects" keeps it; another kind does not.
    only = viewer.get("/search/", {"q": subject, "kind": "subject"}).context["results"]
    assert [h.title for h in only] == [subject]
    assert viewer.get("/search/", {"q": subject, "kind": "topic"}).context["results"] == []


def test_instant_suggestions_offer_the_mirrored_subject(mirror, viewer):
    response = viewer.get("/search/suggest/", {"q": mirror["token"]}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="{mirror_link(mirror["subject"]).replace("&", "&amp;")}"' in html
    assert '<span class="suggestion-kind">subject</span>' in html
    assert "mirrored from registry confluent-prod" in html


def test_the_fields_of_the_latest_mirrored_version_find_the_subject(mirror):
    hits = search_catalog(f"{mirror['token']} weight grams")
    assert [hit.title for hit in hits] == [mirror["subject"]]
    assert hits[0].snippet == "Fields: weight_grams"
    assert not search_catalog(f"{mirror['token']} volume")


def test_a_name_in_our_registry_and_in_the_mirror_gives_two_hits_to_two_pages(mirror, viewer):
    subject = mirror["subject"]
    own_registry.subject_register_version(subject=subject, schema_text=avro("Parcel", "parcel_id").schema_str)
    hits = [hit for hit in search_catalog(subject) if hit.title == subject]
    assert sorted(hit.url for hit in hits) == sorted(
        [f"/schemas/subjects/{quote(subject, safe='')}/", mirror_link(subject)]
    )
    ours = next(hit for hit in hits if "mirrored" not in hit.subtitle)
    assert hits.index(ours) == 0  # ours first at an equal score: the kind order puts the mirror after it
    assert "Mirrored from" not in viewer.get(ours.url).content.decode()


def test_the_index_follows_the_mirror_sync_by_sync(mirror, second_registry, unique_name):
    client, registry = mirror["client"], mirror["registry"]
    added = f"{unique_name}.returns-value"
    assert not [hit for hit in search_catalog(added) if hit.title == added]

    # A new subject in the existing registry: the next sync indexes it.
    client.register_schema(added, avro("ParcelReturned", "return_id"))
    assert external_registry_sync(registry_id=registry.pk).ok
    assert [hit.title for hit in search_catalog(added) if hit.title == added] == [added]

    # A new version with a new field: its fields are searchable after the sync.
    token = short_token(unique_name)
    assert not search_catalog(f"{token} refund cents")
    client.register_schema(added, avro("ParcelReturned", "return_id", "refund_cents"))
    assert external_registry_sync(registry_id=registry.pk).ok
    assert [hit.title for hit in search_catalog(f"{token} refund cents")] == [added]

    # A sync without changes leaves every document as it was.
    before = dict(SearchDocument.objects.filter(kind=MIRRORED).values_list("object_id", "updated_at"))
    assert external_registry_sync(registry_id=registry.pk).counts.total == 0
    assert dict(SearchDocument.objects.filter(kind=MIRRORED).values_list("object_id", "updated_at")) == before

    # Deleted in the existing registry (soft, then permanently): the next sync takes it out of the results.
    client.delete_subject(added)
    assert external_registry_sync(registry_id=registry.pk).ok
    assert not [hit for hit in search_catalog(added) if hit.title == added]
    assert not MirroredSubject.objects.filter(name=added).exists()
    client.delete_subject(added, permanent=True)
    # The other subject is still found.
    assert [hit.title for hit in search_catalog(mirror["subject"])] == [mirror["subject"]]


def test_reindex_rebuilds_mirrored_subjects_and_removing_the_registry_drops_them(mirror, capsys):
    subject = mirror["subject"]
    SearchDocument.objects.filter(kind=MIRRORED).delete()
    assert not search_catalog(subject)

    call_command("search_reindex")
    assert [hit.title for hit in search_catalog(subject)] == [subject]
    assert "mirrored subject" in capsys.readouterr().out

    external_registry_delete(registry=mirror["registry"])
    assert not SearchDocument.objects.filter(kind=MIRRORED).exists()
    assert not search_catalog(subject)


def test_mirrored_subject_names_are_escaped_everywhere(second_registry, unique_name, viewer):
    hostile = f'{unique_name}.<img src=x onerror=alert(1)>"&-value'
    second_registry.client().register_schema(hostile, avro("Hostile", "id"))
    registry = connect(second_registry, name="their-registry")
    assert external_registry_sync(registry_id=registry.pk).ok
    hit = next(hit for hit in search_catalog(unique_name) if hit.title == hostile)
    assert hit.url == f"/schemas/subjects/{quote(hostile, safe='')}/?registry=their-registry"

    for path in ("/search/", "/search/suggest/"):
        # The short token as the query: its <mark> tags then do not break up the escaped name.
        html = viewer.get(path, {"q": short_token(unique_name)}).content.decode()
        assert "<img src=x" not in html
        assert "&lt;img src=x onerror=alert(1)&gt;&quot;&amp;-value" in html
        assert quote(hostile, safe="") in html  # the link is the quoted name, nothing of it raw in the attribute
    assert viewer.get(hit.url).status_code == 200
