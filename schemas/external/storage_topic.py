"""A registry read from its Kafka storage topic (`_schemas`), for registries whose REST endpoint is out of reach.

Confluent's Schema Registry (and its Python peers such as Karapace) keep all their state in one
compacted topic: JSON keys naming what a record is about, JSON values with its latest content, the
later record winning per key. `fold_storage_records` replays such records into a RegistrySnapshot
(pure, no I/O; soft-deleted versions in its `deleted_versions`, with their texts); `StorageTopicSource`
reads the topic through the Kafka gateway and folds it.

The record kinds, as the registry writes them:
- SCHEMA  key {"keytype","subject","version","magic":1}; value {"subject","version","id","schema",
  "schemaType" (absent: AVRO),"references":[{"name","subject","version"}],"deleted"}. A value whose
  id is already held by another version with a different text is ignored, as the registry does.
- CONFIG  key {"keytype","subject" (absent or null: global),"magic":0}; value {"compatibilityLevel"}.
- MODE    key like CONFIG; value {"mode"}.
- DELETE_SUBJECT value {"subject","version"}: versions 1..version of the subject are soft-deleted.
- CLEAR_SUBJECT  value {"subject"}: the subject's soft-deleted versions are gone for good.
- NOOP (and kinds this reader does not know, such as contexts): nothing to fold.
A null value (tombstone) removes its key: a hard-deleted version, a deleted config or mode.
Keys are compared by their parsed fields, not their bytes: writers differ in JSON spacing and order.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from eventscope.kafka import (
    ClusterConnection,
    KafkaAuthenticationError,
    KafkaAuthorizationError,
    KafkaConfigurationError,
    KafkaGatewayError,
    KafkaUnavailableError,
    UnknownTopicError,
    read_topic_to_end,
)
from schemas.external.snapshot import (
    ExternalReference,
    ExternalSchema,
    ExternalVersion,
    RegistrySnapshot,
    RegistrySourceError,
)

__all__ = ["DEFAULT_STORAGE_TOPIC", "StorageTopicSource", "fold_storage_records"]

logger = logging.getLogger(__name__)

DEFAULT_STORAGE_TOPIC = "_schemas"
_SCHEMA_TYPES = ("AVRO", "JSON", "PROTOBUF")

Raw = bytes | str | None


@dataclass
class _StoredVersion:
    schema_id: int
    text: str
    schema_type: str
    references: tuple[ExternalReference, ...]
    deleted: bool


def _json_object(raw: Raw) -> dict[str, Any] | None:
    """The record part as a JSON object, or None when it is not one (a record of no registry)."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _subject(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _stored_version(value: dict[str, Any]) -> _StoredVersion | None:
    schema_id, text = _positive_int(value.get("id")), value.get("schema")
    schema_type = value.get("schemaType") or "AVRO"
    if schema_id is None or not isinstance(text, str) or schema_type not in _SCHEMA_TYPES:
        return None
    references = []
    for ref in value.get("references") or ():
        if not isinstance(ref, dict):
            return None
        name, subject, version = ref.get("name"), _subject(ref.get("subject")), _positive_int(ref.get("version"))
        if not isinstance(name, str) or subject is None or version is None:
            return None
        references.append(ExternalReference(name=name, subject=subject, version=version))
    return _StoredVersion(schema_id, text, schema_type, tuple(references), bool(value.get("deleted", False)))


class _Fold:
    """The registry's state while its records are replayed in order."""

    def __init__(self) -> None:
        self.versions: dict[tuple[str, int], _StoredVersion] = {}
        self.holders: dict[int, set[tuple[str, int]]] = {}  # schema id -> the versions that hold it
        self.configs: dict[str | None, str] = {}
        self.modes: dict[str | None, str] = {}
        self.recognized = 0
        self.skipped = 0

    def apply(self, raw_key: Raw, raw_value: Raw) -> None:
        key = _json_object(raw_key)
        kind = key.get("keytype") if key is not None else None
        if not isinstance(kind, str):
            self.skipped += 1
            return
        value = _json_object(raw_value)
        if raw_value is not None and value is None:
            self.skipped += 1
            return
        handler = self._HANDLERS.get(kind)
        if handler is None:
            # NOOP (the registry's own sync marker) and kinds such as CONTEXT hold nothing to fold.
            self.recognized += 1
            return
        if handler(self, key, value) is False:
            self.skipped += 1
        else:
            self.recognized += 1

    # -- record kinds -------------------------------------------------------------------------
    def _schema(self, key: dict[str, Any], value: dict[str, Any] | None) -> bool:
        subject, version = _subject(key.get("subject")), _positive_int(key.get("version"))
        if subject is None or version is None:
            return False
        if value is None:  # tombstone: the version is gone for good (a hard delete)
            self._remove((subject, version))
            return True
        stored = _stored_version(value)
        if stored is None:
            return False
        for holder in self.holders.get(stored.schema_id, ()):
            if holder != (subject, version) and self.versions[holder].text != stored.text:
                # The registry refuses a second schema under a used id; so does its replay.
                logger.warning(
                    "storage topic: schema id %d reused by %s v%d; ignored", stored.schema_id, subject, version
                )
                return True
        self._remove((subject, version))
        self.versions[(subject, version)] = stored
        self.holders.setdefault(stored.schema_id, set()).add((subject, version))
        return True

    def _delete_subject(self, key: dict[str, Any], value: dict[str, Any] | None) -> bool:
        if value is None:
            return True
        subject = _subject(value.get("subject")) or _subject(key.get("subject"))
        up_to = _positive_int(value.get("version"))
        if subject is None or up_to is None:
            return False
        for (name, version), stored in self.versions.items():
            if name == subject and version <= up_to:
                stored.deleted = True
        return True

    def _clear_subject(self, key: dict[str, Any], value: dict[str, Any] | None) -> bool:
        if value is None:
            return True
        subject = _subject(value.get("subject")) or _subject(key.get("subject"))
        if subject is None:
            return False
        for found in [k for k, stored in self.versions.items() if k[0] == subject and stored.deleted]:
            self._remove(found)
        return True

    def _config(self, key: dict[str, Any], value: dict[str, Any] | None) -> bool:
        return self._setting(self.configs, key, value, "compatibilityLevel")

    def _mode(self, key: dict[str, Any], value: dict[str, Any] | None) -> bool:
        return self._setting(self.modes, key, value, "mode")

    _HANDLERS: dict[str, Callable[[_Fold, dict[str, Any], dict[str, Any] | None], bool]] = {
        "SCHEMA": _schema,
        "DELETE_SUBJECT": _delete_subject,
        "CLEAR_SUBJECT": _clear_subject,
        "CONFIG": _config,
        "MODE": _mode,
    }

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _setting(table: dict[str | None, str], key: dict[str, Any], value: dict[str, Any] | None, field: str) -> bool:
        subject = key.get("subject")
        if subject is not None and _subject(subject) is None:
            return False
        setting = value.get(field) if value is not None else None
        if isinstance(setting, str) and setting:
            table[subject] = setting.upper()
        elif value is None or field not in value or setting is None:
            table.pop(subject, None)  # deleted, or a value without this setting
        else:
            return False
        return True

    def _remove(self, key: tuple[str, int]) -> None:
        stored = self.versions.pop(key, None)
        if stored is not None:
            holders = self.holders.get(stored.schema_id, set())
            holders.discard(key)
            if not holders:
                self.holders.pop(stored.schema_id, None)

    def snapshot(self, known_schema_ids: frozenset[int]) -> RegistrySnapshot:
        held = sorted(self.versions.items(), key=lambda item: item[0])
        live = tuple(ExternalVersion(s, v, stored.schema_id) for (s, v), stored in held if not stored.deleted)
        deleted = tuple(ExternalVersion(s, v, stored.schema_id) for (s, v), stored in held if stored.deleted)
        schemas = {
            stored.schema_id: ExternalSchema(
                id=stored.schema_id, schema=stored.text, schema_type=stored.schema_type, references=stored.references
            )
            for _key, stored in held
            if stored.schema_id not in known_schema_ids
        }
        return RegistrySnapshot(
            versions=live,
            schemas=schemas,
            global_compatibility=self.configs.get(None),
            subject_compatibility={s: level for s, level in self.configs.items() if s is not None},
            global_mode=self.modes.get(None),
            subject_modes={s: mode for s, mode in self.modes.items() if s is not None},
            deleted_versions=deleted,
        )


def fold_storage_records(
    records: Iterable[tuple[Raw, Raw]], *, known_schema_ids: frozenset[int] = frozenset()
) -> RegistrySnapshot:
    """Replay storage-topic records (key, value), in topic order, into the registry's contents.

    Versions marked deleted (by their own record or a DELETE_SUBJECT) come out as `deleted_versions`; a
    CLEAR_SUBJECT or a tombstone removes them.

    Records that are not a registry's (no JSON key with a keytype, or a value that does not parse)
    are skipped and counted in the log; texts of ids in `known_schema_ids` are left out.
    """
    snapshot, fold = _fold_counting(records, known_schema_ids)
    if fold.skipped:
        logger.warning("storage topic: %d records skipped as not a schema registry's", fold.skipped)
    return snapshot


def _fold_counting(
    records: Iterable[tuple[Raw, Raw]], known_schema_ids: frozenset[int]
) -> tuple[RegistrySnapshot, _Fold]:
    fold = _Fold()
    for raw_key, raw_value in records:
        fold.apply(raw_key, raw_value)
    return fold.snapshot(known_schema_ids), fold


class StorageTopicSource:
    """A registry read from its storage topic on a Kafka cluster (RegistrySource)."""

    def __init__(self, connection: ClusterConnection, topic: str = DEFAULT_STORAGE_TOPIC):
        self.connection = connection
        self.topic = topic
        self.description = f"{topic} on {connection.bootstrap_servers}"

    def fetch(self, known_schema_ids: frozenset[int] = frozenset()) -> RegistrySnapshot:
        """Replay the topic up to its end offsets at the start; RegistrySourceError with a clear message."""
        where = self.description
        try:
            records = read_topic_to_end(self.connection, self.topic)
        except UnknownTopicError:
            raise RegistrySourceError(
                f"Topic {self.topic} does not exist on {self.connection.bootstrap_servers}; "
                "give the registry's storage topic (its kafkastore.topic setting)."
            ) from None
        except KafkaAuthenticationError as exc:
            raise RegistrySourceError(f"The cluster refused the credentials while reading {where}: {exc}") from None
        except KafkaAuthorizationError as exc:
            raise RegistrySourceError(f"Not allowed to read {where}: {exc}") from None
        except KafkaConfigurationError as exc:
            raise RegistrySourceError(f"The connection settings for {where} cannot work: {exc}") from None
        except KafkaUnavailableError as exc:
            raise RegistrySourceError(f"Could not reach the Kafka cluster to read {where}: {exc}") from None
        except KafkaGatewayError as exc:
            raise RegistrySourceError(f"Reading {where} failed: {exc}") from None
        snapshot, fold = _fold_counting(records, known_schema_ids)
        if records and not fold.recognized:
            raise RegistrySourceError(
                f"{where} holds {len(records)} records but none is a schema registry's; is it the storage topic?"
            )
        if fold.skipped:
            logger.warning("%s: %d records skipped as not a schema registry's", where, fold.skipped)
        return snapshot
