"""`eventscope check-impact`: the console command a CI pipeline installs, against a running Eventscope.

The command runs as a process of its own, from a directory outside the repository, with no Django settings
and with `python -S` (no site-packages: Django and every other dependency are not importable), so a test
passes only if the package needs nothing beyond the standard library.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from .impact_shop import PAYMENTS_SUBJECT, payment_completed_schema, seed_shop

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None):
    """`python -S -m eventscope_cli ARGS` with only the repository on the path and no Django settings."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "EVENTSCOPE_"))}
    clean.update({"PYTHONPATH": str(ROOT), **(env or {})})
    return subprocess.run(
        [sys.executable, "-S", "-m", "eventscope_cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=clean,
        input=stdin,
    )


def _manage(*args: str):
    return subprocess.run(
        [sys.executable, "manage.py", "check_impact", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )


@pytest.fixture
def schema_files(tmp_path):
    for name, text in {
        "breaking": payment_completed_schema(drop=("warehouse",)),
        "additive": payment_completed_schema(add_optional=("voucher_code",)),
    }.items():
        (tmp_path / f"{name}.avsc").write_text(text, encoding="utf-8")
    return tmp_path


@pytest.fixture
def server(live_server, make_user):
    """A running Eventscope holding the shop, and a valid API token of a viewer."""
    from governance.services import token_create

    seed_shop()
    _, clear = token_create(user=make_user("ci-bot", role="viewer"), name="pipeline")
    return live_server.url, clear


# ---------------------------------------------------------------------------------------------
# Without a server
# ---------------------------------------------------------------------------------------------
def test_the_package_needs_no_django(tmp_path):
    probe = (
        "import sys, eventscope_cli.__main__, eventscope_cli.remote\n"
        "loaded = sorted(name for name in sys.modules if name.split('.')[0] in "
        "{'django', 'rest_framework', 'requests', 'eventscope', 'catalog', 'lineage', 'schemas'})\n"
        "print(loaded)\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    probed = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "PYTHONPATH": str(ROOT)},
    )
    assert probed.returncode == 0, probed.stderr
    assert probed.stdout.strip() == "[]"


def test_version_help_and_the_console_script_entry(tmp_path):
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["scripts"]["eventscope"] == "eventscope_cli.__main__:main"
    assert pyproject["project"]["dependencies"] == []
    assert "eventscope_cli" in pyproject["tool"]["setuptools"]["packages"]

    version = _cli("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"eventscope {pyproject['project']['version']}"

    helped = _cli("check-impact", "--help", cwd=tmp_path)
    assert helped.returncode == 0
    for option in ("--url", "--token", "--token-file", "--subject", "--topic", "--schema-file", "--type", "--format"):
        assert option in helped.stdout
    assert "EVENTSCOPE_TOKEN" in helped.stdout

    bare = _cli(cwd=tmp_path)
    assert bare.returncode == 2 and "check-impact" in bare.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--subject", "s", "--schema-file", "{dir}/additive.avsc"), "Give --url (or EVENTSCOPE_URL)"),
        (("--url", "http://127.0.0.1:9", "--schema-file", "{dir}/additive.avsc"), "Give --subject"),
        (("--url", "ftp://x", "--subject", "s", "--schema-file", "{dir}/additive.avsc"), "must start with http"),
        (("--url", "http://127.0.0.1:9", "--subject", "s", "--schema-file", "{dir}/missing.avsc"), "No schema file"),
        (("--url", "http://127.0.0.1:9", "--subject", "s", "--schema-file", "{dir}"), "is a directory"),
        (
            (
                "--url",
                "http://127.0.0.1:9",
                "--subject",
                "s",
                "--schema-file",
                "{dir}/additive.avsc",
                "--token-file",
                "{dir}/no-token",
            ),
            "No token file",
        ),
        (
            (
                "--url",
                "http://127.0.0.1:9",
                "--subject",
                "s",
                "--schema-file",
                "{dir}/additive.avsc",
                "--token",
                "t",
                "--user",
                "u",
                "--password",
                "p",
            ),
            "not both",
        ),
        (("--url", "http://127.0.0.1:9", "--subject", "s", "--schema-file", "{dir}/additive.avsc"), "Could not reach"),
        (("--subject", "s"), "--schema-file"),
        (("--url", "http://x", "--subject", "s", "--schema-file", "{dir}/additive.avsc", "--type", "XML"), "invalid"),
    ],
)
def test_usage_errors_exit_2_with_a_message(schema_files, args, message):
    result = _cli("check-impact", *(arg.format(dir=schema_files) for arg in args), cwd=schema_files)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


# ---------------------------------------------------------------------------------------------
# Against a running Eventscope
# ---------------------------------------------------------------------------------------------
def test_compatible_and_breaking_changes_with_a_token(server, schema_files):
    url, token = server
    additive = _cli(
        "check-impact", "--url", url, "--token", token,
        "--subject", PAYMENTS_SUBJECT, "--schema-file", str(schema_files / "additive.avsc"),
        cwd=schema_files,
    )  # fmt: skip
    assert additive.returncode == 0, additive.stderr
    assert additive.stdout.startswith("### ✅ Schema impact: `shop.payments.completed-value` (AVRO)")

    breaking = _cli(
        "check-impact", "--url", url, "--token", token,
        "--subject", PAYMENTS_SUBJECT, "--schema-file", str(schema_files / "breaking.avsc"),
        cwd=schema_files,
    )  # fmt: skip
    assert breaking.returncode == 1, breaking.stderr
    assert breaking.stdout.startswith("### ❌ Schema impact: `shop.payments.completed-value`")
    assert "| ❌ breaks | **shipping** | Logistics | #team-logistics |" in breaking.stdout
    assert "The schema change is breaking" in breaking.stderr
    assert token not in breaking.stdout + breaking.stderr + additive.stdout + additive.stderr

    # The same report, byte for byte, as `manage.py check_impact --url` with the same token.
    managed = _manage(
        "--url", url, "--token", token,
        "--subject", PAYMENTS_SUBJECT, "--schema-file", str(schema_files / "breaking.avsc"),
    )  # fmt: skip
    assert managed.returncode == 1, managed.stderr
    assert managed.stdout == breaking.stdout


def test_environment_token_file_topic_stdin_and_json(server, schema_files):
    url, token = server
    (schema_files / "token").write_text(token + "\n", encoding="utf-8")
    from_file = _cli(
        "check-impact", "--url", url + "/api/v1/", "--token-file", str(schema_files / "token"),
        "--topic", "shop.payments.completed", "--schema-file", "-", "--format", "json",
        cwd=schema_files, stdin=(schema_files / "breaking.avsc").read_text(encoding="utf-8"),
    )  # fmt: skip
    assert from_file.returncode == 1, from_file.stderr
    report = json.loads(from_file.stdout)
    assert report["subject"] == PAYMENTS_SUBJECT and report["breaking"] is True and "markdown" not in report
    assert any(consumer["service"] == "shipping" for consumer in report["consumers"])

    from_env = _cli(
        "check-impact", "--subject", PAYMENTS_SUBJECT, "--schema-file", str(schema_files / "additive.avsc"),
        "--format", "json",
        cwd=schema_files, env={"EVENTSCOPE_URL": url, "EVENTSCOPE_TOKEN": token},
    )  # fmt: skip
    assert from_env.returncode == 0, from_env.stderr
    assert json.loads(from_env.stdout)["breaking"] is False

    managed = _manage(
        "--url", url, "--token", token, "--topic", "shop.payments.completed",
        "--schema-file", str(schema_files / "breaking.avsc"), "--format", "json",
    )  # fmt: skip
    assert managed.returncode == 1 and managed.stdout == from_file.stdout


def test_refused_token_and_unknown_subject_exit_2(server, schema_files):
    url, token = server
    wrong = "esk_nope_" + "x" * 40
    refused = _cli(
        "check-impact", "--url", url, "--token", wrong,
        "--subject", PAYMENTS_SUBJECT, "--schema-file", str(schema_files / "additive.avsc"),
        cwd=schema_files,
    )  # fmt: skip
    assert refused.returncode == 2, refused.stdout
    assert "answered 401" in refused.stderr and "token or credentials were refused" in refused.stderr
    assert wrong not in refused.stderr and refused.stdout == "" and "Traceback" not in refused.stderr

    unknown = _cli(
        "check-impact", "--url", url, "--token", token,
        "--subject", "nope-value", "--schema-file", str(schema_files / "additive.avsc"),
        cwd=schema_files,
    )  # fmt: skip
    assert unknown.returncode == 2 and "answered 404" in unknown.stderr and "nope-value" in unknown.stderr
    assert token not in unknown.stderr

    not_eventscope = _cli(
        "check-impact", "--url", url + "/healthz-nothing-here", "--token", token,
        "--subject", PAYMENTS_SUBJECT, "--schema-file", str(schema_files / "additive.avsc"),
        cwd=schema_files,
    )  # fmt: skip
    assert not_eventscope.returncode == 2 and "Traceback" not in not_eventscope.stderr
