"""Domain errors of the schema registry, each carrying Confluent's error code.

Services and selectors raise these; the REST layer (`schemas.registry.errors`) turns them into
`{"error_code", "message"}` bodies, and pages show the message. The HTTP status follows from the
code as in Confluent's registry: a five-digit code's first three digits (40401 -> 404,
42201 -> 422), a three-digit code itself (409).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "IncompatibleSchemaError",
    "InvalidCompatibilityLevelError",
    "InvalidModeError",
    "InvalidSchemaError",
    "InvalidSubjectError",
    "InvalidVersionError",
    "OperationNotPermittedError",
    "ReferenceExistsError",
    "RegistryError",
    "SchemaNotFoundError",
    "SchemaTooLargeError",
    "SubjectCompatibilityNotConfiguredError",
    "SubjectModeNotConfiguredError",
    "SubjectNotFoundError",
    "SubjectNotSoftDeletedError",
    "SubjectSoftDeletedError",
    "VersionNotFoundError",
    "VersionNotSoftDeletedError",
    "VersionSoftDeletedError",
]


class RegistryError(Exception):
    """A request the registry refuses; `error_code` is Confluent's code for it."""

    error_code: int = 50001
    default_message: str = "Error in the backend data store"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    @property
    def http_status(self) -> int:
        return self.error_code if self.error_code < 1000 else self.error_code // 100


# --- 404 ------------------------------------------------------------------------------------------
class SubjectNotFoundError(RegistryError):
    error_code = 40401
    default_message = "Subject not found"


class VersionNotFoundError(RegistryError):
    error_code = 40402
    default_message = "Version not found"


class SchemaNotFoundError(RegistryError):
    error_code = 40403
    default_message = "Schema not found"


class SubjectSoftDeletedError(RegistryError):
    error_code = 40404
    default_message = "Subject was soft deleted; set permanent=true to delete it permanently"


class SubjectNotSoftDeletedError(RegistryError):
    error_code = 40405
    default_message = "Subject must be soft deleted before it is deleted permanently"


class VersionSoftDeletedError(RegistryError):
    error_code = 40406
    default_message = "Version was soft deleted; set permanent=true to delete it permanently"


class VersionNotSoftDeletedError(RegistryError):
    error_code = 40407
    default_message = "Version must be soft deleted before it is deleted permanently"


class SubjectCompatibilityNotConfiguredError(RegistryError):
    error_code = 40408
    default_message = "Subject has no compatibility level of its own"


class SubjectModeNotConfiguredError(RegistryError):
    error_code = 40409
    default_message = "Subject has no mode of its own"


# --- 409 ------------------------------------------------------------------------------------------
class IncompatibleSchemaError(RegistryError):
    """The schema breaks the subject's compatibility level; `messages` says how."""

    error_code = 409
    default_message = "Schema being registered is incompatible with an earlier schema"

    def __init__(self, messages: Sequence[str], level: str) -> None:
        self.messages = list(messages)
        self.level = level
        summary = "; ".join(self.messages) if self.messages else "no details"
        super().__init__(f"{self.default_message} for subject compatibility level {level}: {summary}")


# --- 422 ------------------------------------------------------------------------------------------
class InvalidSchemaError(RegistryError):
    error_code = 42201
    default_message = "Invalid schema"


class SchemaPolicyViolationError(RegistryError):
    """The schema breaks a schema policy of severity error (governance.policies); `violations` says which."""

    error_code = 42201
    default_message = "Schema violates a schema policy"

    def __init__(self, violations) -> None:
        self.violations = list(violations)
        summary = "; ".join(f"policy '{v.rule}': {v.message}" for v in self.violations)
        super().__init__(f"{self.default_message}: {summary}")


class InvalidVersionError(RegistryError):
    error_code = 42202
    default_message = (
        "The specified version is not a valid version id. "
        'Allowed values are between [1, 2^31-1] and the string "latest"'
    )


class InvalidCompatibilityLevelError(RegistryError):
    error_code = 42203
    default_message = "Invalid compatibility level"


class InvalidModeError(RegistryError):
    error_code = 42204
    default_message = "Invalid mode"


class OperationNotPermittedError(RegistryError):
    error_code = 42205
    default_message = "Operation not permitted"


class ReferenceExistsError(RegistryError):
    error_code = 42206
    default_message = "One or more references exist to the schema"


class InvalidSubjectError(RegistryError):
    error_code = 42208
    default_message = "Invalid subject"


class SchemaTooLargeError(RegistryError):
    error_code = 42209
    default_message = "Schema is too large"
