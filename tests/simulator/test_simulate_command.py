"""`manage.py simulate` option handling: bad options are a CommandError with a clear message, before any Kafka call."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from simulator.management.commands.simulate import parse_processing_overrides, registry_connection
from simulator.schemas import RegistryConnection
from simulator.shop import Shop, ShopConfig, ShopConfigError, ShopError

# No broker listens here; a test that reached Kafka with it would fail with a connection error
# rather than the option error it expects.
NOWHERE = "127.0.0.1:1"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--rate", "0"], "rate must be a positive number"),
        (["--rate", "nan"], "rate must be a positive number"),
        (["--duration", "-1"], "duration_s must be 0 or more"),
        (["--orders", "-5"], "order limit must be 0"),
        (["--processing-ms", "-1"], "processing_ms must be 0 or more"),
        (["--processing", "warehouse=5"], "no consuming service 'warehouse'"),
        (["--processing", "orders=5"], "no consuming service 'orders'"),
        (["--processing", "inventory"], "--processing takes SERVICE=MS"),
        (["--processing", "inventory=fast"], "--processing takes SERVICE=MS"),
        (["--processing", "inventory=-3"], "processing time of inventory must be 0 ms or more"),
        (["--failure-rate", "1.5"], "failure_rate must be between 0 and 1"),
        (["--slow-consumer", "orders", "--slow-ms", "50"], "orders is the source, not a consumer"),
        (["--slow-consumer", "billing", "--slow-ms", "50"], "no consuming service 'billing'"),
        (["--slow-consumer", "payments"], "--slow-consumer has no effect without --slow-ms"),
        (["--slow-ms", "-1"], "slow_ms must be 0 or more"),
        (["--topic-prefix", "shop orders/"], "topic prefix may only hold"),
        (["--topic-prefix", "x" * 240], "topic prefix is too long"),
        (["--group-prefix", "my group."], "group prefix may not contain whitespace"),
        (["--partitions", "0"], "at least 1 partition"),
        (["--progress-interval", "-2"], "progress_interval_s must be 0 or more"),
        (["--rate", "fast"], "invalid float value"),  # argparse's own type check
        (["--orders", "1.5"], "invalid int value"),
        (["--no-such-option"], "unrecognized arguments"),
    ],
)
def test_bad_options_are_a_command_error(options, message):
    with pytest.raises(CommandError, match=message):
        call_command("simulate", "--bootstrap", NOWHERE, *options, stdout=StringIO())


def test_several_problems_are_reported_together():
    with pytest.raises(CommandError, match=r"rate must be.*failure_rate must be"):
        call_command("simulate", "--bootstrap", NOWHERE, "--rate", "-1", "--failure-rate", "2", stdout=StringIO())


def test_unreachable_kafka_is_a_command_error(settings):
    settings.KAFKA_REQUEST_TIMEOUT_S = 1.0

    with pytest.raises(CommandError, match=f"Kafka at {NOWHERE} is not reachable"):
        call_command("simulate", "--bootstrap", NOWHERE, "--orders", "1", stdout=StringIO())


def test_unreachable_kafka_is_a_shop_error_from_python():
    shop = Shop(ShopConfig(bootstrap_servers=NOWHERE, order_limit=1, connect_timeout_s=1.0))

    with pytest.raises(ShopError, match="not reachable"):
        shop.run()


def test_parse_processing_overrides():
    assert parse_processing_overrides(["inventory=5", " payments =0.5", "inventory=7"]) == {
        "inventory": 7.0,
        "payments": 0.5,
    }


def test_config_defaults_and_derived_names():
    config = ShopConfig(bootstrap_servers=NOWHERE, processing_overrides={"payments": 20}, slow_ms=30)

    assert config.topic("orders.placed") == "shop.orders.placed"
    assert config.group_id("inventory") == "shop.inventory"
    assert ShopConfig(bootstrap_servers=NOWHERE, group_prefix="team-a.").group_id("inventory") == "team-a.inventory"
    assert config.processing_ms_for("inventory") == 5.0
    assert config.processing_ms_for("payments") == 20.0
    assert config.processing_ms_for("analytics") == 35.0  # the slow consumer: its time plus slow_ms
    assert isinstance(config.seed, int)


def test_config_errors_are_value_errors():
    with pytest.raises(ShopConfigError, match="bootstrap servers are empty"):
        ShopConfig(bootstrap_servers=" ")
    assert issubclass(ShopConfigError, ValueError)


# ---------------------------------------------------------------------------------------------
# Registry options
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def no_registry_env(monkeypatch):
    for name in ("EVENTSCOPE_REGISTRY_URL", "EVENTSCOPE_REGISTRY_USER", "EVENTSCOPE_REGISTRY_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--registry-user", "demo"], "need --registry-url"),
        (["--registry-url", "localhost:8000/registry"], "must start with http:// or https://"),
        (["--registry-url", "http://127.0.0.1:1/registry", "--registry-user", "demo"], "needs a password"),
        (
            ["--registry-url", "http://127.0.0.1:1/registry", "--registry-password-file", "/nonexistent/pw"],
            "cannot read the registry password file /nonexistent/pw",
        ),
    ],
)
def test_bad_registry_options_are_a_command_error(options, message, no_registry_env):
    with pytest.raises(CommandError, match=message):
        call_command("simulate", "--bootstrap", NOWHERE, *options, stdout=StringIO())


def test_a_password_without_a_user_is_a_command_error(tmp_path, no_registry_env):
    password_file = tmp_path / "pw"
    password_file.write_text("hunter2-secret\n")

    with pytest.raises(CommandError, match="needs a user") as error:
        call_command(
            "simulate",
            *("--bootstrap", NOWHERE, "--registry-url", "http://127.0.0.1:1/registry"),
            *("--registry-password-file", str(password_file)),
            stdout=StringIO(),
        )
    assert "hunter2-secret" not in str(error.value)


def test_registry_options_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("EVENTSCOPE_REGISTRY_URL", "http://127.0.0.1:8000/registry")
    monkeypatch.setenv("EVENTSCOPE_REGISTRY_USER", "demo")
    monkeypatch.setenv("EVENTSCOPE_REGISTRY_PASSWORD", "from-env")
    password_file = tmp_path / "pw"
    password_file.write_text("from-file\n")

    connection = registry_connection({})
    assert connection == RegistryConnection("http://127.0.0.1:8000/registry", "demo", "from-env")
    assert connection.password == "from-env"
    # Options win over the environment; the file's trailing newline is not part of the password.
    connection = registry_connection(
        {"registry_url": "http://other/registry", "registry_user": "bob", "registry_password_file": str(password_file)}
    )
    assert (connection.url, connection.user, connection.password) == ("http://other/registry", "bob", "from-file")
    monkeypatch.delenv("EVENTSCOPE_REGISTRY_URL")
    assert registry_connection({}) is None  # a user and password in the environment alone: no registry
    with pytest.raises(CommandError, match="need --registry-url"):
        registry_connection({"registry_password_file": str(password_file)})
