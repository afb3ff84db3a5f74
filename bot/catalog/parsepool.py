"""Parse catalog files in worker processes, while the sync's own process goes on walking.

Parsing YAML is most of a cold sync's work and it holds the interpreter lock, so a large sync
hands it to a few worker processes (``_parse_worker.py``, started as their own program: no
``fork`` of a threaded bot, and no re-import of the caller's ``__main__`` as ``multiprocessing``
would do). Each worker has a writer and a reader thread here, so neither side can block the
other on a full pipe. Results come back as the same ``Parsed`` the sync's own
``parse_documents`` returns.

A worker that dies (libyaml crashing on a hostile file, the kernel's OOM killer) costs one
file, not the sync: the batch it was parsing is retried one file at a time, and the file that
kills a worker on its own is reported as a problem and not read, so its last good entities are
kept. A file that takes longer than ``file_timeout`` is treated the same way. When no worker can
be started at all, files are parsed in the caller's process, as without a pool; when workers
keep dying past a limit, the files left are reported unread rather than parsed in the caller's
process, which a crash would take down.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bot.catalog._parse_worker import READY
from bot.catalog.candidates import Prepared
from bot.catalog.problems import Problem
from bot.catalog.yamlload import Parsed, parse_documents

Result = tuple[Parsed, Prepared | None]

log = logging.getLogger(__name__)

WORKER = Path(__file__).with_name("_parse_worker.py")
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding ``bot``

BATCH_FILES = 256
BATCH_BYTES = 1 << 20
IN_FLIGHT = 2  # batches per worker: one being parsed, one waiting in its pipe
MAX_FRAME = 1 << 34  # an answer larger than this is garbage, not a parse
FILE_TIMEOUT_S = 120.0  # per batch


def default_workers() -> int:
    """One worker per CPU this process may use, at most four (the sync itself needs one too)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


@dataclass
class _Job:
    id: int
    file: str
    data: bytes
    prepare: bool = False  # also validate its entities and derive relations there
    alone: bool = False  # retried after a worker died: sent in a batch of its own


@dataclass
class _Worker:
    proc: subprocess.Popen[bytes]
    in_flight: deque[list[_Job]] = field(default_factory=deque)
    ready: bool = False  # it said so, once its imports worked
    dead: bool = False
    timed_out: bool = False
    started: float = field(default_factory=time.monotonic)


class ParsePool:
    """``submit`` files, then take each ``result`` (in any order; usually the order submitted)."""

    def __init__(
        self,
        workers: int,
        file_timeout: float = FILE_TIMEOUT_S,
        worker_command: Callable[[], list[str]] | None = None,
    ) -> None:
        self._size = max(1, workers)
        self._file_timeout = file_timeout
        self._command = worker_command or (
            lambda: [sys.executable, "-I", str(WORKER), str(PACKAGE_ROOT)]
        )
        self._cond = threading.Condition()
        self._queue: deque[_Job] = deque()
        self._results: dict[int, Result] = {}
        self._pending: dict[int, _Job] = {}  # submitted, no result yet
        self._workers: list[_Worker] = []
        self._threads: list[threading.Thread] = []
        self._next_id = 0
        self._closing = False
        self._broken = False  # no worker could be started: parse here instead
        self._restarts = 0
        self._max_restarts = 4 * self._size + 8
        self._started = False
        self.crashes = 0  # worker deaths seen (for tests and the log)

    # --- the caller's side ----------------------------------------------------------------

    def submit(self, file: str, data: bytes, prepare: bool = False) -> int:
        with self._cond:
            if not self._started:
                self._started = True
                for _ in range(self._size):
                    self._spawn()
                if not self._workers:
                    self._broken = True
            job = _Job(self._next_id, file, data, prepare)
            self._next_id += 1
            self._pending[job.id] = job
            if not self._broken:
                self._queue.append(job)
                self._cond.notify_all()
            return job.id

    def result(self, job_id: int) -> Result:
        """The parsed file (and its candidates, if asked for); waits for it.

        Parses it here (without candidates) when no worker could be started.
        """
        with self._cond:
            while True:
                done = self._results.pop(job_id, None)
                if done is not None:
                    self._pending.pop(job_id, None)
                    return done
                job = self._pending.get(job_id)
                if job is None:
                    raise KeyError(job_id)
                if self._broken:
                    break  # no worker could ever be started: parse here, as without a pool
                if not any(not w.dead for w in self._workers):
                    # Workers kept dying (each death replaced, up to a limit): the files left
                    # are not parsed here, where a crash would take the bot down with it.
                    self._pending.pop(job_id, None)
                    reason = (
                        f"not parsed: YAML parse workers stopped {self.crashes} times in this "
                        "sync; the file keeps its last good entities"
                    )
                    return Parsed([], [Problem("error", reason, job.file)], False), None
                self._cond.wait(timeout=min(1.0, self._file_timeout / 4))
                self._watch_timeouts()
        self._pending.pop(job_id, None)
        return parse_documents(job.data, job.file), None

    def close(self) -> None:
        """Stop the workers (closing their input) and the threads; results not taken are lost."""
        with self._cond:
            self._closing = True
            self._queue.clear()
            self._cond.notify_all()
            workers = list(self._workers)
            busy = [w for w in workers if w.in_flight and not w.dead]
        for w in busy:  # its answer is not wanted, and a feed blocked writing to it must end
            w.proc.kill()
        for w in workers:
            _close_quietly(w.proc.stdin)
        deadline = time.monotonic() + 5
        for w in workers:
            try:
                w.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()
        for t in self._threads:
            t.join(timeout=5)
        for w in workers:
            _close_quietly(w.proc.stdout)

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- workers ----------------------------------------------------------------------------

    def _spawn(self) -> None:
        """Start one worker and its two threads (call with the lock held)."""
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        try:
            proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                close_fds=True,
            )
        except OSError as exc:
            log.warning("cannot start a YAML parse worker (%s); parsing in this process", exc)
            return
        worker = _Worker(proc)
        self._workers.append(worker)
        for target, name in ((self._feed, "parse-feed"), (self._drain, "parse-drain")):
            thread = threading.Thread(target=target, args=(worker,), name=name, daemon=True)
            self._threads.append(thread)
            thread.start()

    def _next_batch(self) -> list[_Job]:
        first = self._queue.popleft()
        batch, size = [first], len(first.data)
        if first.alone:
            return batch
        while self._queue and len(batch) < BATCH_FILES and size < BATCH_BYTES:
            if self._queue[0].alone:
                break
            job = self._queue.popleft()
            batch.append(job)
            size += len(job.data)
        return batch

    def _feed(self, worker: _Worker) -> None:
        stdin = worker.proc.stdin
        assert stdin is not None
        while True:
            with self._cond:
                while (
                    not self._closing
                    and not worker.dead
                    and (not self._queue or len(worker.in_flight) >= IN_FLIGHT)
                ):
                    self._cond.wait()
                if self._closing or worker.dead:
                    return
                batch = self._next_batch()
                worker.in_flight.append(batch)
                if len(worker.in_flight) == 1:
                    worker.started = time.monotonic()
            payload = pickle.dumps(
                [(j.id, j.file, j.data, j.prepare) for j in batch],
                protocol=pickle.HIGHEST_PROTOCOL,
            )
            try:
                stdin.write(len(payload).to_bytes(8, "big"))
                stdin.write(payload)
                stdin.flush()
            except (OSError, ValueError):
                return  # the worker is gone; its reader sees the end and re-queues the batch

    def _drain(self, worker: _Worker) -> None:
        stdout = worker.proc.stdout
        assert stdout is not None
        if _read_exact(stdout, len(READY)) != READY:
            # It could not start (imports failed), or it is another version of the program.
            worker.proc.kill()
            self._lost(worker)
            return
        with self._cond:
            worker.ready = True
        while True:
            try:
                header = _read_exact(stdout, 8)
                size = int.from_bytes(header, "big") if header else -1
                if size > MAX_FRAME:
                    raise ValueError(f"a {size}-byte answer")
                body = _read_exact(stdout, size) if size >= 0 else None
                if body is None:
                    self._lost(worker)
                    return
                results: list[tuple[int, Parsed, Prepared | None]] = pickle.loads(body)
            except Exception:  # a garbled answer: treat the worker as lost
                worker.proc.kill()
                self._lost(worker)
                return
            with self._cond:
                if worker.in_flight:
                    worker.in_flight.popleft()
                worker.started = time.monotonic()
                for job_id, parsed, prepared in results:
                    if job_id in self._pending:
                        self._results[job_id] = (parsed, prepared)
                self._cond.notify_all()

    def _lost(self, worker: _Worker) -> None:
        """The worker's output ended: re-queue what it held and replace it."""
        try:
            code = worker.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # it closed its output but lives on: stop it
            worker.proc.kill()
            code = worker.proc.wait()
        with self._cond:
            worker.dead = True
            self._cond.notify_all()
            if self._closing:
                return
            batches = list(worker.in_flight)
            worker.in_flight.clear()
            if not worker.ready:
                # Not a file's fault: the worker program cannot run here (a broken install,
                # dependencies only on a PYTHONPATH that -I ignores). Its files go back to the
                # queue; with no worker able to start, the caller parses them itself.
                self._queue.extendleft(reversed([j for b in batches for j in b]))
                if all(w.dead and not w.ready for w in self._workers):
                    self._broken = True
                    log.warning(
                        "YAML parse workers cannot start (exit status %s); parsing in this process",
                        code,
                    )
                self._cond.notify_all()
                return
            self.crashes += 1
            if batches:
                culprit, rest = batches[0], [j for b in batches[1:] for j in b]
                log.warning(
                    "a YAML parse worker stopped (exit status %s) while parsing %d file(s)",
                    code,
                    len(culprit),
                )
                if len(culprit) == 1 and culprit[0].alone:
                    self._fail(culprit[0], code, worker.timed_out)
                    retry = rest
                else:
                    retry = [_Job(j.id, j.file, j.data, j.prepare, True) for j in culprit] + rest
                self._queue.extendleft(reversed(retry))
            if self._restarts < self._max_restarts:
                self._restarts += 1
                self._spawn()
            self._cond.notify_all()

    def _fail(self, job: _Job, code: int, timed_out: bool) -> None:
        if timed_out:
            reason = f"parsing took longer than {self._file_timeout:.0f} s and was stopped"
        elif code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else -code
            reason = f"the YAML parser crashed on this file ({name})"
        else:
            reason = f"the parse worker stopped while reading this file (exit status {code})"
        failed = Parsed([], [Problem("error", f"{reason}; not read", job.file)], False)
        self._results[job.id] = (failed, None)

    def _watch_timeouts(self) -> None:
        """Stop a worker stuck on one batch for longer than ``file_timeout`` (a batch holds at most
        ``BATCH_BYTES``, or one file; libyaml reads a 10 MB file in a few seconds)."""
        now = time.monotonic()
        for w in self._workers:
            if w.dead or not w.in_flight:
                continue
            if now - w.started > self._file_timeout:
                w.timed_out = True
                w.proc.kill()  # its reader sees the end of output and handles the rest


def _read_exact(stream: IO[bytes], size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size:
        try:
            chunk = stream.read(size)
        except (OSError, ValueError):
            return None
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _close_quietly(stream: Any) -> None:
    try:
        if stream is not None:
            stream.close()
    except OSError:
        pass
