"""`check_impact`: the schema-change impact report for CI pipelines, locally or against a remote Eventscope.

Exit status: 0 compatible and no consumer breaks, 1 breaking (incompatible or a consumer breaks), 2 a usage
or input error (a missing file, a schema that does not parse, an unknown subject, a refused login), always
with a one-line message and never a traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lineage.impact import ImpactInputError, ImpactNotFoundError, analyze_impact

EXIT_OK, EXIT_BREAKING, EXIT_USAGE = 0, 1, 2
MAX_SCHEMA_FILE_BYTES = 10 * 1024 * 1024
REMOTE_TIMEOUT_S = 60
SCHEMA_TYPES = ("AVRO", "JSON", "PROTOBUF")


def _usage(message: str) -> CommandError:
    return CommandError(message, returncode=EXIT_USAGE)


class Command(BaseCommand):
    help = (
        "Check a proposed schema before a deploy: compatibility under the subject's level, the field changes, "
        "and every consumer it would break. Prints a Markdown report (or JSON). Exit 0 compatible and nobody "
        "breaks, 1 breaking, 2 usage or input error. With --url it asks a remote Eventscope instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--subject", help="Registry subject, e.g. shop.payments.completed-value.")
        parser.add_argument("--topic", help="A topic instead of (or with) the subject: its value subject.")
        parser.add_argument("--schema-file", required=True, help="File holding the proposed schema ('-': stdin).")
        parser.add_argument(
            "--type", default="AVRO", type=str.upper, choices=SCHEMA_TYPES, help="Schema type (default AVRO)."
        )
        parser.add_argument(
            "--references-file", help='JSON file with the schema references: [{"name", "subject", "version"}].'
        )
        parser.add_argument("--format", default="markdown", choices=("markdown", "json"), help="Report format.")
        parser.add_argument("--url", help="Base URL of a remote Eventscope, e.g. https://eventscope.example.com.")
        parser.add_argument(
            "--token", help="API token for --url, sent as 'Authorization: Bearer <token>' (env EVENTSCOPE_TOKEN)."
        )
        parser.add_argument("--user", help="User for HTTP Basic with --url (env EVENTSCOPE_USER).")
        parser.add_argument("--password", help="Password for HTTP Basic with --url (env EVENTSCOPE_PASSWORD).")

    def handle(self, *args: Any, **options: Any) -> None:
        subject, topic = options["subject"], options["topic"]
        if not subject and not topic:
            raise _usage("Give --subject (or --topic).")
        schema_text = _read_text(options["schema_file"], "schema file")
        references = None
        if options["references_file"]:
            try:
                references = json.loads(_read_text(options["references_file"], "references file"))
            except ValueError as exc:
                raise _usage(f"The references file is not JSON: {exc}") from None
        if options["url"]:
            report, breaking = self._remote(options, subject, topic, schema_text, references)
        else:
            try:
                found = analyze_impact(
                    subject=subject,
                    topic=topic,
                    schema_text=schema_text,
                    schema_type=options["type"],
                    references=references,
                )
            except (ImpactInputError, ImpactNotFoundError) as exc:
                raise _usage(exc.message) from None
            report = found.to_markdown() if options["format"] == "markdown" else found.to_json() + "\n"
            breaking = found.breaking
        self.stdout.write(report, ending="")
        if breaking:
            raise CommandError("The schema change is breaking (see the report).", returncode=EXIT_BREAKING)

    # -- a remote Eventscope ------------------------------------------------------------------------
    def _remote(
        self, options: dict[str, Any], subject: str | None, topic: str | None, schema_text: str, references: Any
    ) -> tuple[str, bool]:
        import requests

        url = options["url"].rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise _usage(f"--url must start with http:// or https://, got {options['url']!r}")
        endpoint = url if url.endswith("/api/v1/impact") else f"{url.removesuffix('/api/v1')}/api/v1/impact/"
        token = options["token"] or os.environ.get("EVENTSCOPE_TOKEN")
        user = options["user"] or os.environ.get("EVENTSCOPE_USER")
        password = options["password"] or os.environ.get("EVENTSCOPE_PASSWORD")
        if (user is None) != (password is None):
            raise _usage("Give both --user and --password (or EVENTSCOPE_USER and EVENTSCOPE_PASSWORD).")
        if token and user:
            raise _usage("Give --token or --user/--password, not both.")
        body: dict[str, Any] = {"schema": schema_text, "schemaType": options["type"]}
        if subject:
            body["subject"] = subject
        if topic:
            body["topic"] = topic
        if references is not None:
            body["references"] = references
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = requests.post(
                endpoint,
                json=body,
                headers=headers,
                auth=(user, password) if user else None,
                timeout=REMOTE_TIMEOUT_S,
            )
        except requests.RequestException as exc:
            raise _usage(f"Could not reach {endpoint}: {exc}") from None
        try:
            answer = response.json()
        except ValueError:
            raise _usage(f"{endpoint} answered {response.status_code} without JSON; is it an Eventscope?") from None
        if response.status_code != 200:
            raise _usage(f"{endpoint} answered {response.status_code}: {_error_message(answer)}")
        if not isinstance(answer, dict) or "markdown" not in answer or "breaking" not in answer:
            raise _usage(f"{endpoint} answered without an impact report; is it an Eventscope?")
        if options["format"] == "markdown":
            return answer["markdown"], bool(answer["breaking"])
        answer.pop("markdown")
        return json.dumps(answer, indent=2, ensure_ascii=False) + "\n", bool(answer["breaking"])


def _read_text(name: str, what: str) -> str:
    import sys

    if name == "-":
        return sys.stdin.read()
    path = Path(name)
    try:
        if path.stat().st_size > MAX_SCHEMA_FILE_BYTES:
            raise _usage(f"The {what} {name} is larger than {MAX_SCHEMA_FILE_BYTES} bytes.")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _usage(f"No {what} {name}.") from None
    except IsADirectoryError:
        raise _usage(f"The {what} {name} is a directory.") from None
    except UnicodeDecodeError:
        raise _usage(f"The {what} {name} is not UTF-8 text.") from None
    except OSError as exc:
        raise _usage(f"Cannot read the {what} {name}: {exc.strerror}.") from None


def _error_message(answer: Any) -> str:
    """The message of the API's error format ({"error": {"message", "detail"}}), with the details."""
    error = answer.get("error") if isinstance(answer, dict) else None
    if not isinstance(error, dict):
        return json.dumps(answer)[:500]
    message = str(error.get("message", ""))
    detail = error.get("detail")
    if isinstance(detail, dict):
        parts = [
            f"{key}: {' '.join(map(str, value)) if isinstance(value, list) else value}" for key, value in detail.items()
        ]
        message = f"{message} {'; '.join(parts)}".strip()
    return message
