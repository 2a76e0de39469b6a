"""The remote impact check: one POST to a running Eventscope's /api/v1/impact/, and the report it answers.

Shared by the `eventscope check-impact` console command and `manage.py check_impact --url`, so the two print
the same report and exit the same way. Standard library only (urllib, json): a CI pipeline installs nothing
but this package.
"""

from __future__ import annotations

import base64
import http.client
import json
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BREAKING_MESSAGE",
    "EXIT_BREAKING",
    "EXIT_OK",
    "EXIT_USAGE",
    "MAX_SCHEMA_FILE_BYTES",
    "REMOTE_TIMEOUT_S",
    "SCHEMA_TYPES",
    "UNKNOWN_MESSAGE",
    "RemoteImpactError",
    "RemoteReport",
    "check_impact_remote",
    "error_message",
    "impact_endpoint",
    "read_references",
    "read_text",
]

EXIT_OK, EXIT_BREAKING, EXIT_USAGE = 0, 1, 2
MAX_SCHEMA_FILE_BYTES = 10 * 1024 * 1024
MAX_RESPONSE_BYTES = 50 * 1024 * 1024
REMOTE_TIMEOUT_S = 60
SCHEMA_TYPES = ("AVRO", "JSON", "PROTOBUF")
BREAKING_MESSAGE = "The schema change is breaking (see the report)."
UNKNOWN_MESSAGE = "Compatibility could not be checked, so the change is not cleared: {reason}"


class RemoteImpactError(Exception):
    """A usage or input error, or a server that refused or could not answer: exit 2 with this message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class RemoteReport:
    """The report to print (Markdown or JSON text, newline-terminated) and whether the change is breaking.

    `unknown_reason`: why the compatibility verdict is unknown (a mirrored subject's external registry
    did not answer); a pipeline must not pass on that, so the commands exit 2 with it.
    """

    text: str
    breaking: bool
    unknown_reason: str = ""


# ---------------------------------------------------------------------------------------------
# Input files
# ---------------------------------------------------------------------------------------------
def read_text(name: str, what: str) -> str:
    """A UTF-8 text file (or stdin for '-'), or a RemoteImpactError naming what is wrong with it."""
    if name == "-":
        return sys.stdin.read()
    path = Path(name)
    try:
        if path.stat().st_size > MAX_SCHEMA_FILE_BYTES:
            raise RemoteImpactError(f"The {what} {name} is larger than {MAX_SCHEMA_FILE_BYTES} bytes.")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RemoteImpactError(f"No {what} {name}.") from None
    except IsADirectoryError:
        raise RemoteImpactError(f"The {what} {name} is a directory.") from None
    except UnicodeDecodeError:
        raise RemoteImpactError(f"The {what} {name} is not UTF-8 text.") from None
    except OSError as exc:
        raise RemoteImpactError(f"Cannot read the {what} {name}: {exc.strerror}.") from None


def read_references(name: str) -> Any:
    """The schema references of a JSON file ([{"name", "subject", "version"}])."""
    try:
        return json.loads(read_text(name, "references file"))
    except ValueError as exc:
        raise RemoteImpactError(f"The references file is not JSON: {exc}") from None


# ---------------------------------------------------------------------------------------------
# The request
# ---------------------------------------------------------------------------------------------
def impact_endpoint(url: str) -> str:
    """The impact endpoint of a base URL (also accepted: the URL of /api/v1 or of the endpoint itself)."""
    if not url.startswith(("http://", "https://")):
        raise RemoteImpactError(f"--url must start with http:// or https://, got {url!r}")
    url = url.rstrip("/")
    if url.endswith("/api/v1/impact"):
        return url + "/"
    return f"{url.removesuffix('/api/v1')}/api/v1/impact/"


def check_impact_remote(
    *,
    url: str,
    subject: str | None,
    topic: str | None,
    schema_text: str,
    schema_type: str = "AVRO",
    references: Any = None,
    output_format: str = "markdown",
    token: str | None = None,
    user: str | None = None,
    password: str | None = None,
    timeout: float = REMOTE_TIMEOUT_S,
) -> RemoteReport:
    """Ask a remote Eventscope for the impact report of a proposed schema; RemoteImpactError on any failure."""
    if not subject and not topic:
        raise RemoteImpactError("Give --subject (or --topic).")
    if (user is None) != (password is None):
        raise RemoteImpactError("Give both --user and --password (or EVENTSCOPE_USER and EVENTSCOPE_PASSWORD).")
    if token and user:
        raise RemoteImpactError("Give --token or --user/--password, not both.")
    endpoint = impact_endpoint(url)
    body: dict[str, Any] = {"schema": schema_text, "schemaType": schema_type}
    if subject:
        body["subject"] = subject
    if topic:
        body["topic"] = topic
    if references is not None:
        body["references"] = references
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    elif user is not None and password is not None:
        basic = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {basic}"
    status, raw = _post(endpoint, json.dumps(body).encode("utf-8"), headers, timeout)
    try:
        answer = json.loads(raw.decode("utf-8"))
    except ValueError:
        raise RemoteImpactError(f"{endpoint} answered {status} without JSON; is it an Eventscope?") from None
    if status != 200:
        raise RemoteImpactError(f"{endpoint} answered {status}: {_refusal_hint(status)}{error_message(answer)}")
    if not isinstance(answer, dict) or "markdown" not in answer or "breaking" not in answer:
        raise RemoteImpactError(f"{endpoint} answered without an impact report; is it an Eventscope?")
    breaking = bool(answer["breaking"])
    compatibility = answer.get("compatibility")
    unknown = ""
    if isinstance(compatibility, dict) and compatibility.get("verdict") == "unknown":
        unknown = str(compatibility.get("unknownReason") or "no reason given")
    if output_format == "markdown":
        return RemoteReport(text=str(answer["markdown"]), breaking=breaking, unknown_reason=unknown)
    answer.pop("markdown")
    text = json.dumps(answer, indent=2, ensure_ascii=False) + "\n"
    return RemoteReport(text=text, breaking=breaking, unknown_reason=unknown)


def _post(endpoint: str, data: bytes, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
    """(status, body) of a POST; an HTTP error status is an answer too, only a failed exchange raises."""
    request = urllib.request.Request(endpoint, data=data, headers=headers, method="POST")  # noqa: S310 (http(s) checked)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read(MAX_RESPONSE_BYTES)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read(MAX_RESPONSE_BYTES)
    except urllib.error.URLError as exc:
        raise RemoteImpactError(f"Could not reach {endpoint}: {exc.reason}") from None
    except TimeoutError:
        raise RemoteImpactError(f"Could not reach {endpoint}: no answer within {timeout:g} s") from None
    except (http.client.HTTPException, OSError, ValueError) as exc:
        raise RemoteImpactError(f"Could not reach {endpoint}: {exc.__class__.__name__}: {exc}") from None


def _refusal_hint(status: int) -> str:
    if status == 401:
        return "the token or credentials were refused. "
    if status == 403:
        return "the token or user may not do this. "
    return ""


def error_message(answer: Any) -> str:
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
