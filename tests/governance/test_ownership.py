"""The ownership rules on their own: who may change or delete what, for every kind of owned object."""

from __future__ import annotations

import pytest

from catalog.models import DeclaredRelation, TeamMembership
from catalog.services import documentation
from governance.ownership import DELETE, OwnershipDenied, can_change, check_change, owner_team_of
from governance.services import token_create
from tests.factories import make_cluster, make_group, make_topic

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(make_user):
    payments = documentation.team_create(name="Payments", contact_channel="#payments")
    orders = documentation.team_create(name="Orders")
    users = {
        "admin": make_user("root", "admin"),
        "editor": make_user("erin", "editor"),  # global editor, no team
        "payments_editor": make_user("paula", "viewer"),  # team editor of Payments, global viewer
        "payments_member": make_user("mia", "editor"),  # plain member of Payments, global editor
        "viewer": make_user("vera", "viewer"),
    }
    TeamMembership.objects.create(team=payments, user=users["payments_editor"], role="editor")
    TeamMembership.objects.create(team=payments, user=users["payments_member"], role="member")
    cluster = make_cluster()
    owned = documentation.service_create(name="payments", owner_team=payments)
    unowned = documentation.service_create(name="legacy")
    topic = make_topic(cluster, "pay.completed", owner_team=payments)
    event = documentation.event_type_create(
        name="PaymentCompleted", owner_team=payments, topic=topic, schema_subject="pay.completed-value"
    )
    group = make_group(cluster, "payments-app", service=owned)
    relation = DeclaredRelation.objects.create(service=owned, direction="produces", topic=topic)
    return {
        "users": users,
        "payments": payments,
        "orders": orders,
        "owned": [owned, topic, event, group, relation, payments, "pay.completed-value"],
        "unowned": [unowned, "nobody.owns-value"],
    }


def test_owner_team_of_every_kind(shop):
    assert {owner_team_of(obj) for obj in shop["owned"]} == {shop["payments"]}
    assert {owner_team_of(obj) for obj in shop["unowned"]} == {None}


@pytest.mark.parametrize(
    ("who", "owned", "unowned", "delete", "global_"),
    [
        ("admin", True, True, True, True),
        ("editor", False, True, False, False),
        ("payments_editor", True, False, False, False),
        ("payments_member", False, True, False, False),
        ("viewer", False, False, False, False),
    ],
)
def test_who_may_change_what(shop, who, owned, unowned, delete, global_):
    user = shop["users"][who]
    assert all(can_change(user, obj) is owned for obj in shop["owned"])
    assert all(can_change(user, obj) is unowned for obj in shop["unowned"])
    assert can_change(user, shop["owned"][0], action=DELETE) is delete
    assert can_change(user, None) is global_


def test_the_refusal_names_the_owning_team_and_its_contact(shop):
    with pytest.raises(OwnershipDenied) as denied:
        check_change(shop["users"]["editor"], shop["owned"][0])
    assert "team Payments" in str(denied.value) and "#payments" in str(denied.value)


def test_moving_an_object_needs_rights_on_both_teams(shop):
    paula = shop["users"]["payments_editor"]
    service = shop["owned"][0]
    with pytest.raises(OwnershipDenied):
        check_change(paula, service, new_owner=shop["orders"])
    TeamMembership.objects.create(team=shop["orders"], user=paula, role="editor")
    check_change(paula, service, new_owner=shop["orders"])


class _Request:
    def __init__(self, user, auth=None):
        self.user, self.auth = user, auth


def test_a_tokens_scope_caps_ownership_rights(shop):
    root, paula = shop["users"]["admin"], shop["users"]["payments_editor"]
    read_token, _ = token_create(user=root, name="r", scope="read")
    assert not can_change(_Request(root, read_token), shop["owned"][0])
    assert not can_change(_Request(root, read_token), shop["unowned"][0])
    write_token, _ = token_create(user=root, name="w", scope="write")
    assert can_change(_Request(root, write_token), shop["unowned"][0])
    assert not can_change(_Request(root, write_token), None)  # global needs admin scope
    paula_read, _ = token_create(user=paula, name="r", scope="read")
    assert not can_change(_Request(paula, paula_read), shop["owned"][0])


# ---------------------------------------------------------------------------------------------
# The registry goes through the same rules
# ---------------------------------------------------------------------------------------------
def _registry(client, username: str):
    import base64

    from schemas.registry import authentication

    authentication.forget_remembered_credentials()
    header = "Basic " + base64.b64encode(f"{username}:s3cret-pass!".encode()).decode()

    def call(method: str, path: str, body=None):
        import json

        return getattr(client, method)(
            f"/registry/{path}",
            json.dumps(body) if body is not None else None,
            content_type="application/vnd.schemaregistry.v1+json",
            headers={"Authorization": header},
        )

    return call


AVRO = '{"type": "record", "name": "PaymentCompleted", "fields": [{"name": "id", "type": "string"}]}'


def test_registry_writes_follow_ownership(client, shop):
    erin, paula, root = (_registry(client, name) for name in ("erin", "paula", "root"))
    owned, unowned = "pay.completed-value", "nobody.owns-value"

    refused = erin("post", f"subjects/{owned}/versions", {"schema": AVRO})
    assert refused.status_code == 403 and "team Payments" in refused.json()["message"]
    assert refused.json()["error_code"] == 40301
    assert paula("post", f"subjects/{owned}/versions", {"schema": AVRO}).status_code == 200
    assert erin("post", f"subjects/{unowned}/versions", {"schema": AVRO}).status_code == 200
    assert paula("post", f"subjects/{unowned}/versions", {"schema": AVRO}).status_code == 403

    assert paula("put", f"config/{owned}", {"compatibility": "FULL"}).status_code == 200
    assert paula("delete", f"config/{owned}").status_code == 200  # back to the global level: a change
    assert paula("put", "config", {"compatibility": "NONE"}).status_code == 403
    assert "admin" in paula("delete", f"subjects/{owned}").json()["message"]
    assert root("delete", f"subjects/{owned}").status_code == 200


# ---------------------------------------------------------------------------------------------
# Pages and the API go through the same rules
# ---------------------------------------------------------------------------------------------
def test_pages_and_api_follow_ownership(client, shop):
    from rest_framework.test import APIClient

    owned = shop["owned"][0]
    edit = f"/catalog/services/{owned.slug}/edit/"
    client.force_login(shop["users"]["editor"])
    refused = client.post(edit, {"name": "payments", "description": "Hijacked."})
    assert refused.status_code == 403 and "team Payments" in refused.content.decode()
    client.force_login(shop["users"]["payments_editor"])  # a global viewer, editor of the owning team
    form = {"name": "payments", "description": "Takes payments.", "owner_team": shop["payments"].pk}
    assert client.post(edit, form).status_code == 302
    moved = client.post(edit, form | {"owner_team": shop["orders"].pk})
    assert moved.status_code == 403  # not an editor of Orders
    owned.refresh_from_db()
    assert (owned.description, owned.owner_team) == ("Takes payments.", shop["payments"])

    api = APIClient()
    api.force_authenticate(shop["users"]["editor"])
    denied = api.patch(f"/api/v1/services/{owned.slug}/", {"description": "x"}, format="json")
    assert denied.status_code == 403 and "team Payments" in denied.json()["error"]["message"]
    assert api.patch("/api/v1/services/legacy/", {"description": "Old."}, format="json").status_code == 200
    created = api.post("/api/v1/services/", {"name": "fraud", "owner_team": "payments"}, format="json")
    assert created.status_code == 403
    api.force_authenticate(shop["users"]["payments_editor"])
    assert api.post("/api/v1/services/", {"name": "fraud", "owner_team": "payments"}, format="json").status_code == 201
    assert api.patch("/api/v1/services/legacy/", {"description": "x"}, format="json").status_code == 403
