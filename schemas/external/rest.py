"""A RegistrySource over the REST API of a Confluent-compatible schema registry (Confluent's, Eventscope's, peers).

Reads: GET /subjects?deleted=true, /subjects/{s}/versions?deleted=true, /subjects/{s}/versions/{v} (id, type,
references and text; a version that answers only with ?deleted=true is soft-deleted, as in Confluent's
registry), /schemas/ids/{id} for an id first seen without its text, /config, /config/{s}?defaultToGlobal=false,
/mode and /mode/{s}?defaultToGlobal=false. Texts of ids the caller already holds (`known_schema_ids`) are left
out of the snapshot. `check_compatibility` asks the registry's own compatibility endpoint.

Every failure is a RegistrySourceError whose message names the registry (its URL without credentials) and
what went wrong; the password and the bearer token never appear in a message or a log line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests

from .snapshot import ExternalReference, ExternalSchema, ExternalVersion, RegistrySnapshot, RegistrySourceError

__all__ = ["RestRegistrySource", "public_url"]

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
NOT_CONFIGURED = (40401, 40408, 40409)  # subject not found, no subject-level config, no subject-level mode


def public_url(url: str) -> str:
    """The URL as shown to people: without any user:password@ part, without a trailing slash."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", "")).rstrip("/")


class RestRegistrySource:
    """Reads one registry over HTTP(S). Thread-unsafe (one requests.Session); make one per sync."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        bearer_token: str | None = None,
        ca_pem: str | None = None,
        timeout_s: float = 10,
    ) -> None:
        parts = urlsplit((url or "").strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RegistrySourceError(f"Registry URL {url!r} is not an http:// or https:// URL.")
        if parts.username and not username:  # credentials in the URL: move them to the auth header
            username, password = parts.username, parts.password or ""
        self.base_url = public_url(url)
        self.description = self.base_url
        self.timeout_s = timeout_s
        self._session = requests.Session()
        self._session.headers.update({"Accept": f"{CONTENT_TYPE}, application/json"})
        self._session.trust_env = False  # no proxy or netrc credentials from the environment
        if bearer_token:
            self._session.headers["Authorization"] = f"Bearer {bearer_token}"
        elif username:
            self._session.auth = (username, password or "")
        self._ca_file: str | None = None
        if ca_pem and ca_pem.strip():
            handle, self._ca_file = tempfile.mkstemp(prefix="eventscope-registry-ca-", suffix=".pem")
            with os.fdopen(handle, "w") as file:
                file.write(ca_pem)
            self._session.verify = self._ca_file

    # -- lifecycle ------------------------------------------------------------------------------------
    def close(self) -> None:
        self._session.close()
        if self._ca_file:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._ca_file)
            self._ca_file = None

    def __enter__(self) -> RestRegistrySource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten close still removes the CA file
        if getattr(self, "_ca_file", None):
            self.close()

    # -- HTTP -----------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, body: Any = None, allow: Sequence[int] = ()) -> tuple[int, Any]:
        """(status, JSON body); raises RegistrySourceError on transport errors, refusals and non-JSON answers.

        Error codes in `allow` (Confluent's error_code, such as 40408) come back as (404, body) instead.
        """
        url = f"{self.base_url}{path}"
        where = f"{self.description}{path.split('?')[0]}"
        try:
            response = self._session.request(
                method,
                url,
                json=body,
                headers={"Content-Type": CONTENT_TYPE} if body is not None else None,
                timeout=self.timeout_s,
                allow_redirects=False,
            )
        except requests.exceptions.SSLError as exc:
            raise RegistrySourceError(
                f"TLS to {self.description} failed (check the CA certificate): {_reason(exc)}"
            ) from None
        except requests.exceptions.Timeout:
            raise RegistrySourceError(f"{self.description} did not answer within {self.timeout_s:g} s.") from None
        except requests.exceptions.ConnectionError as exc:
            raise RegistrySourceError(f"{self.description} is unreachable: {_reason(exc)}") from None
        except requests.exceptions.RequestException as exc:
            raise RegistrySourceError(f"Request to {where} failed: {type(exc).__name__}") from None
        status = response.status_code
        if status in (401, 403):
            raise RegistrySourceError(
                f"{self.description} refused the credentials (HTTP {status}): check the username and password "
                "or the token."
            )
        try:
            data = response.json()
        except ValueError:
            raise RegistrySourceError(
                f"{where} answered HTTP {status} with something that is not JSON: is this the registry's URL?"
            ) from None
        if status >= 400:
            code = data.get("error_code") if isinstance(data, dict) else None
            if code in allow:
                return status, data
            message = data.get("message") if isinstance(data, dict) else None
            raise RegistrySourceError(f"{where} answered HTTP {status}: {str(message or data)[:300]}")
        return status, data

    def _get(self, path: str, *, allow: Sequence[int] = ()) -> tuple[int, Any]:
        return self._request("GET", path, allow=allow)

    # -- reading --------------------------------------------------------------------------------------
    def fetch(self, known_schema_ids: frozenset[int] = frozenset()) -> RegistrySnapshot:
        _, subjects = self._get("/subjects?deleted=true")
        if not isinstance(subjects, list) or not all(isinstance(s, str) for s in subjects):
            raise RegistrySourceError(f"{self.description}/subjects did not answer a list of subject names.")
        versions: list[ExternalVersion] = []
        deleted_versions: list[ExternalVersion] = []
        schemas: dict[int, ExternalSchema] = {}
        subject_compatibility: dict[str, str] = {}
        subject_modes: dict[str, str] = {}
        for subject in sorted(set(subjects)):
            path = f"/subjects/{_segment(subject)}"
            status, numbers = self._get(f"{path}/versions?deleted=true", allow=(40401,))
            if status == 404:
                continue  # deleted between the two calls
            for number in _ints(numbers, f"{self.description}{path}/versions"):
                # A live version answers without ?deleted=true; a soft-deleted one only with it (one more
                # request per soft-deleted version, none per live one).
                deleted = False
                status, item = self._get(f"{path}/versions/{number}", allow=(40401, 40402))
                if status == 404:
                    deleted = True
                    status, item = self._get(f"{path}/versions/{number}?deleted=true", allow=(40401, 40402))
                    if status == 404:
                        continue  # permanently deleted meanwhile
                schema_id = _int(item, "id", f"{self.description}{path}/versions/{number}")
                (deleted_versions if deleted else versions).append(ExternalVersion(subject, number, schema_id))
                if schema_id not in known_schema_ids and schema_id not in schemas and "schema" in item:
                    schemas[schema_id] = _schema(schema_id, item)
            level = self._subject_setting("config", subject, "compatibilityLevel", "compatibility")
            if level:
                subject_compatibility[subject] = level
            mode = self._subject_setting("mode", subject, "mode")
            if mode:
                subject_modes[subject] = mode
        every_id = {v.schema_id for v in versions} | {v.schema_id for v in deleted_versions}
        for schema_id in sorted(every_id - set(schemas) - set(known_schema_ids)):
            _, item = self._get(f"/schemas/ids/{schema_id}")
            schemas[schema_id] = _schema(schema_id, item)
        _, config = self._get("/config")
        _, mode = self._get("/mode", allow=(40401, 404))
        return RegistrySnapshot(
            versions=tuple(versions),
            schemas=schemas,
            global_compatibility=_text(config, "compatibilityLevel", "compatibility"),
            subject_compatibility=subject_compatibility,
            global_mode=_text(mode, "mode"),
            subject_modes=subject_modes,
            deleted_versions=tuple(deleted_versions),
        )

    def _subject_setting(self, resource: str, subject: str, *keys: str) -> str | None:
        status, body = self._get(f"/{resource}/{_segment(subject)}?defaultToGlobal=false", allow=NOT_CONFIGURED)
        return None if status == 404 else _text(body, *keys)

    def check_compatibility(
        self,
        subject: str,
        schema: str,
        schema_type: str = "AVRO",
        references: Iterable[ExternalReference | dict[str, Any]] = (),
    ) -> tuple[bool, list[str]]:
        """The registry's own verdict on registering `schema` under `subject`: (is_compatible, messages)."""
        body: dict[str, Any] = {"schema": schema}
        if schema_type and schema_type.upper() != "AVRO":
            body["schemaType"] = schema_type.upper()
        refs = [
            {"name": r.name, "subject": r.subject, "version": r.version} if isinstance(r, ExternalReference) else r
            for r in references
        ]
        if refs:
            body["references"] = refs
        path = f"/compatibility/subjects/{_segment(subject)}/versions/latest?verbose=true"
        status, answer = self._request("POST", path, body=body, allow=(40401, 40402))
        if status == 404:
            return True, []  # nothing registered under the subject: nothing to break (as Confluent registers it)
        if not isinstance(answer, dict) or not isinstance(answer.get("is_compatible"), bool):
            raise RegistrySourceError(f"{self.description} answered the compatibility check without is_compatible.")
        messages = answer.get("messages") or []
        return answer["is_compatible"], [str(m) for m in messages] if isinstance(messages, list) else [str(messages)]


# ---------------------------------------------------------------------------------------------
# Parsing answers
# ---------------------------------------------------------------------------------------------
def _segment(subject: str) -> str:
    return quote(subject, safe="")


def _reason(exc: Exception) -> str:
    """The innermost cause of a connection error, without the URL (it may carry credentials)."""
    cause: BaseException = exc
    while cause.__context__ is not None and cause.__context__ is not cause:
        cause = cause.__context__
    text = str(cause) or type(cause).__name__
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return "unknown host"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "the server's certificate is not trusted"
    return text.split(": ", 1)[-1][:200] if "://" in text else text[:200]


def _ints(value: Any, where: str) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise RegistrySourceError(f"{where} did not answer a list of version numbers.")
    return value


def _int(item: Any, key: str, where: str) -> int:
    value = item.get(key) if isinstance(item, dict) else None
    if not isinstance(value, int) or isinstance(value, bool):
        raise RegistrySourceError(f"{where} did not answer a schema {key}.")
    return value


def _text(item: Any, *keys: str) -> str | None:
    if not isinstance(item, dict):
        return None
    for key in keys:
        if isinstance(item.get(key), str) and item[key]:
            return item[key]
    return None


def _schema(schema_id: int, item: Any) -> ExternalSchema:
    if not isinstance(item, dict) or not isinstance(item.get("schema"), str):
        raise RegistrySourceError(f"Schema {schema_id} came without its text.")
    references = []
    for ref in item.get("references") or []:
        if not isinstance(ref, dict):
            continue
        references.append(ExternalReference(str(ref.get("name")), str(ref.get("subject")), int(ref.get("version"))))
    return ExternalSchema(
        id=schema_id,
        schema=item["schema"],
        schema_type=(item.get("schemaType") or "AVRO").upper(),
        references=tuple(references),
    )
