"""Scaffolding on the team's Backstage (``scaffold.backstage: run``): what Callboard adds.

- **Reading a task's events**: a loopback server streams 20,000 server-sent events (the
  reader's limit) of Backstage's shape; the time Callboard's reader takes to parse and apply
  them (bounded reads, colour codes stripped) is its whole cost per event.
- **A task on the real scaffolder** (``../shared/peers/backstage``, WITH_SCAFFOLDER=1): from
  the dialog's submission to the reply, for tests/fixtures/v1beta3/on-backstage (fetch:template,
  debug:log, catalog:write), and the part of it Backstage's own task took (creation to the
  completion event). Skipped, with the reason, when the peer cannot start.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from bench.common import DEMO, REPO, BenchContext, Result

EVENTS = 20_000
RUNS = 5
PEER_SCRIPT = REPO.parent / "shared" / "peers" / "backstage" / "run-catalog.sh"
FIXTURE = REPO / "tests" / "fixtures" / "v1beta3" / "on-backstage"


def _stream_server() -> tuple[ThreadingHTTPServer, str]:
    line = {"message": "\x1b[32minfo\x1b[39m: Writing file README.md", "stepId": "a"}

    class H(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            chunks = []
            for n in range(1, EVENTS):
                data = json.dumps({"id": n, "type": "log", "body": line})
                chunks.append(f"event: log\ndata: {data}\n\n")
            done = {"id": EVENTS, "type": "completion", "body": {"message": "status: completed"}}
            chunks.append(f"event: completion\ndata: {json.dumps(done)}\n\n")
            self.wfile.write("".join(chunks).encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _events() -> list[Result]:
    from bot.catalog.remote import TokenSpec
    from bot.scaffold.remote import RemoteStep, ScaffolderClient, TaskResult

    server, url = _stream_server()
    try:
        client = ScaffolderClient(url, TokenSpec(), 60)
        times = []
        for _ in range(RUNS):
            result = TaskResult([RemoteStep("a", "A", "debug:log")])
            started = time.perf_counter()
            client.follow("t", result, lambda step: None, seconds=120)
            times.append(time.perf_counter() - started)
            assert result.ok
    finally:
        server.shutdown()
        server.server_close()
    median = statistics.median(times)
    return [
        Result("scaffold-remote", f"read {EVENTS:,} task events (loopback)", median, "s", "",
               None, f"{median / EVENTS * 1e6:.0f} µs an event; median of {RUNS}"),
    ]  # fmt: skip


def _free_port() -> int | None:
    for port in range(7481, 7499):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return None


def _peer_run(ctx: BenchContext) -> list[Result]:
    name = "on Backstage: submission → reply"
    if not PEER_SCRIPT.exists():
        return [Result("scaffold-remote", name, 0, "", note="../shared absent: skipped")]
    root = ctx.work / "scaffold-remote"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(FIXTURE, root / "chat-service")
    location = root / "location.yaml"
    location.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "Location",
                "metadata": {"name": "bench"},
                "spec": {"targets": ["./chat-service/template.yaml"]},
            }
        )
    )
    port = _free_port()
    if port is None:
        return [Result("scaffold-remote", name, 0, "", note="no free port: skipped")]
    env = {**os.environ, "WAIT_FOR": "3", "WAIT_S": "600", "WITH_SCAFFOLDER": "1"}
    done = subprocess.run(
        ["bash", str(PEER_SCRIPT), str(location), str(port)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    found = re.search(r"pid=(\d+)", done.stdout + done.stderr)
    pid = int(found.group(1)) if found else None
    try:
        if done.returncode != 0:
            reason = (done.stderr.strip() or f"exit {done.returncode}").splitlines()[-1]
            return [Result("scaffold-remote", name, 0, "", note=f"peer: {reason}"[:100])]
        return _timed_runs(root, f"http://127.0.0.1:{port}")
    finally:
        if pid is not None:
            subprocess.run(["kill", str(pid)], check=False)


def _timed_runs(root: Path, url: str) -> list[Result]:
    from bot.bootstrap import build_app, parse_settings
    from bot.chat import ChatUser
    from commands import COMMANDS, INTERPRETERS

    config: dict[str, Any] = {
        "data_dir": str(root / "var"),
        "database": {"url": f"sqlite:///{root / 'cb.db'}"},
        "catalog": {
            "sources": [
                {"type": "file", "name": "demo", "target": str(DEMO)},
                {"type": "backstage", "name": "bs", "url": url, "filter": ["kind=template"]},
            ]
        },
        "console": {"user_email": "ana.silva@acme-rides.example"},
        "scaffold": {
            "backstage": "run",
            "templates": [str(root)],
            "publish": {"remote": "https://github.com/acme/{name}.git"},
        },
    }
    path = root / "callboard.yaml"
    path.write_text(yaml.safe_dump(config))
    app = build_app(
        parse_settings(config, str(path), root, path), COMMANDS, interpreters=INTERPRETERS
    )
    try:
        app.services.sync.run()
        user = ChatUser("console", "ana", "ana", "ana.silva@acme-rides.example")

        class Clock:
            def __init__(self) -> None:
                self.created: float | None = None
                self.last: float | None = None

            async def update(self, text: str) -> None:
                if "started on Backstage" in text:
                    self.created = time.perf_counter()
                self.last = time.perf_counter()

        async def once(n: int) -> tuple[float, float]:
            service = app.services.scaffolder
            requester = await service.requester_for(user)
            clock = Clock()
            started = time.perf_counter()
            reply = await service.submit(
                "chat-service",
                {"name": f"bench-{n}", "owner": "group:default/team-payments", "fail": "false"},
                requester,
                clock,
            )
            total = time.perf_counter() - started
            assert not reply.error, reply.to_text()
            task = (clock.last or 0) - (clock.created or 0)
            return total, task

        runs = [asyncio.run(once(n)) for n in range(RUNS)]
    finally:
        app.close()
    total = statistics.median(t for t, _ in runs)
    task = statistics.median(t for _, t in runs)
    return [
        Result("scaffold-remote", "on Backstage: submission → reply", total, "s", "", None,
               f"median of {RUNS}; 4 steps, fetch:template + debug:log + catalog:write"),
        Result("scaffold-remote", "on Backstage: task created → completed", task, "s", "",
               None, "Backstage's own part (its task worker, the event stream)"),
    ]  # fmt: skip


def run(ctx: BenchContext) -> list[Result]:
    return [*_events(), *_peer_run(ctx)]
