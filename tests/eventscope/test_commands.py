"""Project-wide management commands."""

from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command


@pytest.mark.django_db
def test_seed_demo_creates_the_demo_login_and_is_idempotent():
    out = StringIO()
    call_command("seed_demo", "--password", "demo-pass-123", stdout=out)
    assert "demo login: demo / demo-pass-123 (role admin)" in out.getvalue()
    user = authenticate(username="demo", password="demo-pass-123")
    assert user is not None and user.is_superuser
    assert list(user.groups.values_list("name", flat=True)) == ["admin"]

    again = StringIO()
    call_command("seed_demo", stdout=again)
    assert "password unchanged" in again.getvalue()
    assert authenticate(username="demo", password="demo-pass-123") is not None


@pytest.mark.django_db
def test_seed_demo_seeds_the_shop_catalog_unless_told_not_to():
    from catalog.models import EventType, Service

    skipped = StringIO()
    call_command("seed_demo", "--password", "demo-pass-123", "--no-catalog", stdout=skipped)
    assert "demo catalog" not in skipped.getvalue()
    assert not Service.objects.exists()

    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "demo catalog: the shop's services, event types and topics (created " in out.getvalue()
    assert "7 team membership(s) added" in out.getvalue()
    assert Service.objects.count() == 6 and EventType.objects.count() == 7

    again = StringIO()
    call_command("seed_demo", stdout=again)
    assert "created 0, updated 0" in again.getvalue() and "deleted 0; 0 team membership(s) added" in again.getvalue()


@pytest.mark.django_db
def test_seed_demo_adds_an_alert_rule_the_demo_shop_trips_once():
    from monitoring.models import AlertRule

    out = StringIO()
    call_command("seed_demo", "--password", "demo-pass-123", stdout=out)
    assert "demo alert rule: Shop consumers falling behind" in out.getvalue()
    rule = AlertRule.objects.get()
    assert (rule.kind, rule.group_pattern, rule.for_minutes, rule.enabled) == ("group_status", "shop.*", 1, True)
    assert not rule.has_webhook and rule.created_by.username == "demo"

    again = StringIO()
    call_command("seed_demo", stdout=again)
    assert "demo alert rule" not in again.getvalue() and AlertRule.objects.count() == 1

    call_command("seed_demo", "--username", "other", "--no-catalog", stdout=StringIO())
    assert AlertRule.objects.count() == 1


@pytest.mark.django_db
def test_seed_demo_generates_a_password_for_a_new_user():
    out = StringIO()
    call_command("seed_demo", "--username", "viewer1", "--role", "viewer", stdout=out)
    password = out.getvalue().split(" / ")[1].split(" ")[0]
    assert len(password) >= 12
    user = authenticate(username="viewer1", password=password)
    assert user is not None and not user.is_staff


@pytest.mark.django_db
def test_seed_demo_refuses_bad_input():
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("seed_demo", "--role", "owner")
    with pytest.raises(CommandError, match="must not be empty"):
        call_command("seed_demo", "--username", " ")
