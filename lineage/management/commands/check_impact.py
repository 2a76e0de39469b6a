"""`check_impact`: the schema-change impact report for CI pipelines, locally or against a remote Eventscope.

Exit status: 0 compatible and no consumer breaks, 1 breaking (incompatible or a consumer breaks), 2 a usage
or input error (a missing file, a schema that does not parse, an unknown subject, a refused login) or a
compatibility verdict that could not be had (a mirrored subject's external registry did not answer), always
with a one-line message and never a traceback.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from eventscope_cli.remote import (
    BREAKING_MESSAGE,
    EXIT_BREAKING,
    EXIT_USAGE,
    SCHEMA_TYPES,
    UNKNOWN_MESSAGE,
    RemoteImpactError,
    check_impact_remote,
    read_references,
    read_text,
)
from lineage.impact import ImpactInputError, ImpactNotFoundError, analyze_impact


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
        try:
            report, breaking, unknown_reason = self._report(options)
        except RemoteImpactError as exc:
            raise _usage(exc.message) from None
        self.stdout.write(report, ending="")
        if breaking:
            raise CommandError(BREAKING_MESSAGE, returncode=EXIT_BREAKING)
        if unknown_reason:
            raise _usage(UNKNOWN_MESSAGE.format(reason=unknown_reason))

    def _report(self, options: dict[str, Any]) -> tuple[str, bool, str]:
        subject, topic = options["subject"], options["topic"]
        if not subject and not topic:
            raise RemoteImpactError("Give --subject (or --topic).")
        schema_text = read_text(options["schema_file"], "schema file")
        references = read_references(options["references_file"]) if options["references_file"] else None
        if options["url"]:
            # The console command's client (eventscope_cli), so both print the same report and exit alike.
            remote = check_impact_remote(
                url=options["url"],
                subject=subject,
                topic=topic,
                schema_text=schema_text,
                schema_type=options["type"],
                references=references,
                output_format=options["format"],
                token=options["token"] or os.environ.get("EVENTSCOPE_TOKEN") or None,
                user=options["user"] or os.environ.get("EVENTSCOPE_USER"),
                password=options["password"] or os.environ.get("EVENTSCOPE_PASSWORD"),
            )
            return remote.text, remote.breaking, remote.unknown_reason
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
        return report, found.breaking, found.compatibility_unknown
