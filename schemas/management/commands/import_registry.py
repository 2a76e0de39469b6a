"""`import_registry`: move an existing schema registry into Eventscope's own, keeping every schema id and version.

    manage.py import_registry (--url URL [--username U --password-file F | --token-file F] [--ca-file F]
                               | --storage-topic TOPIC --cluster NAME | --registry NAME)
                              [--dry-run] [--subject S ...]

Versions soft-deleted in the source are imported too and soft-deleted here (their ids still resolve, as
they do there); subject modes (and, for the whole registry, the global mode) are copied after the
versions, except IMPORT.

Exit status: 0 imported (or nothing to import, or a clean dry run), 1 conflicts or a write our registry
refused (nothing changed), 2 a usage or input error or an unreachable source (nothing changed). Always a
message, never a traceback; secrets are read from files and never printed.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.audit import CLI, audit_context
from schemas.errors import RegistryError
from schemas.external.migration import ImportInputError, ImportResult, Status, import_snapshot
from schemas.external.snapshot import RegistrySource, RegistrySourceError

EXIT_OK, EXIT_CONFLICT, EXIT_USAGE = 0, 1, 2
MAX_SECRET_FILE_BYTES = 64 * 1024
MAX_CA_FILE_BYTES = 1024 * 1024


def _usage(message: str) -> CommandError:
    return CommandError(message, returncode=EXIT_USAGE)


def _read_file(name: str, what: str, limit: int) -> str:
    path = Path(name)
    try:
        if path.stat().st_size > limit:
            raise _usage(f"The {what} {name} is larger than {limit} bytes.")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _usage(f"No {what} {name}.") from None
    except IsADirectoryError:
        raise _usage(f"The {what} {name} is a directory.") from None
    except PermissionError:
        raise _usage(f"The {what} {name} cannot be read (permission denied).") from None
    except UnicodeDecodeError:
        raise _usage(f"The {what} {name} is not UTF-8 text.") from None
    except OSError as exc:
        raise _usage(f"The {what} {name} cannot be read: {exc.strerror}.") from None


def _secret(name: str, what: str) -> str:
    value = _read_file(name, what, MAX_SECRET_FILE_BYTES).strip("\r\n")
    if not value:
        raise _usage(f"The {what} {name} is empty.")
    return value


class Command(BaseCommand):
    help = (
        "Import an existing schema registry (Confluent-compatible REST API, or its _schemas storage topic) into "
        "Eventscope's registry, keeping every schema id and version, so clients switch URLs without re-registering. "
        "Exit 0 imported, 1 conflicts (nothing changed), 2 usage or input error or unreachable source."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_argument_group("source (give one)")
        source.add_argument("--url", help="REST URL of the registry, e.g. https://sr.example.com.")
        source.add_argument("--storage-topic", help="Read the registry's storage topic instead (e.g. _schemas).")
        source.add_argument("--registry", help="Name of an external registry configured in Eventscope.")
        parser.add_argument("--username", help="HTTP Basic user for --url (with --password-file).")
        parser.add_argument("--password-file", help="File holding the HTTP Basic password.")
        parser.add_argument("--token-file", help="File holding a bearer token for --url.")
        parser.add_argument("--ca-file", help="PEM file of the CA that signed the registry's TLS certificate.")
        parser.add_argument("--cluster", help="Name of the Eventscope cluster holding --storage-topic.")
        parser.add_argument("--dry-run", action="store_true", help="Report what would be imported; change nothing.")
        parser.add_argument(
            "--subject",
            action="append",
            dest="subjects",
            metavar="S",
            help="Import only this subject (repeat for more); the versions it references come along.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source = self._source(options)
        try:
            self.stdout.write(f"Reading {source.description} ...")
            try:
                snapshot = source.fetch()
            except RegistrySourceError as exc:
                raise _usage(str(exc)) from None
            self.stdout.write(
                f"Read {len(snapshot.all_subjects)} subjects, {len(snapshot.versions)} live versions, "
                f"{len(snapshot.deleted_versions)} soft-deleted versions, {len(snapshot.schemas)} schemas."
            )
            try:
                who = getpass.getuser()
            except (KeyError, OSError):
                who = "unknown"
            with audit_context(CLI, actor_name=f"{who} (manage.py import_registry)"):
                try:
                    result = import_snapshot(
                        snapshot,
                        dry_run=options["dry_run"],
                        subjects=options["subjects"],
                        source=source.description,
                        progress=lambda line: self.stdout.write(f"  {line}"),
                    )
                except ImportInputError as exc:
                    raise _usage(str(exc)) from None
                except RegistryError as exc:
                    raise CommandError(
                        f"Eventscope's registry refused the import: {exc.message} Nothing was imported.",
                        returncode=EXIT_CONFLICT,
                    ) from None
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
        self._report(result)

    # -- the source ---------------------------------------------------------------------------------
    def _source(self, options: dict[str, Any]) -> RegistrySource:
        chosen = [name for name in ("url", "storage_topic", "registry") if options[name]]
        if len(chosen) != 1:
            raise _usage("Give one source: --url URL, --storage-topic TOPIC --cluster NAME, or --registry NAME.")
        rest_only = [flag for flag in ("username", "password_file", "token_file", "ca_file") if options[flag]]
        if not options["url"] and rest_only:
            flags = ", ".join("--" + flag.replace("_", "-") for flag in rest_only)
            raise _usage(f"{flags} go with --url only.")
        if options["cluster"] and not options["storage_topic"]:
            raise _usage("--cluster goes with --storage-topic only.")
        if options["url"]:
            return self._rest_source(options)
        if options["storage_topic"]:
            return self._topic_source(options)
        return self._configured_source(options["registry"])

    def _rest_source(self, options: dict[str, Any]) -> RegistrySource:
        from schemas.external.rest import RestRegistrySource

        username, password_file, token_file = options["username"], options["password_file"], options["token_file"]
        if token_file and (username or password_file):
            raise _usage("Give --token-file or --username with --password-file, not both.")
        if bool(username) != bool(password_file):
            raise _usage("--username and --password-file go together.")
        password = _secret(password_file, "password file") if password_file else None
        token = _secret(token_file, "token file") if token_file else None
        ca_pem = _read_file(options["ca_file"], "CA file", MAX_CA_FILE_BYTES) if options["ca_file"] else None
        if ca_pem is not None and "-----BEGIN CERTIFICATE-----" not in ca_pem:
            raise _usage(f"The CA file {options['ca_file']} holds no PEM certificate.")
        try:
            return RestRegistrySource(
                options["url"], username=username, password=password, bearer_token=token, ca_pem=ca_pem
            )
        except RegistrySourceError as exc:
            raise _usage(str(exc)) from None

    def _topic_source(self, options: dict[str, Any]) -> RegistrySource:
        from catalog.models import Cluster
        from schemas.external.storage_topic import StorageTopicSource

        if not options["cluster"]:
            raise _usage("--storage-topic needs --cluster NAME (the Eventscope cluster holding the topic).")
        cluster = Cluster.objects.filter(name=options["cluster"]).first()
        if cluster is None:
            known = ", ".join(Cluster.objects.values_list("name", flat=True)) or "none"
            raise _usage(f"No cluster named {options['cluster']!r} (known: {known}).")
        return StorageTopicSource(cluster.connection(), topic=options["storage_topic"])

    def _configured_source(self, name: str) -> RegistrySource:
        from schemas.external.mirror import external_registry_source
        from schemas.models_external import ExternalRegistry

        registry = ExternalRegistry.objects.select_related("cluster").filter(name=name).first()
        if registry is None:
            known = ", ".join(ExternalRegistry.objects.values_list("name", flat=True)) or "none"
            raise _usage(f"No external registry named {name!r} (known: {known}).")
        try:
            return external_registry_source(registry)
        except RegistrySourceError as exc:
            raise _usage(str(exc)) from None

    # -- the report ---------------------------------------------------------------------------------
    def _report(self, result: ImportResult) -> None:
        plan = result.plan
        dry = result.dry_run
        rows = [
            (
                action.subject,
                str(action.version),
                str(action.schema_id),
                action.schema_type,
                _status(action.status, dry=dry or bool(plan.conflicts), deleted=action.deleted),
            )
            for action in plan.versions
        ]
        rows += [
            (
                config.subject or "(global)",
                "",
                "",
                f"compatibility {config.compatibility}",
                _status(config.status, dry=dry or bool(plan.conflicts), done="set"),
            )
            for config in plan.configs
        ]
        rows += [
            (
                mode.subject or "(global)",
                "",
                "",
                f"mode {mode.mode}",
                _status(mode.status, dry=dry or bool(plan.conflicts), done="set"),
            )
            for mode in plan.modes
        ]
        if rows:
            header = ("SUBJECT", "VERSION", "ID", "TYPE", "STATUS")
            widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
            self.stdout.write("")
            for row in [header, *rows]:
                self.stdout.write(
                    "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
                )
            self.stdout.write("")
        imported, present = len(plan.to_import), len(plan.present)
        configs = len(plan.configs_to_set)
        soft = len(plan.to_import_deleted)
        as_deleted = f", {soft} of them as soft-deleted" if soft else ""
        modes = len(plan.modes_to_set)
        and_modes = f" and {_count(modes, 'mode')}" if modes else ""
        if plan.conflicts:
            self.stderr.write(f"{len(plan.conflicts)} conflict(s); nothing was imported:")
            for conflict in plan.conflicts:
                self.stderr.write(f"  - {conflict.message}")
            raise CommandError("Resolve the conflicts above and run the import again.", returncode=EXIT_CONFLICT)
        if dry:
            self.stdout.write(
                f"Dry run: would import {_count(imported, 'version')} ({_count(len(plan.new_schema_ids), 'schema id')})"
                f"{as_deleted} and set {_count(configs, 'compatibility level')}{and_modes}; "
                f"{_count(present, 'version')} already present. Nothing was changed."
            )
            return
        if not result.applied:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Nothing to import: all {_count(present, 'version')} already present in Eventscope."
                )
            )
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {_count(imported, 'version')} ({_count(len(plan.new_schema_ids), 'schema id')}){as_deleted} "
                f"from {result.source} and set {_count(configs, 'compatibility level')}{and_modes}; "
                f"{_count(present, 'version')} already present."
            )
        )


def _status(status: Status, *, dry: bool, done: str = "imported", deleted: bool = False) -> str:
    """A row's status: "imported" (or "set"), "would import" (or "would set") when nothing is written;
    a version soft-deleted in the source is imported "as soft-deleted"."""
    suffix = " as soft-deleted" if deleted else ""
    if status == Status.PRESENT and deleted:
        return f"{status} (soft-deleted)"
    if status != Status.IMPORT:
        return str(status)
    if not dry:
        return done + suffix
    return "would set" if done == "set" else "would import" + suffix


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
