"""The HTTP service: a few JSON endpoints on the standard library's server."""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from {{ cookiecutter.package }} import SERVICE, __version__


class Counters:
    """Requests served, per path (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def add(self, path: str) -> None:
        with self._lock:
            self._counts[path] = self._counts.get(path, 0) + 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


class Handler(BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        path = self.path.split("?", 1)[0]
        self.server.counters.add(path)
        if path == "/":
            self._json(HTTPStatus.OK, {"service": SERVICE, "version": __version__})
        elif path == "/health":
            self._json(HTTPStatus.OK, {"status": "ok"})
{%- if cookiecutter.metrics %}
        elif path == "/metrics":
            self._metrics()
{%- endif %}
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such path: {path}"})

    def _json(self, status: HTTPStatus, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
{%- if cookiecutter.metrics %}

    def _metrics(self) -> None:
        lines = ["# TYPE http_requests_total counter"]
        for path, count in sorted(self.server.counters.snapshot().items()):
            lines.append('http_requests_total{path="%s"} %d' % (path, count))
        data = ("\n".join(lines) + "\n").encode()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
{%- endif %}

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # one line per request is noise; put a real access log behind the proxy


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int) -> None:
        super().__init__((host, port), Handler)
        self.counters = Counters()


def serve(host: str = "0.0.0.0", port: int = {{ cookiecutter.port }}) -> Server:
    """A server bound to ``host:port`` (port 0: any free port); call ``serve_forever``."""
    return Server(host, port)
