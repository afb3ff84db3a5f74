"""Issue 5's target: ``/whoowns`` over signed HTTP, p99 ≤ 50 ms (Slack waits 3 s).

The real adapter (Bolt's ``AsyncApp`` behind the aiohttp server ``callboard run`` starts)
serves on a loopback port in its own thread and event loop; this thread plays Slack: it
signs each slash command exactly as Slack does and times the POST until the ack (which
carries the answer) is read, over one keep-alive connection. Slack's Web API (``auth.test``
once, ``users.info`` once, then cached) is the tests' fake on loopback. Measured on the demo
catalog and on the generated catalog (20,000 repositories by default), both on SQLite.
"""

from __future__ import annotations

import asyncio
import http.client
import random
import threading
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from bench.common import DEMO, BenchContext, Result, latency_results

SAMPLES = 500
WARMUP = 25
TARGET_P99_MS = 50.0
SLACK_MS = 5.0  # what signed HTTP may add to an answer's in-process target (issue 21)


class _Server:
    """Callboard's Slack runtime on a free loopback port, in a thread with its own loop."""

    def __init__(self, config: Path, env: dict[str, str], keep_db: bool = False) -> None:
        self.config = config
        self.env = env
        self.keep_db = keep_db  # answer from a database an earlier run synced, if it has one
        self.port = 0
        self.entities = 0
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Server:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        from adapters.slack.runtime import SlackRuntime, read_secrets
        from bot.bootstrap import build_app, load_settings
        from bot.platforms import SlackSettings
        from commands import COMMANDS

        try:
            settings = load_settings(self.config)
            app = build_app(settings, COMMANDS)
            self.entities = await asyncio.to_thread(app.services.reader.count)
            if not (self.keep_db and self.entities):
                await asyncio.to_thread(app.services.sync.run)
                self.entities = await asyncio.to_thread(app.services.reader.count)
            # The indexes a running bot has built by the time people ask (off the loop).
            await asyncio.to_thread(app.services.catalog.search_cache.current)
            slack = settings.section("slack", SlackSettings)
            runtime = SlackRuntime(app, slack, read_secrets(slack, self.env))
            self.port = await runtime.start_http(port=0)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runtime.close()
            app.close()


def _signed_whoowns(
    secret: str, name: str, user: str, response_url: str
) -> tuple[bytes, dict[str, str]]:
    return _signed_command(secret, "/whoowns", name, user, response_url)


def _signed_command(
    secret: str, command: str, text: str, user: str, response_url: str
) -> tuple[bytes, dict[str, str]]:
    from slack_sdk.signature import SignatureVerifier

    body = urllib.parse.urlencode(
        {
            "team_id": "T0ACME",
            "team_domain": "acme",
            "channel_id": "C0BENCH",
            "channel_name": "bench",
            "user_id": user,
            "user_name": "bench",
            "command": command,
            "text": text,
            "api_app_id": "A0CALLBOARD",
            "response_url": response_url,
            "trigger_id": f"{time.time_ns()}.1.{random.getrandbits(64):016x}",
        }
    )
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": signature,
    }
    return body.encode(), headers


Plan = tuple[str, str, Sequence[str], float]  # metric, command, texts, p99 target (ms)


def _measure(
    label: str,
    slug: str,
    ctx: BenchContext,
    location: Path,
    plans: Sequence[Plan],
    db_url: str | None = None,
) -> list[Result]:
    from tests.e2e.slack_fake import BOT_TOKEN, SIGNING_SECRET, FakeSlack

    fake = FakeSlack().start()
    fake.add_user("U0BENCH", "bench@acme.example.com", "Bench")
    config = ctx.config(
        f"slack-{slug}",
        location,
        db_url=db_url,
        slack={"api_url": fake.base_url, "host": "127.0.0.1", "port": 0},
    )
    if db_url is None:
        ctx.fresh_db(f"slack-{slug}")
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    results: list[Result] = []
    try:
        with _Server(config, env, keep_db=ctx.keep_db) as server:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            for metric, command, texts, target in plans:
                samples: list[float] = []
                failures = 0
                late_before = len(fake.calls_to("webhook"))
                order = [texts[i % len(texts)] for i in range(WARMUP + SAMPLES)]
                for i, text in enumerate(order):
                    body, headers = _signed_command(
                        SIGNING_SECRET, command, text, "U0BENCH", fake.webhook_url("bench")
                    )
                    started = time.perf_counter()
                    conn.request("POST", "/slack/events", body=body, headers=headers)
                    response = conn.getresponse()
                    answer = response.read()
                    elapsed = (time.perf_counter() - started) * 1000
                    if response.status != 200 or b'"blocks"' not in answer:
                        failures += 1
                    if i >= WARMUP:
                        samples.append(elapsed)
                late = len(fake.calls_to("webhook")) - late_before  # answers that missed the ack
                note = f"{server.entities:,} entities; {failures} failed; {late} via response_url"
                rows = latency_results("slack", f"{metric} signed HTTP, {label}", samples, target)
                rows[-1] = Result(**{**rows[-1].__dict__, "note": f"{rows[-1].note}; {note}"})
                results += rows
            conn.close()
    finally:
        fake.stop()
    return results


def _demo_names() -> list[str]:
    import yaml

    names = []
    for path in sorted(DEMO.parent.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "Component":
                names.append(doc["metadata"]["name"])
    return names


def run(ctx: BenchContext) -> list[Result]:
    from bench.bench_commands import BIG_TARGETS, TARGETS, misspelt_names

    demo = [("/whoowns", "/whoowns", _demo_names(), TARGET_P99_MS)]
    results = _measure("demo", "demo", ctx, DEMO, demo)
    catalog = ctx.catalog()
    names = list(catalog.sample_names)
    # The in-process targets plus 5 ms for the signed HTTP round trip (issue 21); the 43k run
    # keeps issue 5's 50 ms for /whoowns.
    aim = {k: v + SLACK_MS for k, v in (BIG_TARGETS if ctx.scale != "43k" else TARGETS).items()}
    if ctx.scale == "43k":
        aim["whoowns exact"] = TARGET_P99_MS
    words = [n.split("-")[0] for n in names]
    plans: list[Plan] = [
        ("/whoowns", "/whoowns", names, aim["whoowns exact"]),
        ("/whoowns misspelt", "/whoowns", misspelt_names(names), aim["whoowns misspelt"]),
        ("/search", "/search", [*words, *names], aim["search"]),
        ("/deps --depth 2", "/deps", [f"{n} --depth 2" for n in names], aim["deps"]),
    ]
    # With --keep-db: the commands benchmark's database, synced once for both.
    db_url = f"sqlite:///{ctx.work / 'commands'}.db" if ctx.keep_db else None
    results += _measure(
        f"{ctx.repos:,} repos", "generated", ctx, catalog.location_file, plans, db_url
    )
    return results
