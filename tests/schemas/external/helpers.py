"""Helpers of the external-registry tests: schemas to register, and an external registry row for the second registry."""

from __future__ import annotations

import json
import socket

from confluent_kafka.schema_registry import Schema

from schemas.external.services import external_registry_create


def avro(name: str, *fields: str, required: tuple[str, ...] = ()) -> Schema:
    """A record whose first field is a required string and whose others default to "" (adding one is compatible);
    `required` fields come without a default (adding one breaks BACKWARD)."""
    body = {"type": "record", "name": name, "fields": [{"name": fields[0], "type": "string"}]}
    body["fields"] += [{"name": f, "type": "string", "default": ""} for f in fields[1:]]
    body["fields"] += [{"name": f, "type": "string"} for f in required]
    return Schema(json.dumps(body), "AVRO")


def connect(second_registry, name: str = "confluent-prod", **fields):
    """An ExternalRegistry row (through the service) reading the second registry with HTTP Basic."""
    fields.setdefault("url", second_registry.url)
    fields.setdefault("auth_kind", "basic")
    fields.setdefault("username", second_registry.username)
    fields.setdefault("secret", second_registry.password)
    return external_registry_create(name=name, **fields)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/registry"


class RecordingProxy:
    """A small HTTP proxy in front of the second registry that records every request it forwards.

    Point an ExternalRegistry at `url` instead of the registry's own: `requests` then lists what the registry
    actually received, as (method, path) pairs, in order. Use as a context manager (it serves on a thread).
    """

    def __init__(self, target_url: str) -> None:
        import http.server
        import threading
        from urllib.parse import urlsplit

        target = urlsplit(target_url)  # http://127.0.0.1:PORT/registry
        self.requests: list[tuple[str, str]] = []
        # When set: answer every request with this HTTP status (a registry in trouble) instead of forwarding it.
        self.fail_status: int | None = None
        self._lock = threading.Lock()
        proxy = self

        class Forward(http.server.BaseHTTPRequestHandler):
            def _forward(self) -> None:
                import http.client

                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy._lock:
                    proxy.requests.append((self.command, self.path))
                if proxy.fail_status is not None:
                    payload = b'{"error_code": 50003, "message": "The registry is overloaded"}'
                    self.send_response(proxy.fail_status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    payload = answer.read()
                    self.send_response(answer.status)
                    for key, value in answer.getheaders():
                        if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                finally:
                    upstream.close()

            do_GET = do_POST = do_PUT = do_DELETE = _forward

            def log_message(self, format: str, *args) -> None:  # the test output stays quiet
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{target.path}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def received(self, path_part: str, method: str | None = None) -> list[tuple[str, str]]:
        with self._lock:
            return [(m, p) for m, p in self.requests if path_part in p and (method is None or m == method)]
