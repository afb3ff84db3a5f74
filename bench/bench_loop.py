"""Issue 16's target: the longest event-loop stall while a changed catalog is re-synced.

The generated catalog (20,000 repositories, about 43,000 entities) is synced into SQLite and
the name and search indexes are built, as in a running bot. Then, on one event loop:

* ``/whoowns <name>`` is asked 20 times a second through the dispatcher, each in its own
  task, as chat requests arrive (round robin over the sample names);
* a heartbeat task sleeps 2 ms at a time and records how late it wakes: the loop's stalls;
* a catalog change (``CHANGED_FILES`` repositories move to another team, each gains a new
  Component) is synced with ``services.sync.run_async``, as the refresh tick and ``/callboard sync``
  do; asking goes on for ``AFTER_S`` seconds after it, when the first answers come from the
  rebuilt indexes.

Reported: the longest stall from the sync's start to the end (target ≤ 50 ms), the same
before the sync (the baseline), the sync's wall time, and /whoowns latency during the window.
On a shared machine a stall is also the time the loop's thread waited for a CPU that other
processes held (``bench.runqueue``): the longest stall net of that wait, and the longest such
wait in one beat, are reported beside it (on a quiet machine they are the stall and zero).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

from bench.common import BenchContext, Result, percentiles
from bench.generate import GeneratedCatalog
from bench.runqueue import RunQueue
from bot.app import App
from bot.bootstrap import build_app, load_settings
from bot.chat import ChatUser, Request
from commands import COMMANDS, INTERPRETERS

RATE_PER_S = 20
BEAT_S = 0.002
BEFORE_S = 2.0
AFTER_S = 2.0
CHANGED_FILES = 50
TARGET_MS = 50.0


def _change(root: Path, names: list[str], groups: list[str]) -> int:
    """Move ``CHANGED_FILES`` repositories' Components to another team and add a Component to
    each file; the number of files changed."""
    repos = sorted(p for p in (root / "repos").iterdir() if p.is_dir())[:CHANGED_FILES]
    for i, repo in enumerate(repos):
        path = repo / "catalog-info.yaml"
        first, sep, rest = path.read_text().partition("\n---\n")
        owner = next(line for line in first.splitlines() if line.startswith("  owner: "))
        new_owner = next(g for g in groups[i % len(groups) :] + groups if g not in owner)
        first = first.replace(owner, f"  owner: {new_owner}")
        added = (
            "apiVersion: backstage.io/v1alpha1\nkind: Component\n"
            f"metadata:\n  name: {repo.name}-loop-added\n"
            f"spec:\n  type: service\n  lifecycle: production\n  owner: {new_owner}\n"
        )
        body = first + sep + rest if sep else first
        path.write_text(body.rstrip("\n") + "\n---\n" + added)
    return len(repos)


class _Window:
    """Stalls and answers seen while a window is open."""

    def __init__(self) -> None:
        self.stall_ms = 0.0
        self.net_ms = 0.0  # the longest stall less the loop thread's wait for a CPU in it
        self.cpu_wait_ms = 0.0  # the longest wait for a CPU in one beat
        self.latencies_ms: list[float] = []
        self.errors = 0


async def _measure(app: App, cat: GeneratedCatalog, root: Path) -> dict[str, object]:
    names = list(cat.sample_names)
    groups = list(cat.sample_groups)
    user = ChatUser("bench", "U1", "bench")
    window = _Window()
    windows: dict[str, _Window] = {}
    stop = asyncio.Event()
    pending: set[asyncio.Task[None]] = set()

    async def heartbeat() -> None:
        loop = asyncio.get_running_loop()
        cpu = RunQueue()
        try:
            while not stop.is_set():
                started, waited = loop.time(), cpu.waited()
                await asyncio.sleep(BEAT_S)
                late = (loop.time() - started - BEAT_S) * 1000
                off_cpu = (cpu.waited() - waited) * 1000
                window.stall_ms = max(window.stall_ms, late)
                window.net_ms = max(window.net_ms, late - off_cpu)
                window.cpu_wait_ms = max(window.cpu_wait_ms, off_cpu)
        finally:
            cpu.close()

    async def ask(name: str, into: _Window) -> None:
        started = time.perf_counter()
        reply = await app.dispatcher.dispatch(Request(f"/whoowns {name}", user, platform="bench"))
        into.latencies_ms.append((time.perf_counter() - started) * 1000)
        if reply.error:
            into.errors += 1

    async def asker() -> None:
        i = 0
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not stop.is_set():
            task = asyncio.create_task(ask(names[i % len(names)], window))
            pending.add(task)
            task.add_done_callback(pending.discard)
            i += 1
            next_at += 1 / RATE_PER_S
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    beat = asyncio.create_task(heartbeat())
    asking = asyncio.create_task(asker())
    await asyncio.sleep(BEFORE_S)
    windows["before"] = window
    window = _Window()
    changed = await asyncio.to_thread(_change, root, names, groups)
    started = time.perf_counter()
    report = await app.services.sync.run_async()
    sync_s = time.perf_counter() - started
    await asyncio.sleep(AFTER_S)
    stop.set()
    await asyncio.gather(beat, asking, *pending)
    windows["during"] = window
    summary = report.summary().splitlines()[0]
    return {"windows": windows, "sync_s": sync_s, "changed": changed, "summary": summary}


def run(ctx: BenchContext) -> list[Result]:
    cat = ctx.catalog()
    root = ctx.work / "loop-catalog"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(cat.root, root)  # the shared catalog stays as generated
    location = root / cat.location_file.relative_to(cat.root)
    db = ctx.work / "loop.db"
    for suffix in ("", "-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    config = ctx.config("loop", location)
    app = build_app(load_settings(config), COMMANDS, interpreters=INTERPRETERS)
    try:
        app.services.sync.run()
        app.services.reader.index()  # as in a running bot that has answered
        app.services.catalog.search_cache.current()
        measured = asyncio.run(_measure(app, cat, root))
    finally:
        app.close()
    windows = measured["windows"]
    assert isinstance(windows, dict)
    before, during = windows["before"], windows["during"]
    p50, p99 = percentiles(during.latencies_ms or [0.0])
    note = f"{measured['changed']} files changed: {measured['summary']}"
    return [
        Result("loop", "longest stall, before the sync", before.stall_ms, "ms"),
        Result(
            "loop",
            "longest stall, changing re-sync + 2 s",
            during.stall_ms,
            "ms",
            f"≤ {TARGET_MS:g} ms",
            during.stall_ms <= TARGET_MS,
            f"/whoowns {RATE_PER_S}/s",
        ),
        Result(
            "loop",
            "  the same, net of waits for a CPU",
            during.net_ms,
            "ms",
            f"≤ {TARGET_MS:g} ms",
            during.net_ms <= TARGET_MS,
            f"longest wait for a CPU in one beat {during.cpu_wait_ms:.0f} ms",
        ),
        Result("loop", "re-sync wall time (in a thread)", float(str(measured["sync_s"])), "s"),
        Result("loop", "/whoowns during it p50", p50, "ms"),
        Result(
            "loop",
            "/whoowns during it p99",
            p99,
            "ms",
            note=f"{len(during.latencies_ms)} answers, {during.errors} errors",
        ),
        Result("loop", "(what changed)", 0, "", note=note[:100]),
    ]
