"""Bad inputs to `manage.py import_registry`: a message, exit status 2, no traceback, no secret, nothing changed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from governance.models import AuditEntry
from schemas.models import Schema, SubjectVersion

ROOT = Path(__file__).resolve().parents[3]

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def password_file(tmp_path, second_registry) -> Path:
    path = tmp_path / "password"
    path.write_text(second_registry.password + "\n")
    return path


def _fails(*args: str) -> str:
    before = (Schema.objects.count(), SubjectVersion.objects.count(), AuditEntry.objects.count())
    with pytest.raises(CommandError) as failure:
        call_command("import_registry", *args)
    assert failure.value.returncode == 2
    assert (Schema.objects.count(), SubjectVersion.objects.count(), AuditEntry.objects.count()) == before
    return str(failure.value)


def test_an_unreachable_registry(tmp_path):
    message = _fails("--url", "http://127.0.0.1:1/registry")

    assert "http://127.0.0.1:1/registry" in message and "unreachable" in message


def test_a_wrong_password_is_refused_and_never_echoed(second_registry, tmp_path, capsys):
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password-4711\n")

    message = _fails(
        "--url", second_registry.url, "--username", second_registry.username, "--password-file", str(wrong)
    )

    assert "401" in message or "refused" in message.lower()
    captured = capsys.readouterr()
    assert "not-the-password-4711" not in message + captured.out + captured.err


def test_missing_and_empty_files(second_registry, tmp_path):
    url = ["--url", second_registry.url]
    empty = tmp_path / "empty"
    empty.write_text("\n")

    assert "No password file /nope/password" in _fails(*url, "--username", "u", "--password-file", "/nope/password")
    assert "No token file /nope/token" in _fails(*url, "--token-file", "/nope/token")
    assert "No CA file /nope/ca.pem" in _fails(*url, "--ca-file", "/nope/ca.pem")
    assert f"The token file {empty} is empty" in _fails(*url, "--token-file", str(empty))
    assert "holds no PEM certificate" in _fails(*url, "--ca-file", str(empty))


def test_unknown_cluster_and_unknown_configured_registry():
    assert "No cluster named 'nowhere'" in _fails("--storage-topic", "_schemas", "--cluster", "nowhere")
    assert "--storage-topic needs --cluster" in _fails("--storage-topic", "_schemas")
    assert "No external registry named 'nowhere'" in _fails("--registry", "nowhere")


def test_usage_errors(second_registry, password_file):
    assert "Give one source" in _fails()
    assert "Give one source" in _fails("--url", second_registry.url, "--storage-topic", "_schemas")
    assert "--username and --password-file go together" in _fails("--url", second_registry.url, "--username", "u")
    assert "not both" in _fails(
        "--url", second_registry.url, "--token-file", str(password_file), "--username", "u", "--password-file", "x"
    )
    assert "go with --url only" in _fails("--storage-topic", "_schemas", "--cluster", "c", "--token-file", "t")
    assert "is not an http:// or https:// URL" in _fails("--url", "ftp://example.com")


def test_a_subject_the_source_does_not_hold(second_registry, password_file, unique_name):
    message = _fails(
        "--url",
        second_registry.url,
        "--username",
        second_registry.username,
        "--password-file",
        str(password_file),
        "--subject",
        f"{unique_name}-absent",
    )

    assert f"The source has no subject {unique_name}-absent" in message


def test_the_real_command_exits_2_with_a_message_and_no_traceback(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "DJANGO_"))}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'unused.sqlite3'}"
    completed = subprocess.run(
        [sys.executable, "manage.py", "import_registry", "--url", "http://127.0.0.1:1", "--token-file", "/nope/token"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 2
    assert "No token file /nope/token" in completed.stderr
    assert "Traceback" not in completed.stderr + completed.stdout
