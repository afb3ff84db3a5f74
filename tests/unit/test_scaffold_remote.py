"""The scaffolder API client's bounds, against a misbehaving server on loopback.

The real scaffolder (tests/e2e/test_scaffold_on_backstage.py) never sends an endless stream, a
line of a megabyte, a path outside the workspace or a stream that breaks half way; a small
HTTP server here does, to show every read Callboard makes of Backstage is bounded.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.catalog.model import EntityRef
from bot.catalog.remote import TokenSpec
from bot.scaffold.remote import (
    MAX_EVENTS,
    MAX_LINE,
    RemoteError,
    RemoteStep,
    ScaffolderClient,
    TaskResult,
    clean_lines,
)

TOKEN = "sekret-token-4242"
Handler = Callable[[BaseHTTPRequestHandler], None]


def event(n: int, kind: str, body: dict[str, Any]) -> bytes:
    data = json.dumps({"id": n, "taskId": "t", "type": kind, "body": body})
    return f"event: {kind}\ndata: {data}\n\n".encode()


class Server:
    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.seen: list[tuple[str, str | None]] = []  # (path, Authorization)
        self.release = threading.Event()
        server = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.seen.append((self.path, self.headers.get("Authorization")))
                base = self.path.split("?", 1)[0]
                server.routes[base](self)

            do_POST = do_GET

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stream(self, path: str, body: Callable[[BaseHTTPRequestHandler], None]) -> None:
        def handler(h: BaseHTTPRequestHandler) -> None:
            h.send_response(200)
            h.send_header("Content-Type", "text/event-stream")
            h.end_headers()
            body(h)

        self.routes[f"/api/scaffolder/v2{path}"] = handler

    def json(self, path: str, status: int, data: Any) -> None:
        def handler(h: BaseHTTPRequestHandler) -> None:
            raw = json.dumps(data).encode()
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            if 300 <= status < 400:
                h.send_header("Location", "http://elsewhere.example/")
            h.send_header("Content-Length", str(len(raw)))
            h.end_headers()
            h.wfile.write(raw)

        self.routes[f"/api/scaffolder/v2{path}"] = handler


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.release.set()
    s.httpd.shutdown()
    s.httpd.server_close()


def client(server: Server, timeout: float = 10) -> ScaffolderClient:
    return ScaffolderClient(server.url, TokenSpec(value=TOKEN), timeout)


def follow(server: Server, task: str, seconds: float = 30) -> tuple[TaskResult, list[str]]:
    heard: list[str] = []

    def on_step(step: RemoteStep) -> None:
        heard.append(f"{step.id}:{step.status}")

    result = TaskResult([RemoteStep("a", "Step A", "debug:log")])
    return client(server).follow(task, result, on_step, seconds=seconds), heard


def test_a_broken_stream_is_resumed_after_the_last_event(server: Server) -> None:
    def body(h: BaseHTTPRequestHandler) -> None:
        if "after=2" in h.path:
            done = "Run completed with status: completed"
            output = {"text": [{"title": "T", "content": "c"}]}
            h.wfile.write(event(3, "completion", {"message": done, "output": output}))
            return
        began = {"message": "Beginning step A", "stepId": "a", "status": "processing"}
        h.wfile.write(event(1, "log", began))
        h.wfile.write(
            event(2, "log", {"message": "Finished", "stepId": "a", "status": "completed"})
        )
        # and the connection ends, with no completion

    server.stream("/tasks/t1/eventstream", body)
    result, heard = follow(server, "t1")
    assert result.ok and result.output == {"text": [{"title": "T", "content": "c"}]}
    assert heard == ["a:processing", "a:completed"]
    assert [p for p, _ in server.seen] == [
        "/api/scaffolder/v2/tasks/t1/eventstream",
        "/api/scaffolder/v2/tasks/t1/eventstream?after=2",
    ]
    assert {auth for _, auth in server.seen} == {f"Bearer {TOKEN}"}


def test_a_line_longer_than_the_limit_is_refused(server: Server) -> None:
    server.stream("/tasks/t2/eventstream", lambda h: h.wfile.write(b"data: " + b"x" * MAX_LINE))
    with pytest.raises(RemoteError, match="sent a line longer than 1 MB"):
        follow(server, "t2")


def test_a_stream_that_never_completes_is_cut_at_the_event_limit(server: Server) -> None:
    def body(h: BaseHTTPRequestHandler) -> None:
        one = event(1, "log", {"message": "again", "stepId": "a"})
        for _ in range(MAX_EVENTS + 5):
            h.wfile.write(one)

    server.stream("/tasks/t3/eventstream", body)
    with pytest.raises(RemoteError, match=f"more than {MAX_EVENTS} events"):
        follow(server, "t3")


def test_a_silent_stream_ends_at_the_tasks_time_limit(server: Server) -> None:
    server.stream("/tasks/t4/eventstream", lambda h: server.release.wait(60))
    result, _ = follow(server, "t4", seconds=1)
    assert not result.ok
    assert result.error is not None and "did not finish within 1 s" in result.error


def test_a_dry_run_writing_outside_its_workspace_is_refused(server: Server) -> None:
    blob = base64.b64encode(b"owned").decode()
    server.json("/dry-run", 200, {"directoryContents": [{"path": "../x", "base64Content": blob}]})
    with pytest.raises(RemoteError, match="outside its workspace"):
        client(server).dry_run({"spec": {"steps": []}}, {}, {}, [], limit=1 << 20)


def test_a_refused_token_is_named_not_shown(server: Server) -> None:
    server.json("/tasks", 401, {"error": {"name": "AuthenticationError", "message": TOKEN}})
    with pytest.raises(RemoteError) as caught:
        client(server).create_task(EntityRef.parse("template:default/x"), {}, {})
    assert "refused the configured token" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_a_redirect_is_not_followed(server: Server) -> None:
    server.json("/templates/default/template/x/parameter-schema", 302, {})
    with pytest.raises(RemoteError, match="redirected"):
        client(server).parameter_schema(EntityRef.parse("template:default/x"))
    assert len(server.seen) == 1


def test_log_lines_lose_colours_control_characters_and_stack_frames() -> None:
    message = (
        "\x1b[32minfo\x1b[39m: Fetching\x07 template\n"
        "NotAllowedError: no\n    at Object.handler (/srv/node_modules/x.js:1:2)\n"
    )
    assert clean_lines(message) == ["info: Fetching template", "NotAllowedError: no"]


def test_only_real_entity_refs_become_buttons_and_failed_logs_hide_secrets() -> None:
    from bot.scaffold.model import Template
    from bot.scaffold.remote_run import remote_reply

    template = Template("t", "T", None, None, "test", "remote", Path(), (), False)
    output = {
        "links": [
            {"title": "Team", "entityRef": "group:default/team-a"},
            {"title": "Sneaky", "entityRef": "group:default/x --format json"},
            {"title": "Docs", "url": "https://docs.example.com/t"},
        ]
    }
    done = TaskResult([RemoteStep("a", "A", "debug:log", "completed")], "completed", output)
    reply = remote_reply(done, template, "n", dry_run=False, notes=[], describe=True)
    assert [b.command for b in reply.buttons] == ["/describe group:default/team-a"]
    assert [(link.title, link.url) for link in reply.links] == [
        ("Docs", "https://docs.example.com/t")
    ]

    step = RemoteStep("a", "A", "debug:log", "failed", ["token is hunter22-secret"])
    failed = TaskResult([step], "failed", error="hunter22-secret leaked")
    reply = remote_reply(
        failed, template, "n", dry_run=False, notes=[], describe=True, secrets=("hunter22-secret",)
    )
    assert reply.error and "hunter22-secret" not in reply.to_text()
    assert "token is •••" in reply.to_text()
