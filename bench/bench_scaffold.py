"""Issue 15's scaffolding target: from dialog submission to a rendered dry run of a v1beta3
Template whose skeleton holds 200 files (each with ``${{ }}`` expressions): at most 2 s.

The submission goes through the scaffolder as a chat dialog's does (permission, validation,
the audit log, the render child with its sandbox, the workspace checks); the catalog is the
bundled demo plus the generated template.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import yaml

from bench.common import DEMO, BenchContext, Result

FILES = 200
RUNS = 5
TARGET_S = 2.0


def _template(root: Path) -> Path:
    skeleton = root / "skeleton"
    for i in range(FILES):
        folder = skeleton / f"pkg{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"module_{i}.py").write_text(
            f'"""${{{{ values.name }}}}: module {i}."""\n\nOWNER = "${{{{ values.owner }}}}"\n'
            '{% for tag in values.tags %}TAG_${{ loop.index }} = "${{ tag | upper }}"\n'
            "{% endfor %}"
        )
    doc = {
        "apiVersion": "scaffolder.backstage.io/v1beta3",
        "kind": "Template",
        "metadata": {"name": "bench-service", "title": "Bench service"},
        "spec": {
            "owner": "group:default/team-payments",
            "type": "service",
            "parameters": [
                {
                    "required": ["name", "owner"],
                    "properties": {
                        "name": {"type": "string", "ui:field": "EntityNamePicker"},
                        "owner": {"type": "string", "ui:field": "OwnerPicker"},
                        "tags": {"type": "array", "items": {"type": "string"}},
                    },
                }
            ],
            "steps": [
                {
                    "id": "fetch",
                    "name": "Fetch",
                    "action": "fetch:template",
                    "input": {
                        "url": "./skeleton",
                        "values": {
                            "name": "${{ parameters.name }}",
                            "owner": "${{ parameters.owner }}",
                            "tags": "${{ parameters.tags }}",
                        },
                    },
                }
            ],
        },
    }
    path = root / "template.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def run(ctx: BenchContext) -> list[Result]:
    from bot.bootstrap import build_app, parse_settings
    from bot.chat import ChatUser
    from commands import COMMANDS, INTERPRETERS

    root = ctx.work / "scaffold-bench"
    template = _template(root / "template")
    config: dict[str, Any] = {
        "data_dir": str(root / "var"),
        "database": {"url": f"sqlite:///{root / 'cb.db'}"},
        "catalog": {
            "sources": [
                {"type": "file", "name": "demo", "target": str(DEMO)},
                {"type": "file", "name": "tpl", "target": str(template)},
            ]
        },
        "console": {"user_email": "ana.silva@acme-rides.example"},
        "scaffold": {"publish": {"remote": f"file://{root}/git/{{name}}.git"}},
    }
    path = root / "callboard.yaml"
    path.write_text(yaml.safe_dump(config))
    app = build_app(
        parse_settings(config, str(path), root, path), COMMANDS, interpreters=INTERPRETERS
    )
    try:
        app.services.sync.run()
        user = ChatUser("console", "ana", "ana", "ana.silva@acme-rides.example")

        async def once() -> float:
            service = app.services.scaffolder
            requester = await service.requester_for(user)
            values = {"name": "bench-api", "owner": "team-payments", "tags": "a, b, c"}
            started = time.perf_counter()
            reply = await service.submit("bench-service", values, requester, dry_run=True)
            took = time.perf_counter() - started
            if reply.error or f"({FILES})" not in reply.to_text():
                raise RuntimeError(reply.to_text()[:2000])
            return took

        times = [asyncio.run(once()) for _ in range(RUNS)]
    finally:
        app.close()
    median = statistics.median(times)
    return [
        Result(
            "scaffold",
            f"dialog submission → rendered dry run, {FILES}-file v1beta3 skeleton (median)",
            round(median, 3),
            "s",
            f"≤ {TARGET_S:g} s",
            median <= TARGET_S,
            note=f"best {min(times):.3f} s of {RUNS}",
        )
    ]
