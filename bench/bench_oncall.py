"""Issue 18's targets: ``/whoowns`` with "On call now" over Slack's signed HTTP, the fake
PagerDuty (tests.oncall_fakes) answering in 200 ms: p99 ≤ 250 ms uncached, ≤ 25 ms cached.

The uncached run sets ``oncall.cache_seconds: 0`` so every ask goes to the provider; the cached
run keeps the default (60 s), so after the first ask the answer is the cache's.
"""

from __future__ import annotations

import http.client
import os
import textwrap
import time
from typing import Any

from bench.bench_slack import _Server, _signed_whoowns
from bench.common import BenchContext, Result, latency_results

SAMPLES = 100
WARMUP = 5
DELAY = 0.2

CATALOG = """
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-payments}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: payments-api
  annotations:
    pagerduty.com/service-id: PSVC1
spec: {type: service, lifecycle: production, owner: team-payments}
"""


def _measure(ctx: BenchContext, slug: str, cache_seconds: int, target: float) -> list[Result]:
    from tests.e2e.slack_fake import BOT_TOKEN, SIGNING_SECRET, FakeSlack
    from tests.oncall_fakes import PD_TOKEN, FakePagerDuty, pd_entry, serve

    location = ctx.work / "oncall-catalog.yaml"
    location.write_text(textwrap.dedent(CATALOG))
    fake_pd = FakePagerDuty(
        delay=DELAY,
        services={"PSVC1": "PPOL1"},
        oncalls={"PPOL1": [pd_entry("P1", "Ana Silva", "ana@x.example", 1, None, None)]},
    )
    pd_server = serve(fake_pd)
    next(pd_server)
    slack = FakeSlack().start()
    slack.add_user("U0BENCH", "bench@acme.example.com", "Bench")
    oncall: dict[str, Any] = {"cache_seconds": cache_seconds, "pagerduty": {"url": fake_pd.url}}
    config = ctx.config(
        f"oncall-{slug}",
        location,
        slack={"api_url": slack.base_url, "host": "127.0.0.1", "port": 0},
        oncall=oncall,
    )
    for suffix in ("", "-wal", "-shm"):
        (ctx.work / f"oncall-{slug}.db{suffix}").unlink(missing_ok=True)
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    os.environ["PAGERDUTY_TOKEN"] = PD_TOKEN
    samples: list[float] = []
    missing = 0
    try:
        with _Server(config, env) as server:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            for i in range(WARMUP + SAMPLES):
                body, headers = _signed_whoowns(
                    SIGNING_SECRET, "payments-api", "U0BENCH", slack.webhook_url("bench")
                )
                started = time.perf_counter()
                conn.request("POST", "/slack/events", body=body, headers=headers)
                response = conn.getresponse()
                answer = response.read()
                elapsed = (time.perf_counter() - started) * 1000
                if b"On call now" not in answer:
                    missing += 1
                if i >= WARMUP:
                    samples.append(elapsed)
            conn.close()
    finally:
        os.environ.pop("PAGERDUTY_TOKEN", None)
        slack.stop()
        pd_server.close()
    asked = fake_pd.paths().count("/oncalls")
    name = f"/whoowns + on call, {slug} (provider 200 ms)"
    results = latency_results("oncall", name, samples, target)
    note = f"{missing} without the on-call line; {asked} provider lookups"
    results[-1] = Result(**{**results[-1].__dict__, "note": f"{results[-1].note}; {note}"})
    return results


def run(ctx: BenchContext) -> list[Result]:
    return _measure(ctx, "uncached", 0, 250.0) + _measure(ctx, "cached", 60, 25.0)
