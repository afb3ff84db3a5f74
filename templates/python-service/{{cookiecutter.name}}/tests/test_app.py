"""The service over real HTTP on a free loopback port."""

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from {{ cookiecutter.package }} import SERVICE
from {{ cookiecutter.package }}.app import Server, serve


@pytest.fixture
def server() -> Iterator[Server]:
    srv = serve("127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def get(server: Server, path: str) -> tuple[int, bytes]:
    url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_health(server: Server) -> None:
    status, body = get(server, "/health")
    assert status == 200
    assert json.loads(body) == {"status": "ok"}


def test_root_names_the_service(server: Server) -> None:
    status, body = get(server, "/")
    assert status == 200
    assert json.loads(body)["service"] == SERVICE


def test_unknown_path_is_404(server: Server) -> None:
    status, body = get(server, "/nope")
    assert status == 404
    assert "no such path" in json.loads(body)["error"]
{%- if cookiecutter.metrics %}


def test_metrics_count_requests(server: Server) -> None:
    get(server, "/health")
    status, body = get(server, "/metrics")
    assert status == 200
    assert 'http_requests_total{path="/health"} 1' in body.decode()
{%- endif %}
