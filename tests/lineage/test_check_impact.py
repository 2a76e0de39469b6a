"""`manage.py check_impact`: its report and exit codes, locally and against a running Eventscope."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from .impact_shop import PAYMENTS_SUBJECT, payment_completed_schema, seed_shop

ROOT = Path(__file__).resolve().parents[2]


def _check(*args: str) -> tuple[int, str]:
    """Run the command in-process (the test database); (exit code, stdout)."""
    out = io.StringIO()
    try:
        call_command("check_impact", *args, stdout=out, stderr=io.StringIO())
    except CommandError as exc:
        return exc.returncode, out.getvalue() + f"\nERROR: {exc}"
    return 0, out.getvalue()


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `manage.py check_impact` as CI does: a process of its own, real exit status."""
    return subprocess.run(
        [sys.executable, "manage.py", "check_impact", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def schema_files(tmp_path):
    files = {
        "breaking": payment_completed_schema(drop=("warehouse",)),
        "additive": payment_completed_schema(add_optional=("voucher_code",)),
        "garbage": '{"type": "record", "name": ',
    }
    for name, text in files.items():
        (tmp_path / f"{name}.avsc").write_text(text, encoding="utf-8")
    return tmp_path


# ---------------------------------------------------------------------------------------------
# Locally
# ---------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_local_exit_codes_and_report(schema_files):
    seed_shop()

    code, out = _check("--subject", PAYMENTS_SUBJECT, "--schema-file", str(schema_files / "additive.avsc"))
    assert code == 0, out
    assert out.startswith("### ✅ Schema impact: `shop.payments.completed-value` (AVRO)")

    code, out = _check("--subject", PAYMENTS_SUBJECT, "--schema-file", str(schema_files / "breaking.avsc"))
    assert code == 1
    assert "| ❌ breaks | **shipping** | Logistics |" in out
    assert "ERROR: The schema change is breaking" in out

    code, out = _check(
        "--topic", "shop.payments.completed", "--schema-file", str(schema_files / "breaking.avsc"), "--format", "json"
    )
    assert code == 1
    report = json.loads(out.split("\nERROR:")[0])
    assert report["subject"] == PAYMENTS_SUBJECT and report["breaking"] is True


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--subject", "nope-value", "--schema-file", "{dir}/additive.avsc"), "Subject 'nope-value' not found"),
        (("--topic", "no.such.topic", "--schema-file", "{dir}/additive.avsc"), "Topic 'no.such.topic' not found"),
        (("--subject", PAYMENTS_SUBJECT, "--schema-file", "{dir}/garbage.avsc"), "Invalid schema"),
        (("--subject", PAYMENTS_SUBJECT, "--schema-file", "{dir}/missing.avsc"), "No schema file"),
        (("--subject", PAYMENTS_SUBJECT, "--schema-file", "{dir}"), "is a directory"),
        (("--schema-file", "{dir}/additive.avsc"), "Give --subject"),
        (("--subject", PAYMENTS_SUBJECT, "--schema-file", "{dir}/additive.avsc", "--type", "JSON"), "Invalid schema"),
    ],
)
def test_local_input_errors_exit_2_with_a_message(schema_files, args, message):
    seed_shop()
    code, out = _check(*(arg.format(dir=schema_files) for arg in args))
    assert code == 2
    assert message in out
    assert "Traceback" not in out


def test_usage_errors_exit_2_from_the_command_line(schema_files):
    # Neither needs a database: argparse, and the schema file, are checked first.
    missing_option = _run("--subject", PAYMENTS_SUBJECT)
    assert missing_option.returncode == 2
    assert "--schema-file" in missing_option.stderr and "Traceback" not in missing_option.stderr

    missing_file = _run("--subject", PAYMENTS_SUBJECT, "--schema-file", str(schema_files / "missing.avsc"))
    assert missing_file.returncode == 2
    assert "No schema file" in missing_file.stderr and "Traceback" not in missing_file.stderr

    bad_type = _run("--subject", "s", "--schema-file", str(schema_files / "additive.avsc"), "--type", "XML")
    assert bad_type.returncode == 2 and "invalid choice" in bad_type.stderr


# ---------------------------------------------------------------------------------------------
# Against a running Eventscope
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def remote(live_server, make_user):
    seed_shop()
    make_user("ci-bot", role="viewer", password="ci-pass-123!")
    return live_server.url


def test_remote_with_basic_credentials(remote, schema_files):
    breaking = _run(
        "--url", remote, "--user", "ci-bot", "--password", "ci-pass-123!",
        "--subject", PAYMENTS_SUBJECT, "--schema-file", str(schema_files / "breaking.avsc"),
    )  # fmt: skip
    assert breaking.returncode == 1, breaking.stderr
    assert breaking.stdout.startswith("### ❌ Schema impact: `shop.payments.completed-value`")
    assert "| ❌ breaks | **shipping** | Logistics | #team-logistics |" in breaking.stdout

    additive = _run(
        "--url", remote, "--subject", PAYMENTS_SUBJECT, "--schema-file", str(schema_files / "additive.avsc"),
        "--format", "json",
        env={"EVENTSCOPE_USER": "ci-bot", "EVENTSCOPE_PASSWORD": "ci-pass-123!"},
    )  # fmt: skip
    assert additive.returncode == 0, additive.stderr
    assert json.loads(additive.stdout)["breaking"] is False


def test_remote_with_a_token(remote, schema_files, django_user_model):
    from governance.services import token_create

    _, clear = token_create(user=django_user_model.objects.get(username="ci-bot"), name="ci")
    result = _run(
        "--url", remote, "--token", clear,
        "--subject", PAYMENTS_SUBJECT, "--schema-file", str(schema_files / "breaking.avsc"),
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "| ❌ breaks | **shipping** |" in result.stdout


def test_remote_errors_exit_2_with_the_servers_message(remote, schema_files):
    wrong_password = _run(
        "--url", remote, "--user", "ci-bot", "--password", "wrong",
        "--subject", PAYMENTS_SUBJECT, "--schema-file", str(schema_files / "additive.avsc"),
    )  # fmt: skip
    assert wrong_password.returncode == 2
    assert "answered 401" in wrong_password.stderr and "Traceback" not in wrong_password.stderr

    unknown = _run(
        "--url", remote, "--user", "ci-bot", "--password", "ci-pass-123!",
        "--subject", "nope-value", "--schema-file", str(schema_files / "additive.avsc"),
    )  # fmt: skip
    assert unknown.returncode == 2 and "answered 404" in unknown.stderr and "nope-value" in unknown.stderr

    garbage = _run(
        "--url", remote, "--user", "ci-bot", "--password", "ci-pass-123!",
        "--subject", PAYMENTS_SUBJECT, "--schema-file", str(schema_files / "garbage.avsc"),
    )  # fmt: skip
    assert garbage.returncode == 2 and "answered 400" in garbage.stderr and "Invalid schema" in garbage.stderr

    unreachable = _run(
        "--url", "http://127.0.0.1:9", "--subject", PAYMENTS_SUBJECT,
        "--schema-file", str(schema_files / "additive.avsc"),
    )  # fmt: skip
    assert unreachable.returncode == 2 and "Could not reach" in unreachable.stderr


@pytest.mark.django_db
def test_references_file_errors_exit_2(schema_files):
    seed_shop()
    (schema_files / "refs.json").write_text("[not json", encoding="utf-8")
    code, out = _check(
        "--subject", PAYMENTS_SUBJECT, "--schema-file", str(schema_files / "additive.avsc"),
        "--references-file", str(schema_files / "refs.json"),
    )  # fmt: skip
    assert code == 2 and "The references file is not JSON" in out
    (schema_files / "refs.json").write_text('[{"name": "X", "subject": "nope-value", "version": 1}]', encoding="utf-8")
    code, out = _check(
        "--subject", PAYMENTS_SUBJECT, "--schema-file", str(schema_files / "additive.avsc"),
        "--references-file", str(schema_files / "refs.json"),
    )  # fmt: skip
    assert code == 2 and "reference 'X' to subject 'nope-value' version 1 not found" in out
