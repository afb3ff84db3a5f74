"""Fake PagerDuty (REST API v2) and Opsgenie (API v2) servers on loopback, for unit and e2e tests.

They follow the published contracts Callboard relies on: paths, query parameters
(``escalation_policy_ids[]``, ``include[]``, ``limit``/``offset``/``more``;
``scheduleIdentifierType``, ``flat``), auth headers (``Token token=...``, ``GenieKey ...``),
error bodies (PagerDuty ``{"error": {"message", "code"}}``, Opsgenie ``{"message", "took",
"requestId"}``) and 429 with ``Retry-After``. Every request is recorded.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PD_TOKEN = "pd-test-token"
OG_KEY = "og-test-key"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any = None


@dataclass
class FakeProvider:
    """What both fakes share: the recorded requests and the failure switches."""

    delay: float = 0.0  # seconds before every answer
    hold: threading.Event | None = None  # when set: GETs wait for it (at most 30 s) to answer
    fail_status: int | None = None  # answer every request with this status (500, 503)
    rate_limit_times: int = 0  # the next N requests are 429
    retry_after: str = "1"
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: Any


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_GET(self) -> None:
        fake = self.server.fake
        parsed = urllib.parse.urlsplit(self.path)
        rec = Recorded(
            "GET",
            parsed.path,
            urllib.parse.parse_qs(parsed.query),
            {k: v for k, v in self.headers.items()},
        )
        with fake._lock:
            fake.requests.append(rec)
            limited = fake.rate_limit_times > 0
            if limited:
                fake.rate_limit_times -= 1
        if fake.delay:
            time.sleep(fake.delay)
        if fake.hold is not None:
            fake.hold.wait(30)
        if limited:
            self._send(
                429, fake.error_body(429, "Rate Limit Exceeded"), {"Retry-After": fake.retry_after}
            )
            return
        if fake.fail_status:
            self._send(fake.fail_status, fake.error_body(fake.fail_status, "Internal Server Error"))
            return
        if not fake.authorized(rec.headers.get("Authorization", "")):
            self._send(401, fake.error_body(401, "Unauthorized"))
            return
        status, body = fake.answer(rec)
        self._send(status, body)

    def do_POST(self) -> None:
        fake = self.server.fake
        parsed = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            body = None
        rec = Recorded("POST", parsed.path, {}, dict(self.headers.items()), body)
        with fake._lock:
            fake.requests.append(rec)
        if fake.fail_status:
            self._send(fake.fail_status, fake.error_body(fake.fail_status, "Internal Server Error"))
            return
        status, answer = fake.post(rec)
        self._send(status, answer)

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            pass


@dataclass
class FakePagerDuty(FakeProvider):
    """Services → escalation policies; on-call entries per policy (``/oncalls`` entries)."""

    services: dict[str, str] = field(default_factory=dict)  # service id → policy id
    oncalls: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # policy → entries

    def authorized(self, header: str) -> bool:
        return header == f"Token token={PD_TOKEN}"

    def error_body(self, status: int, message: str) -> Any:
        code = {401: 2006, 404: 2100, 429: 2020}.get(status, 2000)
        return {"error": {"message": message, "code": code}}

    def answer(self, rec: Recorded) -> tuple[int, Any]:
        parts = rec.path.strip("/").split("/")
        if parts[0] == "services" and len(parts) == 2:
            policy = self.services.get(parts[1])
            if policy is None:
                return 404, self.error_body(404, "Not Found")
            return 200, {
                "service": {
                    "id": parts[1],
                    "type": "service",
                    "escalation_policy": {"id": policy, "type": "escalation_policy_reference"},
                }
            }
        if rec.path == "/oncalls":
            policies = rec.query.get("escalation_policy_ids[]", [])
            entries = [e for p in policies for e in self.oncalls.get(p, [])]
            # since/until (default: now): the entries overlapping the range; an entry without
            # start or end (always on call) overlaps every range.
            since = _time(rec.query.get("since", [""])[0])
            until = _time(rec.query.get("until", [""])[0]) or since
            if since is not None and until is not None:
                if until < since:
                    return 400, {"error": {"message": "Invalid Input Provided", "code": 2004}}
                entries = [e for e in entries if _overlaps(e, since, until)]
            include_users = "users" in rec.query.get("include[]", [])
            limit = int(rec.query.get("limit", ["25"])[0])
            offset = int(rec.query.get("offset", ["0"])[0])
            page = entries[offset : offset + limit]
            if not include_users:  # references only, as PagerDuty answers without include[]
                page = [
                    {
                        **e,
                        "user": {
                            "id": e["user"]["id"],
                            "type": "user_reference",
                            "summary": e["user"]["name"],
                        },
                    }
                    for e in page
                ]
            return 200, {
                "oncalls": page,
                "limit": limit,
                "offset": offset,
                "more": offset + limit < len(entries),
                "total": None,
            }
        return 404, self.error_body(404, "Not Found")

    def post(self, rec: Recorded) -> tuple[int, Any]:
        """The Events API v2 (``POST /v2/enqueue``: no auth header, the routing key decides)."""
        if rec.path != "/v2/enqueue":
            return 404, self.error_body(404, "Not Found")
        body = rec.body if isinstance(rec.body, dict) else {}
        payload = body.get("payload") or {}
        errors = [
            f"'{k}' is missing or blank"
            for k, v in (
                ("routing_key", body.get("routing_key")),
                ("payload.summary", payload.get("summary")),
                ("payload.source", payload.get("source")),
            )
            if not v
        ]
        if body.get("event_action") not in ("trigger", "acknowledge", "resolve"):
            errors.append("'event_action' is invalid")
        if payload.get("severity") not in ("critical", "error", "warning", "info"):
            errors.append("'payload.severity' is invalid")
        if errors:
            return 400, {
                "status": "invalid event",
                "message": "Event object is invalid",
                "errors": errors,
            }
        return 202, {
            "status": "success",
            "message": "Event processed",
            "dedup_key": body.get("dedup_key") or "generated-key",
        }


def pd_entry(
    user_id: str,
    name: str,
    email: str,
    level: int,
    start: str | None,
    end: str | None,
    schedule: str | None = "Primary",
) -> dict[str, Any]:
    return {
        "escalation_policy": {"id": "P", "type": "escalation_policy_reference"},
        "escalation_level": level,
        "schedule": {"id": "S" + (schedule or ""), "summary": schedule} if schedule else None,
        "user": {"id": user_id, "type": "user", "name": name, "email": email, "summary": name},
        "start": start,
        "end": end,
    }


@dataclass
class FakeOpsgenie(FakeProvider):
    """Schedules (name → owner team), who is on call in each, and who is next."""

    schedules: dict[str, str] = field(default_factory=dict)  # schedule name → team name
    on_call: dict[str, list[str]] = field(default_factory=dict)  # schedule → usernames
    next_on_call: dict[str, list[str]] = field(default_factory=dict)
    # schedule → its final timeline's periods: (username, startDate, endDate), one rotation
    timeline: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)

    def authorized(self, header: str) -> bool:
        return header == f"GenieKey {OG_KEY}"

    def error_body(self, status: int, message: str) -> Any:
        return {"message": message, "took": 0.001, "requestId": "req-1"}

    def _meta(self, data: Any) -> Any:
        return {"data": data, "took": 0.01, "requestId": "req-1"}

    def answer(self, rec: Recorded) -> tuple[int, Any]:
        parts = rec.path.strip("/").split("/")
        if parts == ["v2", "schedules"]:
            return 200, self._meta(
                [
                    {
                        "id": f"id-{n}",
                        "name": n,
                        "enabled": True,
                        "timezone": "UTC",
                        "ownerTeam": {"id": f"team-{t}", "name": t},
                    }
                    for n, t in self.schedules.items()
                ]
            )
        if len(parts) == 4 and parts[:2] == ["v2", "schedules"] and parts[3] == "timeline":
            # GET /v2/schedules/{identifier}/timeline?identifierType&interval&intervalUnit&date
            name = parts[2]
            if rec.query.get("identifierType", ["id"])[0] != "name" or name not in self.schedules:
                return 404, self.error_body(404, f"No schedule exists with name [{name}]")
            unit = rec.query.get("intervalUnit", ["weeks"])[0]
            if unit not in ("days", "weeks", "months"):
                return 422, self.error_body(422, f"Invalid intervalUnit [{unit}]")
            periods = [
                {
                    "startDate": start,
                    "endDate": end,
                    "type": "default",
                    "recipient": {"id": f"u-{user}", "type": "user", "name": user},
                }
                for user, start, end in self.timeline.get(name, [])
            ]
            rotation = {"id": "r-1", "name": "Rota", "order": 1, "periods": periods}
            return 200, self._meta(
                {
                    "_parent": {"id": f"id-{name}", "name": name, "enabled": True},
                    "startDate": rec.query.get("date", [""])[0],
                    "finalTimeline": {"rotations": [rotation] if periods else []},
                }
            )
        if len(parts) == 4 and parts[:2] == ["v2", "schedules"]:
            name = parts[2]
            if (
                rec.query.get("scheduleIdentifierType", ["id"])[0] != "name"
                or name not in self.schedules
            ):
                return 404, self.error_body(404, f"No schedule exists with name [{name}]")
            parent = {"id": f"id-{name}", "name": name, "enabled": True}
            if parts[3] == "on-calls":
                people = self.on_call.get(name, [])
                key = "onCallParticipants"
            elif parts[3] == "next-on-calls":
                people = self.next_on_call.get(name, [])
                key = "nextOnCallRecipients"
            else:
                return 404, self.error_body(404, "Not Found")
            return 200, self._meta(
                {
                    "_parent": parent,
                    key: [{"id": f"u-{p}", "name": p, "type": "user"} for p in people],
                }
            )
        return 404, self.error_body(404, "Not Found")

    def post(self, rec: Recorded) -> tuple[int, Any]:
        """Create alert (``POST /v2/alerts``), processed asynchronously: 202 and a request id."""
        if not self.authorized(rec.headers.get("Authorization", "")):
            return 401, self.error_body(401, "Could not authenticate")
        if rec.path != "/v2/alerts":
            return 404, self.error_body(404, "Not Found")
        body = rec.body if isinstance(rec.body, dict) else {}
        if not body.get("message"):
            return 422, {
                "message": "Request body is not processable",
                "errors": {"message": "Message can not be empty."},
                "took": 0.001,
                "requestId": "req-bad",
            }
        return 202, {
            "result": "Request will be processed",
            "took": 0.1,
            "requestId": f"req-{len(self.requests)}",
        }


def _overlaps(entry: dict[str, Any], since: dt.datetime, until: dt.datetime) -> bool:
    start, end = _time(entry["start"] or ""), _time(entry["end"] or "")
    return (start is None or start <= until) and (end is None or end >= since)


def _time(value: str) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def serve(fake: FakeProvider) -> Iterator[FakeProvider]:
    """Serve ``fake`` on 127.0.0.1 (a free port) until the generator is closed."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = fake
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
