"""The event loop never waits: Slack and Discord answer with asyncio's slow-callback detector on.

Each test runs a real front door (the Bolt app on loopback, discord.py against simcord) on a
generated catalog of about 4,300 entities, turns on asyncio's debug mode with
``slow_callback_duration = 0.05`` and fails on any "Executing ... took" warning the ``asyncio``
logger emits: no callback (a request being parsed, a handler step, a Discord heartbeat) may
hold the loop for 50 ms, apart from time its thread waited for a CPU that other processes held
(see ``SlowCallbacks``). That covers a sync of a changed catalog running while requests are
answered, and the first answers after it, when the name and search indexes are rebuilt.

The catalog is small enough for a loaded 2-core machine and large enough for the work to be
real: building its name index takes tens of milliseconds and its search index about 200, so
either one built on the loop, or one request's database reads done there under a concurrent
sync, is caught. No assertion here times anything itself; asyncio does.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import logging
import random
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.slack import render
from bench.generate import GeneratedCatalog, generate_catalog
from bench.runqueue import RunQueue, ThreadTimes
from bot.app import App
from tests.e2e.test_discord import discord_app, discord_world, embed_text
from tests.e2e.test_slack import (  # noqa: F401 (fixtures)
    PAYMENTS_CHANNEL,
    Starter,
    block_text,
    fake,
    start_slack,
)

pytestmark = pytest.mark.alone  # `make test` runs it after the rest, alone

SLOW_CALLBACK = 0.05  # seconds: what asyncio reports as a slow callback
BEAT = 0.01  # seconds between two readings of the loop thread's wait for a CPU


def assert_loop_never_waited(slow: SlowCallbacks) -> None:
    """No callback held the loop for ``SLOW_CALLBACK`` or more, apart from waits for a CPU.

    Blocking work on the loop (an index rebuilt on it, a sync's write) shows up as a slow
    callback; so does another thread holding the GIL in one long C call (a sort, a join,
    unpickling a large batch) while the loop waits to run its next bytecode. Each one is
    listed with what every thread did meanwhile (ran on a CPU, waited for one), which names
    the thread that held the loop up.
    """
    assert not slow.seen, "\n".join(slow.seen)


REPOS = 2000  # about 4,300 entities
NEW_SERVICE = "loop-new-service"


class SlowCallbacks(logging.Handler):
    """Collects asyncio's "Executing <callback> took N seconds" warnings.

    The steps of the test's own coroutine are left out: it plays Slack or the Discord user
    on the same loop (signing requests, validating every ack's Block Kit), which is not the
    bot's work; every callback of the bot, Bolt, aiohttp, discord.py and simcord counts.

    What a callback took includes the time the loop's thread was ready but waited for a CPU
    that other processes held (``bench.runqueue``): on a loaded two-core machine that alone is
    tens of milliseconds at a time (measured beside six other jobs, load 13: up to 230 ms in
    one 2 ms beat, 30-90 ms in most slow ones), and it is not the bot holding the loop. A
    loop timer notes the thread's total wait every ``BEAT``; a slow callback is charged the
    wait since the last note, in proportion to its share of that span, and counts when what
    is left still reaches ``SLOW_CALLBACK``. Waiting for the GIL, a lock or I/O is not a wait
    for a CPU: a sync holding the GIL, or blocking work on the loop, always counts. Where
    the kernel does not say (not Linux), nothing is taken off. A callback that counts is
    listed with how long each thread ran and waited for a CPU since the last reading before
    it began (``ThreadTimes``, read by a watcher thread, not by a loop callback): a thread
    that ran most of it held the GIL; one that waited for a CPU most of it held the GIL while
    the machine's load kept it off the CPU.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(logging.WARNING)
        self.loop = loop
        self.cpu = RunQueue()
        self.mark = (loop.time(), self.cpu.waited())
        self.threads = ThreadTimes()
        # (time, every thread's times) read by the watcher thread each BEAT, newest last: a
        # slow callback is described from the last reading before it began.
        self.readings: collections.deque[tuple[float, dict[int, tuple[int, int]]]] = (
            collections.deque([(loop.time(), ThreadTimes.read())], maxlen=100)
        )
        self.seen: list[str] = []  # slow callbacks, less their waits for a CPU
        self.excused: list[str] = []  # slow only by waiting for a CPU
        self._timer: asyncio.TimerHandle | None = None
        self._stopping = threading.Event()
        # Every thread's times are read by a thread of their own, not by the loop's timer:
        # that is a file opened, read and closed per thread, each a system call that lets
        # the GIL go, and a worker busy in Python (the indexes rebuilt after the sync) then
        # keeps it for a switch interval (5 ms) each time. The timer reading them held the
        # loop for 70-76 ms in the three failures of 60 runs (the watched callback was the
        # timer itself each time); the loop's own wait for a CPU is one pread on an open file.
        self._watcher = threading.Thread(target=self._watch, name="slow-callback-watch")

    def start(self) -> None:
        self._watcher.start()
        self.note()

    def note(self) -> None:
        self.mark = (self.loop.time(), self.cpu.waited())
        self._timer = self.loop.call_later(BEAT, self.note)

    def _watch(self) -> None:
        while not self._stopping.wait(BEAT):
            self.readings.append((time.monotonic(), ThreadTimes.read()))  # the loop's clock

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._stopping.set()
        if self._watcher.is_alive():
            self._watcher.join()
        self.cpu.close()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        took = re.search(r" took ([0-9.]+) seconds$", message)
        if not message.startswith("Executing ") or "coro=<test_" in message or took is None:
            return
        seconds = float(took[1])
        at, waited = self.mark
        span = max(self.loop.time() - at, seconds)
        off_cpu = (self.cpu.waited() - waited) * (seconds / span if span > 0 else 1.0)
        entry = f"{message} ({off_cpu * 1000:.0f} ms of it waiting for a CPU)"
        if seconds - off_cpu < SLOW_CALLBACK:
            self.excused.append(entry)
            return
        began = self.loop.time() - seconds
        before = [reading for at, reading in list(self.readings) if at <= began]
        meanwhile = self.threads.since(mark=before[-1] if before else self.readings[0][1])
        self.seen.append(f"{entry}; meanwhile: {meanwhile or 'no thread data'}")


@contextlib.asynccontextmanager
async def watched_loop() -> AsyncIterator[SlowCallbacks]:
    """asyncio debug mode with a 50 ms slow-callback threshold, on the running loop."""
    loop = asyncio.get_running_loop()
    # The test process's own heap (every test before this one) is collected and frozen first,
    # so a full collection of pytest's garbage is not charged to the code under test. The
    # bot does the same for its large indexes (``bot.catalog.read.settle_heap``).
    gc.collect()
    gc.freeze()
    slow = SlowCallbacks(loop)
    logger = logging.getLogger("asyncio")
    logger.addHandler(slow)
    debug, threshold = loop.get_debug(), loop.slow_callback_duration
    loop.set_debug(True)
    loop.slow_callback_duration = SLOW_CALLBACK
    slow.start()
    try:
        yield slow
    finally:
        slow.stop()
        loop.set_debug(debug)
        loop.slow_callback_duration = threshold
        logger.removeHandler(slow)
        gc.unfreeze()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> GeneratedCatalog:
    return generate_catalog(tmp_path_factory.mktemp("catalog") / "generated", REPOS)


@pytest.fixture
def changing(catalog: GeneratedCatalog, tmp_path: Path) -> GeneratedCatalog:
    """A copy of the generated catalog this test may change."""
    import shutil

    root = tmp_path / "catalog"
    shutil.copytree(catalog.root, root)
    location = root / catalog.location_file.relative_to(catalog.root)
    return GeneratedCatalog(
        root=root,
        location_file=location,
        files=catalog.files,
        entities=catalog.entities,
        bytes=catalog.bytes,
        sample_names=catalog.sample_names,
        sample_groups=catalog.sample_groups,
    )


def sources(catalog: GeneratedCatalog) -> list[dict[str, Any]]:
    return [{"type": "file", "name": "generated", "target": str(catalog.location_file)}]


def change(catalog: GeneratedCatalog) -> tuple[str, str]:
    """Move one component to another team and add a new component to its file (a new file
    would not do: an unchanged Location's glob is not expanded again); (moved, new owner)."""
    moved = catalog.sample_names[0]
    path = catalog.root / "repos" / moved / "catalog-info.yaml"
    first, sep, rest = path.read_text().partition("\n---\n")
    owner = next(line for line in first.splitlines() if line.startswith("  owner: "))
    new_owner = next(g for g in catalog.sample_groups if f"owner: {g}" != owner.strip())
    first = first.replace(owner, f"  owner: {new_owner}")
    added = (
        "apiVersion: backstage.io/v1alpha1\n"
        "kind: Component\n"
        f"metadata:\n  name: {NEW_SERVICE}\n  description: Added while the bot was serving.\n"
        f"spec:\n  type: service\n  lifecycle: production\n"
        f"  owner: {catalog.sample_groups[0]}\n"
    )
    path.write_text(first + sep + rest.rstrip("\n") + "\n---\n" + added)
    return moved, new_owner


async def while_syncing(app: App, ask: Callable[[int], Any]) -> int:
    """Sync the changed catalog in the background (as the refresh tick does) and ask
    questions until it is done; the number asked."""
    sync = asyncio.create_task(app.services.sync.run_async())
    asked = 0
    while not sync.done():
        await ask(asked)
        asked += 1
    report = await sync
    assert any(s.changed for s in report.sources), report.summary()
    return asked


def test_the_watch_catches_a_blocking_callback() -> None:
    """The detector works: a callback that blocks the loop for 100 ms is reported."""

    slow = asyncio.run(_block_the_loop())
    assert slow.seen and "took" in slow.seen[0]
    with pytest.raises(AssertionError):
        assert_loop_never_waited(slow)


async def _block_the_loop() -> SlowCallbacks:
    async with watched_loop() as slow:
        await asyncio.sleep(0)
        time.sleep(0.1)  # blocking on purpose: sleeping is no wait for a CPU
        await asyncio.sleep(0)
    return slow


def test_the_watch_names_a_thread_that_holds_the_gil() -> None:
    """The loop waiting for the GIL that another thread holds in one long C call (a sort of a
    million numbers) is a slow callback, and the message names that thread."""

    slow = asyncio.run(_hold_the_gil())
    assert any("meanwhile: sorter ran" in entry for entry in slow.seen), slow.seen


async def _hold_the_gil() -> SlowCallbacks:
    numbers = [random.random() for _ in range(1_000_000)]
    sorting, done = threading.Event(), threading.Event()

    def sort() -> None:
        sorting.set()
        numbers.sort()  # one C call: the GIL is not handed over until it returns
        done.wait()  # alive until the watch has read what each thread did

    sorter = threading.Thread(target=sort, name="sorter")
    try:
        async with watched_loop() as slow:
            await asyncio.sleep(0)
            sorter.start()
            sorting.wait()
            time.sleep(0.001)  # hands the GIL to the sorter; taking it back waits for the sort
            await asyncio.sleep(0)
    finally:
        done.set()
        if sorter.is_alive():
            sorter.join()
    return slow


async def test_slack_never_holds_the_loop_even_during_a_changing_sync(
    start_slack: Starter,  # noqa: F811 (the fixture imported above)
    changing: GeneratedCatalog,
) -> None:
    slack = await start_slack(sources=sources(changing))
    assert slack.app is not None
    name, team = changing.sample_names[1], changing.sample_groups[0]
    async with watched_loop() as slow:
        # First answers: the name and search indexes are built, in worker threads.
        status, body = await slack.command("/whoowns", name)
        assert status == 200 and f"component:default/{name}" in block_text(body)
        for command, text in (
            ("/describe", name),
            ("/search", name.split("-")[0]),
            ("/owns", team),
            ("/deps", name),
            ("/whoowns", name[:-1]),  # a typo: fuzzy resolution
        ):
            status, body = await slack.command(command, text)
            assert status == 200 and "error id" not in block_text(body), command
        moved, new_owner = await asyncio.to_thread(change, changing)

        async def ask(i: int) -> None:
            if i % 2:
                status, options = await slack.interaction(
                    {
                        "type": "block_suggestion",
                        "action_id": f"{render.ACTION_PICK}:component",
                        "block_id": f"{render.PICK_RUN_BLOCK}whoowns",
                        "value": name[:5],
                        "container": {"type": "message", "channel_id": PAYMENTS_CHANNEL},
                    }
                )
                assert status == 200 and options["options"]
                return
            status, body = await slack.command("/whoowns", name)
            assert status == 200 and f"component:default/{name}" in block_text(body)

        await while_syncing(slack.app, ask)
        # After the sync, answers come from the rebuilt indexes.
        status, body = await slack.command("/whoowns", NEW_SERVICE)
        assert f"group:default/{team}" in block_text(body)
        status, body = await slack.command("/whoowns", moved)
        assert f"group:default/{new_owner}" in block_text(body)
        status, body = await slack.command("/search", NEW_SERVICE)
        assert NEW_SERVICE in block_text(body)
        await slack.settle()
    assert_loop_never_waited(slow)


async def test_discord_never_holds_the_loop_even_during_a_changing_sync(
    make_app: Callable[..., App], changing: GeneratedCatalog
) -> None:
    app = discord_app(make_app, sources=sources(changing), message_content=True)
    name, team = changing.sample_names[1], changing.sample_groups[0]
    async with discord_world(app) as w, watched_loop() as slow:
        result = await w.ana.slash(w.channel, "whoowns", entity=name)
        assert f"component:default/{name}" in embed_text(result.response.embeds)
        choices = await w.ana.autocomplete(w.channel, "whoowns", "entity", name[:-1])
        assert choices and choices[0]["value"]
        me = w.adapter.client.user
        assert me is not None
        await w.ana.send(w.channel, f"{me.mention} who owns {name}")
        assert name in embed_text(w.channel.last_message.embeds)
        result = await w.ana.slash(w.channel, "search", query=name.split("-")[0])
        assert result.acknowledged
        moved, new_owner = await asyncio.to_thread(change, changing)

        async def ask(i: int) -> None:
            if i % 2:
                assert await w.ana.autocomplete(w.channel, "whoowns", "entity", name[:5])
                return
            result = await w.ana.slash(w.channel, "whoowns", entity=name)
            answer = result.response or result.followups[-1]
            assert f"component:default/{name}" in embed_text(answer.embeds)

        await while_syncing(app, ask)
        result = await w.ana.slash(w.channel, "whoowns", entity=NEW_SERVICE)
        assert f"group:default/{team}" in embed_text(result.response.embeds)
        result = await w.ana.slash(w.channel, "whoowns", entity=moved)
        assert f"group:default/{new_owner}" in embed_text(result.response.embeds)
    assert_loop_never_waited(slow)
