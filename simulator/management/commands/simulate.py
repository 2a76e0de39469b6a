"""`manage.py simulate`: run the demo shop on Kafka (options in, progress out; the engine is simulator.shop)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from simulator.schemas import RegistryConnection
from simulator.shop import Shop, ShopConfig, ShopConfigError, ShopError, ShopProgress
from simulator.topology import CONSUMER_SERVICES

REGISTRY_URL_ENV = "EVENTSCOPE_REGISTRY_URL"
REGISTRY_USER_ENV = "EVENTSCOPE_REGISTRY_USER"
REGISTRY_PASSWORD_ENV = "EVENTSCOPE_REGISTRY_PASSWORD"  # noqa: S105 (the variable's name, not a password)


class Command(BaseCommand):
    help = (
        "Run the demo shop on Kafka: orders, inventory, payments, shipping, notifications and analytics, each a "
        "real consumer group. Stops after --duration seconds, after --orders N orders once everything is "
        "processed, or on Ctrl-C (every service commits what it processed)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        # The engine's defaults are the command's: one source of truth.
        defaults = SimpleNamespace(**{option.name: option.default for option in fields(ShopConfig)})
        parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: settings.KAFKA_BOOTSTRAP_SERVERS)")
        parser.add_argument("--rate", type=float, default=defaults.rate, help="orders per second (default %(default)s)")
        parser.add_argument(
            "--duration",
            type=float,
            default=defaults.duration_s,
            help="stop after this many seconds; 0 runs until Ctrl-C or, with --orders, until drained (default 0)",
        )
        parser.add_argument(
            "--orders",
            type=int,
            default=defaults.order_limit,
            help="place this many orders, wait until every service has processed them, then stop (default: no limit)",
        )
        parser.add_argument(
            "--processing-ms",
            type=float,
            default=defaults.processing_ms,
            help="simulated processing time per record of every consuming service (default %(default)s)",
        )
        parser.add_argument(
            "--processing",
            action="append",
            default=[],
            metavar="SERVICE=MS",
            help=f"processing time of one service, repeatable; services: {', '.join(CONSUMER_SERVICES)}",
        )
        parser.add_argument(
            "--failure-rate",
            type=float,
            default=defaults.failure_rate,
            help="chance (0..1) that a service fails on a record, which then goes to the dead-letter topic "
            "(default %(default)s)",
        )
        parser.add_argument(
            "--slow-consumer",
            metavar="SERVICE",
            help=f"the deliberately slow consumer, to make lag (default {defaults.slow_consumer})",
        )
        parser.add_argument(
            "--slow-ms",
            type=float,
            default=defaults.slow_ms,
            help="extra per-record processing time of the slow consumer; 0 means none is slow (default 0)",
        )
        parser.add_argument("--seed", type=int, help="makes orders, correlation ids and outcomes repeatable")
        parser.add_argument(
            "--topic-prefix",
            default=defaults.topic_prefix,
            help="prepended verbatim to every topic name, separator included (default %(default)s)",
        )
        parser.add_argument("--group-prefix", help="prepended to every consumer group id (default: the topic prefix)")
        parser.add_argument(
            "--partitions",
            type=int,
            default=defaults.partitions,
            help="partitions of the topics the run creates; existing topics are left alone (default %(default)s)",
        )
        parser.add_argument(
            "--progress-interval",
            type=float,
            default=defaults.progress_interval_s,
            help="seconds between progress lines; 0 for none (default %(default)s)",
        )
        add_registry_arguments(
            parser,
            url_help="schema registry (e.g. http://127.0.0.1:8000/registry): register the shop's schemas there and "
            "write the header-correlated topics in Avro through it; without it everything is plain JSON",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["slow_consumer"] is not None and not options["slow_ms"]:
            raise CommandError("--slow-consumer has no effect without --slow-ms (the extra time per record)")
        registry = registry_connection(options)
        seed_options = {} if options["seed"] is None else {"seed": options["seed"]}
        slow_options = {} if options["slow_consumer"] is None else {"slow_consumer": options["slow_consumer"]}
        try:
            config = ShopConfig(
                bootstrap_servers=options["bootstrap"] or settings.KAFKA_BOOTSTRAP_SERVERS,
                rate=options["rate"],
                duration_s=options["duration"],
                order_limit=options["orders"],
                processing_ms=options["processing_ms"],
                processing_overrides=parse_processing_overrides(options["processing"]),
                failure_rate=options["failure_rate"],
                slow_ms=options["slow_ms"],
                topic_prefix=options["topic_prefix"],
                group_prefix=options["group_prefix"],
                partitions=options["partitions"],
                progress_interval_s=options["progress_interval"],
                connect_timeout_s=settings.KAFKA_REQUEST_TIMEOUT_S,
                registry=registry,
                **seed_options,
                **slow_options,
            )
        except ShopConfigError as exc:
            raise CommandError(str(exc)) from exc

        self.stdout.write(
            f"Shop on {config.bootstrap_servers}: topics {config.topic('*')}, groups {config.group_id('*')}, "
            f"{config.rate:g} orders/s, seed {config.seed}. Ctrl-C stops cleanly."
        )
        if registry is not None:
            who = f" as {registry.user}" if registry.user else ""
            self.stdout.write(
                f"Schema registry {registry.url}{who}: the shop's schemas are registered there at start, "
                "and the header-correlated topics are written in Avro through it."
            )
        shop = Shop(config, on_progress=self._write_progress)
        try:
            with _stop_on_signals(shop):
                report = shop.run()
        except ShopError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(report.describe())

    def _write_progress(self, progress: ShopProgress) -> None:
        self.stdout.write(progress.describe())
        self.stdout.flush()


def add_registry_arguments(parser: CommandParser, *, url_help: str) -> None:
    """--registry-url, --registry-user and --registry-password-file, each defaulting to its environment variable."""
    parser.add_argument("--registry-url", help=f"{url_help} (default: ${REGISTRY_URL_ENV})")
    parser.add_argument("--registry-user", help=f"HTTP Basic user at the registry (default: ${REGISTRY_USER_ENV})")
    parser.add_argument(
        "--registry-password-file",
        metavar="FILE",
        help=f"file holding the registry user's password (default: ${REGISTRY_PASSWORD_ENV})",
    )


def registry_connection(options: dict[str, Any]) -> RegistryConnection | None:
    """The registry from the options, else the environment; None without a URL. CommandError if incomplete.

    The password comes from a file or the environment, never from the command line (where `ps` shows it).
    """
    url = options.get("registry_url") or os.environ.get(REGISTRY_URL_ENV, "")
    user = options.get("registry_user") or os.environ.get(REGISTRY_USER_ENV) or None
    password_file = options.get("registry_password_file")
    if not url.strip():
        if options.get("registry_user") or password_file:
            raise CommandError("--registry-user and --registry-password-file need --registry-url")
        return None  # a user or password in the environment alone does not turn the registry on
    password = None
    if password_file:
        try:
            with open(password_file, encoding="utf-8") as handle:
                password = handle.read().rstrip("\r\n")
        except OSError as exc:
            raise CommandError(f"cannot read the registry password file {password_file}: {exc.strerror}") from None
    elif REGISTRY_PASSWORD_ENV in os.environ:
        password = os.environ[REGISTRY_PASSWORD_ENV]
    if user is not None and not password:
        raise CommandError(
            f"the registry user {user!r} needs a password: --registry-password-file or ${REGISTRY_PASSWORD_ENV}"
        )
    if password and user is None:
        raise CommandError(f"a registry password needs a user: --registry-user or ${REGISTRY_USER_ENV}")
    try:
        return RegistryConnection(url=url.strip(), user=user, password=password)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def parse_processing_overrides(values: list[str]) -> dict[str, float]:
    """`["inventory=5", "payments=20"]` -> `{"inventory": 5.0, "payments": 20.0}`; CommandError if malformed."""
    overrides = {}
    for value in values:
        service, _, milliseconds = value.partition("=")
        try:
            overrides[service.strip()] = float(milliseconds)  # "" (no "=") is not a float either
        except ValueError:
            raise CommandError(f"--processing takes SERVICE=MS (e.g. inventory=20), got {value!r}") from None
    return overrides


@contextmanager
def _stop_on_signals(shop: Shop) -> Iterator[None]:
    """Ctrl-C and SIGTERM stop the shop cleanly instead of interrupting it mid-batch; a second one
    gets the signal's usual effect, for when a clean stop hangs (e.g. the broker went away)."""
    if threading.current_thread() is not threading.main_thread():
        # Only the main thread may install handlers; elsewhere the caller stops the shop itself.
        yield
        return

    def request_stop(signum: int, frame: object) -> None:
        signal.signal(signum, previous[signum])
        shop.request_stop()

    # signal.signal returns None for a handler installed outside Python; SIG_DFL is its usual effect.
    previous = {
        signum: signal.signal(signum, request_stop) or signal.SIG_DFL for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
