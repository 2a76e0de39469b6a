"""`eventscope` (and `python -m eventscope_cli`): the console command's argument parsing and exit codes.

Exit status of `check-impact`: 0 compatible and no consumer breaks, 1 breaking, 2 a usage or input error
(a missing file, an unreachable server, a refused token, an unknown subject, a compatibility verdict that
could not be had because a mirrored subject's external registry did not answer), always with a one-line
message on stderr and never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import __version__
from .remote import (
    BREAKING_MESSAGE,
    EXIT_BREAKING,
    EXIT_OK,
    EXIT_USAGE,
    SCHEMA_TYPES,
    UNKNOWN_MESSAGE,
    RemoteImpactError,
    check_impact_remote,
    read_references,
    read_text,
)

__all__ = ["build_parser", "main"]

PROG = "eventscope"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Talk to a remote Eventscope from a CI pipeline (no Django, no database needed).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = commands.add_parser(
        "check-impact",
        help="Check a proposed schema against a remote Eventscope: compatibility and the consumers it breaks.",
        description=(
            "Ask a remote Eventscope (POST /api/v1/impact/) whether a proposed schema is compatible under the "
            "subject's level and which downstream consumers it would break. Prints the Markdown report (or "
            "JSON) that `manage.py check_impact` prints. Exit 0 compatible and nobody breaks, 1 breaking, "
            "2 usage or input error (unreachable server, refused token, unknown subject, unreadable file)."
        ),
        epilog=(
            "Environment: EVENTSCOPE_URL, EVENTSCOPE_TOKEN (or EVENTSCOPE_USER and EVENTSCOPE_PASSWORD) are "
            "used when the matching option is not given. The token is never printed."
        ),
    )
    check.add_argument(
        "--url", help="Base URL of the Eventscope, e.g. https://eventscope.example.com (env EVENTSCOPE_URL)."
    )
    token = check.add_mutually_exclusive_group()
    token.add_argument("--token", help="API token, sent as 'Authorization: Bearer <token>' (env EVENTSCOPE_TOKEN).")
    token.add_argument("--token-file", help="File holding the API token (safer than --token in a process list).")
    check.add_argument("--user", help="User for HTTP Basic instead of a token (env EVENTSCOPE_USER).")
    check.add_argument("--password", help="Password for HTTP Basic (env EVENTSCOPE_PASSWORD).")
    check.add_argument("--subject", help="Registry subject, e.g. shop.payments.completed-value.")
    check.add_argument("--topic", help="A topic instead of (or with) the subject: its value subject.")
    check.add_argument("--schema-file", required=True, help="File holding the proposed schema ('-': stdin).")
    check.add_argument(
        "--type", default="AVRO", type=str.upper, choices=SCHEMA_TYPES, help="Schema type (default AVRO)."
    )
    check.add_argument(
        "--references-file", help='JSON file with the schema references: [{"name", "subject", "version"}].'
    )
    check.add_argument("--format", default="markdown", choices=("markdown", "json"), help="Report format.")
    check.set_defaults(handler=_check_impact)
    return parser


def _check_impact(options: argparse.Namespace) -> int:
    url = options.url or os.environ.get("EVENTSCOPE_URL")
    if not url:
        raise RemoteImpactError("Give --url (or EVENTSCOPE_URL): the base URL of the Eventscope to ask.")
    if not options.subject and not options.topic:
        raise RemoteImpactError("Give --subject (or --topic).")
    token = options.token
    if options.token_file:
        token = read_text(options.token_file, "token file").strip()
        if not token:
            raise RemoteImpactError(f"The token file {options.token_file} is empty.")
    token = token or os.environ.get("EVENTSCOPE_TOKEN") or None
    schema_text = read_text(options.schema_file, "schema file")
    references = read_references(options.references_file) if options.references_file else None
    report = check_impact_remote(
        url=url,
        subject=options.subject,
        topic=options.topic,
        schema_text=schema_text,
        schema_type=options.type,
        references=references,
        output_format=options.format,
        token=token,
        user=options.user or os.environ.get("EVENTSCOPE_USER"),
        password=options.password or os.environ.get("EVENTSCOPE_PASSWORD"),
    )
    sys.stdout.write(report.text)
    sys.stdout.flush()
    if report.breaking:
        print(f"{PROG} check-impact: {BREAKING_MESSAGE}", file=sys.stderr)
        return EXIT_BREAKING
    if report.unknown_reason:
        print(f"{PROG} check-impact: {UNKNOWN_MESSAGE.format(reason=report.unknown_reason)}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    options = parser.parse_args(argv)
    if options.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return options.handler(options)
    except RemoteImpactError as exc:
        print(f"{PROG} {options.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG} {options.command}: interrupted", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
