"""Running a Template on the team's Backstage: its scaffolder REST API (``/api/scaffolder/v2``).

With ``scaffold.backstage: run`` (or the template's name listed there), a Template that came
from a ``backstage`` catalog source runs where it lives, so every custom action the team has
works: the dialog is built from ``GET /v2/templates/{namespace}/{kind}/{name}/parameter-schema``
(the pages Backstage would show this token), a run is ``POST /v2/tasks`` followed by its
server-sent events (``GET /v2/tasks/{id}/eventstream``), and a dry run is ``POST /v2/dry-run``
with the template's files when Callboard can read them.

Everything here is blocking (``http.client``, from a worker thread). Every read is bounded: each
request has a wall-clock deadline that shuts its socket, answers have a size limit, an event
stream has a limit on its line length, its number of events and its total time, and a stream
that breaks is resumed (``?after=``) a bounded number of times. The bearer token is the backstage
source's own (from the environment), sent only to that source's origin and never shown.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from bot.catalog.model import EntityRef
from bot.catalog.remote import TokenSpec, scrub
from bot.errors import CatalogError, SourceError

API = "/api/scaffolder/v2"
MAX_ANSWER = 8 << 20  # a JSON answer (a parameter schema, a task)
MAX_LINE = 1 << 20  # one line of the event stream
MAX_EVENTS = 20_000  # events one task may send
MAX_RESUMES = 5  # times a broken event stream is opened again
LOG_LINES = 40  # log lines kept per step
LINE_SHOWN = 500  # characters kept of one log line
MAX_SEND_FILES = 2_000  # files a dry run may send
_USER_AGENT = "callboard-scaffold"


class RemoteError(Exception):
    """Backstage refused or failed a request; the message is scrubbed and names what."""


@dataclass
class RemoteStep:
    """One step of a task as its events told it."""

    id: str
    name: str
    action: str
    status: str = "pending"  # processing, completed, skipped, failed, pending
    log: list[str] = field(default_factory=list)

    def heard(self, message: str) -> None:
        if len(self.log) >= LOG_LINES:
            del self.log[0]
        self.log.append(message[:LINE_SHOWN])


@dataclass
class TaskResult:
    """What a task (or a dry run) did: its steps, its status and the template's output."""

    steps: list[RemoteStep]
    status: str = "processing"  # completed, failed, cancelled (or processing: never finished)
    output: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    task_id: str | None = None
    files: dict[str, tuple[bytes, bool]] = field(default_factory=dict)  # dry run: path → data

    @property
    def ok(self) -> bool:
        return self.status == "completed"

    @property
    def failed_step(self) -> RemoteStep | None:
        return next((s for s in self.steps if s.status == "failed"), None)

    def step(self, step_id: str) -> RemoteStep:
        for step in self.steps:
            if step.id == step_id:
                return step
        found = RemoteStep(step_id, step_id, "")
        if len(self.steps) < 500:
            self.steps.append(found)
        return found


def steps_of(document: Mapping[str, Any]) -> list[RemoteStep]:
    """The template's steps, in order, as the task will report them (id, name, action)."""
    spec = document.get("spec")
    raw = spec.get("steps") if isinstance(spec, Mapping) else None
    out: list[RemoteStep] = []
    for n, step in enumerate(raw if isinstance(raw, list) else []):
        if isinstance(step, Mapping):
            sid = str(step.get("id") or f"step-{n}")
            out.append(RemoteStep(sid, str(step.get("name") or sid), str(step.get("action"))))
    return out


class _Deadline:
    """Shuts a connection's socket when the time is up: a read blocked on a server that
    trickles, or sends nothing at all, ends then (a socket timeout bounds each wait only)."""

    def __init__(self, conn: http.client.HTTPConnection, seconds: float) -> None:
        self.conn = conn
        self.fired = threading.Event()
        self._timer = threading.Timer(max(seconds, 0.001), self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired.set()
        sock = self.conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


class ScaffolderClient:
    """Backstage's scaffolder API at ``base_url`` (a ``backstage`` source's URL and token)."""

    def __init__(self, base_url: str, token: TokenSpec, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RemoteError(f"{scrub(base_url)} is not an http(s) URL")
        self._parts = parts

    # ------------------------------------------------------------------ HTTP

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        host, port = self._parts.hostname or "", self._parts.port
        if self._parts.scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=timeout)
        return http.client.HTTPConnection(host, port, timeout=timeout)

    def _headers(self, accept: str, body: bool) -> dict[str, str]:
        headers = {"Accept": accept, "User-Agent": _USER_AGENT}
        if body:
            headers["Content-Type"] = "application/json"
        try:
            bearer = self.token.resolve()
        except SourceError as exc:
            raise RemoteError(str(exc)) from None
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        return headers

    def _path(self, path: str) -> str:
        return f"{self._parts.path.rstrip('/')}{API}{path}"

    def request(self, method: str, path: str, body: Any = None, *, limit: int = MAX_ANSWER) -> Any:
        """One JSON request and its JSON answer, within ``timeout`` seconds in all."""
        what = f"{method} {API}{path}"
        data = json.dumps(body).encode() if body is not None else None
        conn = self._connection(self.timeout)
        try:
            with _Deadline(conn, self.timeout) as deadline:
                try:
                    conn.request(
                        method,
                        self._path(path),
                        body=data,
                        headers=self._headers("application/json", data is not None),
                    )
                    response = conn.getresponse()
                    raw = _read(response, limit, what)
                except (OSError, http.client.HTTPException) as exc:
                    if deadline.fired.is_set():
                        raise RemoteError(f"{what} took longer than {self.timeout:g} s") from None
                    raise RemoteError(self._broken(what, exc)) from None
            if response.status >= 300:
                raise RemoteError(self._refused(what, response.status, raw))
        finally:
            conn.close()
        try:
            return json.loads(raw)
        except ValueError:
            raise RemoteError(f"{what} did not answer with JSON") from None

    def _broken(self, what: str, exc: BaseException) -> str:
        if isinstance(exc, ConnectionRefusedError | socket.gaierror):
            return f"cannot connect to {scrub(self.base_url)} ({exc})"
        if isinstance(exc, TimeoutError):
            return f"{what}: Backstage did not answer within {self.timeout:g} s"
        return f"{what}: the connection broke ({type(exc).__name__}: {scrub(str(exc))})"

    def _refused(self, what: str, status: int, raw: bytes) -> str:
        message = ""
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            data = json.loads(raw)
            error = data.get("error") if isinstance(data, dict) else None
            if isinstance(error, dict):
                message = str(error.get("message") or error.get("name") or "")
            errors = data.get("errors") if isinstance(data, dict) else None
            if isinstance(errors, list) and errors:  # a task's values failed validation
                message = "; ".join(
                    str(e.get("stack") or e.get("message") or e) if isinstance(e, dict) else str(e)
                    for e in errors[:5]
                )
        if not message:
            message = raw[:300].decode("utf-8", "replace").strip()
        if status in (401, 403):
            return (
                f"Backstage refused {self.token.describe()} for {what} (HTTP {status}): "
                + scrub(message)[:500]
            )
        if 300 <= status < 400:
            return f"{what} was redirected (HTTP {status}); give the backend's own base URL"
        return f"{what} failed (HTTP {status}): {scrub(message)[:1000]}"

    # ------------------------------------------------------------------ the API

    def parameter_schema(self, ref: EntityRef) -> dict[str, Any]:
        """The template's form as Backstage gives it: ``{title, steps: [{title, schema}]}``."""
        path = "/templates/" + "/".join(
            quote(p, safe="") for p in (ref.namespace, ref.kind, ref.name)
        )
        data = self.request("GET", f"{path}/parameter-schema")
        if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
            raise RemoteError(f"the parameter schema of {ref} is not an object with steps")
        return data

    def create_task(
        self, ref: EntityRef, values: Mapping[str, Any], secrets: Mapping[str, str]
    ) -> str:
        body = {"templateRef": str(ref), "values": dict(values), "secrets": dict(secrets)}
        data = self.request("POST", "/tasks", body)
        task_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(task_id, str) or not task_id or len(task_id) > 200:
            raise RemoteError("POST /v2/tasks answered without a task id")
        return task_id

    def dry_run(
        self,
        template: Mapping[str, Any],
        values: Mapping[str, Any],
        secrets: Mapping[str, str],
        contents: list[dict[str, str]],
        *,
        limit: int,
    ) -> TaskResult:
        """Backstage's dry run of ``template`` with these files: its steps, files and output."""
        body = {
            "template": dict(template),
            "values": dict(values),
            "secrets": dict(secrets),
            "directoryContents": contents,
        }
        data = self.request("POST", "/dry-run", body, limit=limit)
        if not isinstance(data, dict):
            raise RemoteError("POST /v2/dry-run did not answer with an object")
        result = TaskResult(steps_of(template))
        for entry in data.get("log") or ():
            if isinstance(entry, Mapping):
                _log_event(result, entry.get("body"))
        for item in data.get("directoryContents") or ():
            if not isinstance(item, Mapping):
                continue
            path = _confined(str(item.get("path") or ""))
            try:
                blob = base64.b64decode(str(item.get("base64Content") or ""), validate=True)
            except ValueError:
                raise RemoteError(f"the dry run sent {path} in a broken encoding") from None
            result.files[path] = (blob, bool(item.get("executable")))
        output = data.get("output")
        result.output = output if isinstance(output, Mapping) else {}
        failed = result.failed_step
        result.status = "failed" if failed else "completed"
        if failed and failed.log:
            result.error = failed.log[-1]
        return result

    def follow(
        self,
        task_id: str,
        result: TaskResult,
        on_step: Callable[[RemoteStep], None],
        *,
        seconds: float,
    ) -> TaskResult:
        """Read the task's events into ``result`` until it completes (or the time is up),
        calling ``on_step`` as each step begins and ends."""
        result.task_id = task_id
        ends = time.monotonic() + seconds
        after: int | None = None
        events = 0
        for _attempt in range(MAX_RESUMES + 1):
            left = ends - time.monotonic()
            if left <= 0:
                break
            query = f"?after={after}" if after is not None else ""
            path = f"/tasks/{quote(task_id, safe='')}/eventstream{query}"
            try:
                for event_id, kind, body in self._events(path, left):
                    events += 1
                    if events > MAX_EVENTS:
                        raise RemoteError(f"task {task_id} sent more than {MAX_EVENTS} events")
                    if event_id is not None:
                        after = event_id
                    if _apply(result, kind, body, on_step):
                        return result
            except _StreamBroke:
                continue  # opened again from the last event seen
        result.error = (
            f"task {task_id} did not finish within {seconds:g} s (scaffold.timeout_seconds); "
            "it may still be running on Backstage"
        )
        return result

    def _events(self, path: str, seconds: float) -> Iterator[tuple[int | None, str, Any]]:
        """(id, type, JSON) of each server-sent event on ``path``, for ``seconds`` at most."""
        what = f"GET {API}{path}"
        conn = self._connection(seconds)
        try:
            with _Deadline(conn, seconds) as deadline:
                try:
                    conn.request(
                        "GET", self._path(path), headers=self._headers("text/event-stream", False)
                    )
                    response = conn.getresponse()
                except (OSError, http.client.HTTPException) as exc:
                    if deadline.fired.is_set():
                        return
                    raise RemoteError(self._broken(what, exc)) from None
                if response.status >= 300:
                    raise RemoteError(
                        self._refused(what, response.status, _read(response, 65536, what))
                    )
                try:
                    yield from _sse(response, what)
                except (OSError, http.client.HTTPException):
                    if deadline.fired.is_set():
                        return
                    raise _StreamBroke() from None
                if not deadline.fired.is_set():
                    raise _StreamBroke()  # ended without a completion: open it again
        finally:
            conn.close()


class _StreamBroke(Exception):
    """The event stream ended before the task completed."""


def _read(response: http.client.HTTPResponse, limit: int, what: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = response.read(1 << 16)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise RemoteError(f"{what} answered more than {limit >> 20} MB")
        chunks.append(chunk)


def _sse(response: http.client.HTTPResponse, what: str) -> Iterator[tuple[int | None, str, Any]]:
    """Parse ``text/event-stream``: blank-line separated events of ``event:``/``data:`` lines."""
    kind, data, size = "message", [], 0
    while True:
        line = response.readline(MAX_LINE + 1)
        if not line:
            return
        if len(line) > MAX_LINE:
            raise RemoteError(f"{what} sent a line longer than {MAX_LINE >> 20} MB")
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if text:
            name, _, value = text.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                kind = value[:40]
            elif name == "data":
                size += len(value)
                if size > MAX_ANSWER:
                    raise RemoteError(f"{what} sent an event larger than {MAX_ANSWER >> 20} MB")
                data.append(value)
            continue
        if data:
            try:
                body = json.loads("\n".join(data))
            except ValueError:
                body = None
            event_id = body.get("id") if isinstance(body, dict) else None
            yield (event_id if isinstance(event_id, int) else None), kind, body
        kind, data, size = "message", [], 0


def _log_event(result: TaskResult, body: Any) -> RemoteStep | None:
    """A log event's body (``{message, stepId, status}``) into the step it belongs to."""
    if not isinstance(body, Mapping):
        return None
    step_id = body.get("stepId")
    if not isinstance(step_id, str) or not step_id:
        return None
    step = result.step(step_id)
    message = body.get("message")
    if isinstance(message, str) and message:
        for line in clean_lines(message)[-LOG_LINES:]:
            step.heard(line)
    status = body.get("status")
    if isinstance(status, str) and status in ("processing", "completed", "skipped", "failed"):
        changed = status != step.status
        step.status = status
        return step if changed else None
    return None


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_STACK_FRAME = re.compile(r"^\s+at\s")


def clean_lines(message: str) -> list[str]:
    """A log message as lines fit to show: terminal colour codes and other control characters
    removed, a JavaScript stack trace's frames left out (they name the server's files)."""
    text = _CONTROL.sub("", _ANSI.sub("", message))
    return [line for line in text.splitlines() if line.strip() and not _STACK_FRAME.match(line)]


def _apply(
    result: TaskResult, kind: str, event: Any, on_step: Callable[[RemoteStep], None]
) -> bool:
    """One event of the stream; True when it ends the task."""
    if not isinstance(event, Mapping):
        return False
    body = event.get("body")
    if kind == "log":
        step = _log_event(result, body)
        if step is not None:
            on_step(step)
        return False
    if kind in ("completion", "cancelled"):
        body = body if isinstance(body, Mapping) else {}
        message = str(body.get("message") or "")
        status = "cancelled" if kind == "cancelled" else "completed"
        if "status:" in message:
            status = message.rsplit("status:", 1)[1].strip().split()[0] or status
        if result.failed_step is not None:
            status = "failed"
        error = body.get("error")
        if isinstance(error, Mapping) and error.get("message"):
            result.error = " ".join(clean_lines(str(error["message"])))[:LINE_SHOWN]
            status = "failed" if status == "completed" else status
        output = body.get("output")
        result.output = output if isinstance(output, Mapping) else {}
        result.status = status
        return True
    return False


def _confined(path: str) -> str:
    """A path a dry run sent, if it stays inside the workspace."""
    norm = os.path.normpath(path.replace("\\", "/"))
    if not path or norm.startswith("..") or os.path.isabs(norm) or "\0" in norm:
        raise RemoteError(f"the dry run sent a file outside its workspace: {path[:100]!r}")
    return norm


def template_files(folder: Path, template_file: str | None, max_bytes: int) -> list[dict[str, str]]:
    """The files of a template's folder (not its template.yaml), as a dry run sends them:
    ``{path, base64Content}``, relative to the folder; links and .git are left out."""
    root = folder.resolve()
    out: list[dict[str, str]] = []
    size = 0
    for here, dirs, names in os.walk(root):
        dirs[:] = sorted(
            d for d in dirs if d != ".git" and not os.path.islink(os.path.join(here, d))
        )
        for name in sorted(names):
            path = Path(here) / name
            rel = path.relative_to(root).as_posix()
            if rel == template_file or path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            size += len(data)
            if size > max_bytes or len(out) >= MAX_SEND_FILES:
                raise RemoteError(
                    f"the template's folder holds more than {max_bytes >> 20} MB or "
                    f"{MAX_SEND_FILES} files; too much to send for a dry run"
                )
            out.append({"path": rel, "base64Content": base64.b64encode(data).decode()})
    return out


def entity_ref(ref: str) -> EntityRef:
    try:
        return EntityRef.parse(ref, "template")
    except CatalogError as exc:
        raise RemoteError(f"{ref!r} is not a template reference: {exc}") from None
