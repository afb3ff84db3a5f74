"""A fake Slack Web API on loopback that records every call (Slack itself cannot run here).

It answers the methods the adapter uses the way Slack does (``auth.test``, ``users.info``,
``users.lookupByEmail``, ``chat.postMessage``, ``chat.postEphemeral``, ``views.open``,
``oauth.v2.access``, ``apps.connections.open``), takes ``response_url`` posts at
``/webhook/<name>``, refuses unknown tokens with ``invalid_auth``, and can be told to answer the
next call to a method with an error status (``fail_next``: a 429 with ``Retry-After``, say).
It runs in a thread, so it works whatever event loop the test runs; ``wait_for`` lets a test
wait for a delivery.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

BOT_TOKEN = "xoxb-1111-callboard-test"
APP_TOKEN = "xapp-1-A0CALLBOARD-test"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM_ID = "T0ACME"
BOT_USER_ID = "U0CALLBOARD"
BOT_ID = "B0CALLBOARD"
APP_ID = "A0CALLBOARD"


@dataclass
class Call:
    """One request the fake received: the API method (or ``webhook``), token and arguments."""

    method: str
    path: str
    token: str | None
    args: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Failure:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


class FakeSlack:
    """Start with ``start()``; ``base_url`` is what ``slack.api_url`` points at."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.tokens: dict[str, str] = {BOT_TOKEN: TEAM_ID}
        self.users: dict[str, dict[str, Any]] = {}
        # What the bot token was granted (auth.test's x-oauth-scopes; users.lookupByEmail
        # answers missing_scope without users:read.email, as Slack does).
        self.scopes: list[str] = ["commands", "chat:write", "users:read", "users:read.email"]
        self.oauth_tokens: dict[str, dict[str, Any]] = {}  # code → oauth.v2.access answer
        self.socket_url: str | None = None
        self._failures: dict[str, list[_Failure]] = {}
        self._lock = threading.Condition()
        self._ts = itertools.count(1)  # message timestamps, in posting order
        self._views = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeSlack:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                fake._handle(self, self.rfile.read(length))

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def webhook_url(self, name: str = "r") -> str:
        return f"http://127.0.0.1:{self.port}/webhook/{name}"

    # ------------------------------------------------------------------ test helpers

    def add_user(self, user_id: str, email: str | None, name: str, team_id: str = TEAM_ID) -> None:
        profile: dict[str, Any] = {"real_name": name, "display_name": name}
        if email:
            profile["email"] = email
        self.users[user_id] = {
            "id": user_id,
            "team_id": team_id,
            "name": name.lower(),
            "profile": profile,
        }

    def fail_next(
        self,
        method: str,
        status: int,
        headers: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        times: int = 1,
    ) -> None:
        failure = _Failure(
            status, dict(headers or {}), dict(body or {"ok": False, "error": "ratelimited"})
        )
        with self._lock:
            self._failures.setdefault(method, []).extend([failure] * times)

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        """The calls to ``method`` once there are ``count`` of them (for Socket Mode acks)."""
        with self._lock:
            self._lock.wait_for(
                lambda: len([c for c in self.calls if c.method == method]) >= count, timeout
            )
            return [c for c in self.calls if c.method == method]

    # ------------------------------------------------------------------ the API

    def _handle(self, request: BaseHTTPRequestHandler, raw: bytes) -> None:
        url = urlsplit(request.path)
        args: dict[str, Any] = dict(parse_qsl(url.query))
        content_type = request.headers.get("content-type") or ""
        if raw:
            if content_type.startswith("application/json"):
                args.update(json.loads(raw))
            else:
                for key, value in parse_qsl(raw.decode()):
                    args[key] = _maybe_json(value)
        auth = request.headers.get("authorization") or ""
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        token = token or args.get("token")
        if url.path.startswith("/webhook/"):
            method = "webhook"
        elif url.path.startswith("/api/"):
            method = url.path.removeprefix("/api/")
        else:
            self._send(request, 404, {"ok": False, "error": "not_found"})
            return
        call = Call(
            method, url.path, token, args, {k.lower(): v for k, v in request.headers.items()}
        )
        with self._lock:
            self.calls.append(call)
            failures = self._failures.get(method) or []
            failure = failures.pop(0) if failures else None
            self._lock.notify_all()
        if failure is not None:
            self._send(request, failure.status, failure.body, failure.headers)
            return
        if method == "webhook":
            self._send_text(request, 200, "ok")
            return
        status, body, headers = self._answer(method, token, args)
        self._send(request, status, body, headers)

    def _answer(
        self, method: str, token: str | None, args: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if method == "oauth.v2.access":
            answer = self.oauth_tokens.get(str(args.get("code")))
            if answer is None:
                return 200, {"ok": False, "error": "invalid_code"}, {}
            return 200, answer, {}
        if method == "apps.connections.open":
            if token != APP_TOKEN or not self.socket_url:
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            return 200, {"ok": True, "url": self.socket_url}, {}
        team = self.tokens.get(token or "")
        if team is None:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        if method == "auth.test":
            return (
                200,
                {
                    "ok": True,
                    "url": "https://acme.slack.example/",
                    "team": "Acme",
                    "user": "callboard",
                    "team_id": team,
                    "user_id": BOT_USER_ID,
                    "bot_id": BOT_ID,
                    "is_enterprise_install": False,
                },
                {"x-oauth-scopes": ",".join(self.scopes)},
            )
        if method == "users.info":
            user = self.users.get(str(args.get("user")))
            if user is None:
                return 200, {"ok": False, "error": "user_not_found"}, {}
            return 200, {"ok": True, "user": user}, {}
        if method == "users.lookupByEmail":
            # api.slack.com/methods/users.lookupByEmail: the user in the token's workspace
            # whose profile email matches (deactivated ones too, with "deleted": true).
            if "users:read.email" not in self.scopes:
                scopes = ",".join(self.scopes)
                error = {"error": "missing_scope", "needed": "users:read.email"}
                return 200, {"ok": False, **error, "provided": scopes}, {}
            email = str(args.get("email") or "").strip().lower()
            if not email:
                return 200, {"ok": False, "error": "invalid_arguments"}, {}
            for user in self.users.values():
                shown = str(user["profile"].get("email") or "").lower()
                if user["team_id"] == team and shown == email:
                    return 200, {"ok": True, "user": user}, {}
            return 200, {"ok": False, "error": "users_not_found"}, {}
        if method == "chat.postMessage":
            ts = f"1700000000.{next(self._ts):06d}"
            return (
                200,
                {
                    "ok": True,
                    "channel": args.get("channel"),
                    "ts": ts,
                    "message": {"text": args.get("text"), "ts": ts},
                },
                {},
            )
        if method == "chat.postEphemeral":
            return 200, {"ok": True, "message_ts": f"1700000000.{next(self._ts):06d}"}, {}
        if method == "views.open":
            view = dict(args.get("view") or {})
            return 200, {"ok": True, "view": {**view, "id": f"V{next(self._views):08d}"}}, {}
        return 200, {"ok": True}, {}

    @staticmethod
    def _send(
        request: BaseHTTPRequestHandler,
        status: int,
        body: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("content-type", "application/json; charset=utf-8")
        request.send_header("content-length", str(len(data)))
        for key, value in (headers or {}).items():
            request.send_header(key, value)
        request.end_headers()
        request.wfile.write(data)

    @staticmethod
    def _send_text(request: BaseHTTPRequestHandler, status: int, text: str) -> None:
        data = text.encode()
        request.send_response(status)
        request.send_header("content-type", "text/plain")
        request.send_header("content-length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)


def _maybe_json(value: str) -> Any:
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
