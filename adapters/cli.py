"""The ``callboard`` command line: run | ask | sync | check | list (the one place that exits)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shlex
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters import cli_attest, cli_scaffold, platforms
from adapters.cli_sync import ProgressBar, report_data, summary_lines
from adapters.console import (
    Console,
    ConsolePoster,
    Terminal,
    render_reply,
    terminal_text,
    to_request,
)
from bot.app import App
from bot.attest.service import schedule_reminders
from bot.bootstrap import build_app, load_settings, migrate_database
from bot.catalog import fidelity, progress
from bot.catalog.files import FileTree, walk
from bot.catalog.parsepool import default_workers
from bot.catalog.problems import Level, Problem
from bot.catalog.reconcile import FirstReached
from bot.catalog.rules import MODEL_LAYERS, CatalogRules
from bot.catalog.status import status_data
from bot.catalog.sync import SyncReport, build_candidates
from bot.config import Settings
from bot.errors import BotError, ConfigError
from bot.hardening import harden
from bot.logsetup import LoggingSettings, configure_logging
from bot.metrics_settings import MetricsSettings
from bot.notify.service import schedule_notifier
from bot.reports.render import REPORTS
from bot.scaffold.service import unavailable_lines
from bot.scheduler import schedule_refresh
from bot.shutdown import ShutdownSettings
from bot.suggest import hint
from bot.trust import last_attempt, never_attempted
from commands import COMMANDS, INTERPRETERS

if TYPE_CHECKING:
    from adapters.metrics_http import OpsServer

log = logging.getLogger("callboard")

Subcommand = Callable[[argparse.Namespace], int]


def _settings(ns: argparse.Namespace) -> Settings:
    settings = load_settings(Path(ns.config) if ns.config else None)
    logs = settings.optional_section("logging", LoggingSettings) or LoggingSettings()
    configure_logging(logs.format, verbose=getattr(ns, "verbose", False))  # `logging.format`
    return settings


def _app(ns: argparse.Namespace, posters: bool = True) -> App:
    """The app; with ``posters``, each configured platform's poster for scheduled reports
    (importing a platform's SDK costs a few hundred ms: ``ask`` does without)."""
    return build_app(
        _settings(ns),
        COMMANDS,
        interpreters=INTERPRETERS,
        posters=(ConsolePoster(),),
        platforms=platforms.installed() if posters else (),
    )


def _print_problems(problems: Sequence[Problem], out: Any = None) -> None:
    out = out or sys.stdout  # looked up per call, so redirections (and capsys) see it
    for p in problems:
        print(terminal_text(str(p)), file=out)


def cmd_run(ns: argparse.Namespace) -> int:
    app = _app(ns)
    try:
        report = _synced(app)
        print(terminal_text(report.summary()), file=sys.stderr)
        errors = [p for p in report.problems if p.level == "error"]
        if errors:
            print(f"{len(errors)} catalog problems; see `callboard sync`.", file=sys.stderr)
        if _stdin_readable() and sys.stdin.isatty() and sys.stdout.isatty():
            _serve_at_terminal(app, ns)
        else:
            asyncio.run(_serve(app, ns))
    finally:  # Ctrl-C (during the first sync, or serving) goes on to entry(): exit 130
        app.close()
    return 0


def _serve_at_terminal(app: App, ns: argparse.Namespace) -> None:
    """Serve with the prompt in this (the main) thread and the event loop in another.

    Only the main thread receives Ctrl-C, and readline can drop a half-typed line only there.
    Ctrl-C at the prompt clears the line; while a command runs, it cancels the command; once
    the console has quit (chat platforms still serving), it stops Callboard.
    """
    terminal = Terminal(app)
    console = Console(app, terminal=terminal)
    loop = asyncio.new_event_loop()
    main: asyncio.Task[None] | None = None
    failure: list[BaseException] = []

    def run_loop() -> None:
        nonlocal main
        asyncio.set_event_loop(loop)
        try:
            main = loop.create_task(_serve(app, ns, console))
            loop.run_until_complete(main)
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # shown by the main thread
            failure.append(exc)
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()

    stopped: list[bool] = []

    def interrupted() -> None:  # in the loop's thread
        if not console.interrupt() and console.finished and main is not None:
            stopped.append(True)  # the console has quit; Ctrl-C stops the platforms too
            main.cancel()

    def on_interrupt() -> None:  # in the main thread
        loop.call_soon_threadsafe(interrupted)

    worker = threading.Thread(target=run_loop, name="callboard-loop")
    worker.start()
    try:
        terminal.serve(worker, on_interrupt)
    finally:
        if worker.is_alive() and main is not None:
            loop.call_soon_threadsafe(main.cancel)
        worker.join()
    if failure:
        raise failure[0]
    if stopped:
        raise KeyboardInterrupt  # exit 130, as for Ctrl-C anywhere else


async def _serve(app: App, ns: argparse.Namespace, console: Console | None = None) -> None:
    scheduler = app.scheduler  # the `schedules:` section; idle when empty
    aps = scheduler.aps  # one APScheduler: catalog refreshes and scheduled reports
    services = app.services
    schedule_refresh(
        aps,
        services.sync.run_async,
        services.sync.source_names,
        services.settings.catalog,
        last_attempt=lambda name: last_attempt(services.status, name),
        clock=services.clock,
    )
    if services.attest is not None:  # ownership checks' reminders, claimed across replicas
        schedule_reminders(aps, services.attest)
    servers = [asyncio.create_task(s) for s in app.servers()]
    lag = _start_loop_lag(app)
    ops: OpsServer | None = None
    try:
        ops = await _start_ops_server(app)
        aps.start()
        if services.notifier is not None:  # its check job, and a first pass for the first sync
            schedule_notifier(aps, services.notifier)
        await scheduler.start()
        stdin_open = not sys.stdin.closed and _stdin_readable()
        interactive = console is not None
        if console is not None:
            await console.loop()
        elif stdin_open and not servers:
            await Console(app).loop()
        if servers:
            await _until_stopped(app, asyncio.gather(*servers))
        elif scheduler.active and not interactive:
            await _until_stopped(app, scheduler.wait())  # post scheduled reports until stopped
    finally:
        scheduler.shutdown()  # and its APScheduler, where the refresh jobs run too
        for task in servers:
            task.cancel()
        if lag is not None:
            lag.cancel()
        if ops is not None:
            await ops.close()


async def _until_stopped(app: App, serving: Awaitable[Any]) -> None:
    """Await ``serving``; on SIGTERM, shut down gracefully instead (``App.stop`` within
    ``shutdown.grace_seconds``) and return, so ``callboard run`` closes the database and
    exits 0."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    # Not in the main thread (the terminal console runs the loop in another), or a platform
    # whose loop has no signal support: then SIGTERM keeps its default action.
    with contextlib.suppress(*_NO_SIGNAL_HANDLERS):
        loop.add_signal_handler(signal.SIGTERM, stopping.set)
    main = asyncio.ensure_future(serving)
    stopper = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({main, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if main.done():
            main.result()  # a server that failed raises here
            return
        found = app.services.settings.optional_section("shutdown", ShutdownSettings)
        grace = (found or ShutdownSettings()).grace_seconds
        log.info("SIGTERM: stopping, finishing work in flight (up to %ss)", grace)
        print(f"callboard: stopping (grace {grace}s)", file=sys.stderr, flush=True)
        await app.stop(grace)
    finally:
        stopper.cancel()
        main.cancel()
        await asyncio.gather(main, stopper, return_exceptions=True)
        with contextlib.suppress(*_NO_SIGNAL_HANDLERS):
            loop.remove_signal_handler(signal.SIGTERM)


# What asyncio raises where a loop cannot take signal handlers: ``RuntimeError`` (and its
# subclass that a loop without signal support raises, e.g. on Windows) and ``ValueError``
# outside the main thread.
_NO_SIGNAL_HANDLERS = (RuntimeError, ValueError)


def _start_loop_lag(app: App) -> asyncio.Task[None] | None:
    """With metrics on: the event-loop lag sampler (cancelled when serving ends)."""
    metrics = app.services.metrics
    if metrics is None:
        return None
    from bot.metrics import start_loop_lag_sampler

    return start_loop_lag_sampler(metrics)


async def _start_ops_server(app: App) -> OpsServer | None:
    """With ``metrics.port`` set: ``/healthz``, ``/readyz`` and ``/metrics`` on that port, the
    routes the Slack HTTP server serves (Discord alone, the scheduler alone, Socket Mode have
    no HTTP server of their own)."""
    settings = app.services.settings
    found = settings.optional_section("metrics", MetricsSettings) or MetricsSettings()
    if found.port is None:
        return None
    try:
        from adapters.metrics_http import OpsServer
    except ImportError as exc:  # aiohttp comes with the slack and discord extras
        raise ConfigError(
            f"{settings.path or 'the config'}: metrics.port needs aiohttp, which is installed "
            f"with callboard[slack] or callboard[discord] ({exc})"
        ) from exc
    try:
        server = await OpsServer(app).start(found.host, found.port)
    except OSError as exc:
        raise ConfigError(
            f"{settings.path or 'the config'}: metrics.port {found.port} on {found.host} "
            f"cannot be served: {exc.strerror or exc}"
        ) from exc
    print(
        f"Health and metrics: http://{found.host}:{server.port}/readyz, /healthz, /metrics",
        file=sys.stderr,
        flush=True,
    )
    return server


def _stdin_readable() -> bool:
    try:
        os.fstat(sys.stdin.fileno())
    except (OSError, ValueError):
        return False
    return True


def _synced(app: App, only: str | None = None, force: bool = False) -> SyncReport:
    """Sync, with a progress bar on stderr when it is a terminal."""
    if not sys.stderr.isatty():
        return app.services.sync.run(only=only, force=force)
    bar = ProgressBar(sys.stderr)
    try:
        with progress.reporting(bar):
            return app.services.sync.run(only=only, force=force)
    finally:
        bar.close()


def cmd_ask(ns: argparse.Namespace) -> int:
    """Answer from the stored catalog; sync first only what never synced (or all: ``--sync``)."""
    app = _app(ns, posters=False)
    try:
        if ns.sync:
            _synced(app)
        elif not ns.no_sync:
            names = app.services.sync.source_names()
            for name in asyncio.run(never_attempted(app.services.status, names)):
                _synced(app, only=name)
        reply = asyncio.run(app.dispatcher.dispatch(to_request(app, " ".join(ns.text))))
        print(render_reply(reply, ns.format))
        return 1 if reply.error else 0
    finally:
        app.close()


def _no_source(name: str, names: list[str]) -> str:
    known = ", ".join(names) or "none"
    return f"callboard: no source named {name} (sources: {known}).{hint(name, names)}"


def cmd_sync(ns: argparse.Namespace) -> int:
    app = _app(ns)
    try:
        names = app.services.sync.source_names()
        if ns.source and ns.source not in names:
            print(_no_source(ns.source, names), file=sys.stderr)
            return 2
        report = _synced(app, only=ns.source, force=ns.force)
        if ns.format == "json":
            print(json.dumps(report_data(report), indent=2))
        else:
            for line in summary_lines(report, all_problems=ns.problems, all_changes=ns.changes):
                print(terminal_text(line))
            _print_unavailable_templates(app)
        return 0 if report.ok else 1
    finally:
        app.close()


def _print_unavailable_templates(app: App) -> None:
    """The templates that cannot be run, each with its reason (issue 15: never invisible)."""
    for line in unavailable_lines(asyncio.run(app.services.scaffolder.listing())):
        print(terminal_text(line))


def cmd_status(ns: argparse.Namespace) -> int:
    """Each source's last sync (success, error, entities, duration, problems); 1 if one fails."""
    app = _app(ns)
    try:
        names = app.services.sync.source_names()
        if ns.source and ns.source not in names:
            print(_no_source(ns.source, names), file=sys.stderr)
            return 2
        if ns.page < 1:
            print("callboard: --page starts at 1", file=sys.stderr)
            return 2
        if ns.format == "json":
            found = asyncio.run(
                app.services.status.statuses(names, only=ns.source, problem_limit=0)
            )
            data = status_data(found, app.services.clock())
            print(json.dumps(data, indent=2))
            return 0 if data["ok"] else 1
        # The same command as in chat: `/callboard status [source] [--page N]`.
        words = ["/callboard", "status", *([ns.source] if ns.source else []), "--page"]
        line = shlex.join([*words, str(ns.page)])
        reply = asyncio.run(app.dispatcher.dispatch(to_request(app, line)))
        print(render_reply(reply, ns.format))
        if not ns.source:
            _print_unavailable_templates(app)
        return 1 if reply.error else 0
    finally:
        app.close()


def cmd_report(ns: argparse.Namespace) -> int:
    """Build one report, in full: ``/report`` through the dispatcher, as text or its data."""
    app = _app(ns)
    try:
        if not ns.no_sync:
            app.services.sync.run()
        return asyncio.run(_report(app, ns))
    finally:
        app.close()


async def _report(app: App, ns: argparse.Namespace) -> int:
    # The run keeps the report the request built, so its data can be printed (--format json)
    # and its text in full rather than paged; the team is resolved as in chat.
    run = await app.services.reports.run(app.services.clock(), posted=False)
    line = f"/report {ns.report}" + (f" {shlex.quote(ns.team)}" if ns.team else "")
    with run.active():
        reply = await app.dispatcher.dispatch(to_request(app, line))
    if reply.error or run.last is None:
        print(f"callboard report: {terminal_text(reply.to_text())}", file=sys.stderr)
        return 1
    if ns.format == "json":
        print(json.dumps(run.last.data, indent=2))
    else:
        full = run.last.reply
        notes = tuple(n for n in reply.notes if n not in full.notes)
        print(terminal_text(full.with_notes(*notes).to_text() if notes else full.to_text()))
    return 0


def cmd_migrate(ns: argparse.Namespace) -> int:
    """Bring the database schema to the newest revision, then exit (a deploy's one-shot job).

    The bot migrates at every start too, under the same lock; this lets an upgrade migrate
    once, before the new replicas start, and fail the rollout when it cannot.
    """
    done = migrate_database(_settings(ns))
    if done.read_only:
        print(f"callboard: database {done.url} is read-only; not migrated", file=sys.stderr)
        return 1
    print(f"database {done.url} is migrated", file=sys.stderr)
    return 0


def cmd_check(ns: argparse.Namespace) -> int:
    """Validate catalog files exactly as sync does; ``file:line: message`` per problem."""
    cwd = Path.cwd().resolve()
    problems: list[Problem] = []
    first_reached = FirstReached()
    dropped = 0  # Location steps Backstage would fail
    allow = frozenset(k.lower() for k in ns.allow) if ns.allow else None
    rules = CatalogRules(allow, model_layers=frozenset(ns.model_layer or ()))
    for arg in ns.paths:
        path = Path(arg).resolve()
        if path.is_dir():
            problems.append(Problem("error", "is a directory; name catalog files", arg))
            continue
        root = cwd if path.is_relative_to(cwd) else path.parent
        tree = FileTree(root)
        entry = path.relative_to(root).as_posix()
        files: list[tuple[str, tuple[str, ...], list[str]]] = []
        raw: list[Problem] = []  # as found, with root-relative files (for the fidelity rule)
        for read in walk(tree, entry, {}, workers=default_workers(), prepare=True):
            found: list[Problem] = list(read.problems)
            candidates, _ = build_candidates(read, found)
            candidates, not_allowed = rules.apply("", candidates)
            found += [Problem("error", why, read.path, c.line, c.ref) for c, why in not_allowed]
            files.append((read.path, read.children, [c.ref for c in candidates]))
            raw.extend(found)
            for cand in candidates:  # sync's rule: the first file reached keeps a ref
                rival = first_reached.claim(cand)
                if rival is not None and rival.file != read.path:  # not the same file again
                    found.append(
                        Problem(
                            "error",
                            f"duplicate entity {cand.ref}, first in {rival.file}",
                            read.path,
                            cand.line,
                            cand.ref,
                        )
                    )
            for p in found:
                shown = _display_path(root / p.file, cwd) if p.file else arg
                problems.append(Problem(p.level, p.message, shown, p.line, p.entity))
        # What a default Backstage would drop of this tree (its Location steps that fail).
        facts = fidelity.file_facts(files, raw)
        for p in fidelity.drop_problems(facts, [f[0] for f in files]):
            level: Level = "error" if ns.strict else "warning"
            shown = _display_path(root / p.file, cwd) if p.file else arg
            problems.append(Problem(level, p.message, shown, p.line, p.entity))
            dropped += 1
    _print_problems(problems)
    errors = sum(1 for p in problems if p.level == "error")
    if ns.paths:
        print(
            f"{len(ns.paths)} file(s) checked: {errors} error(s), "
            f"{len(problems) - errors} warning(s)",
            file=sys.stderr,
        )
        if dropped and not ns.strict:
            print(
                "Backstage would drop entities that Callboard keeps (see above); "
                "--strict makes that an error",
                file=sys.stderr,
            )
    return 1 if errors else 0


def _display_path(path: Path, cwd: Path) -> str:
    try:
        return path.relative_to(cwd).as_posix()
    except ValueError:
        return str(path)


def cmd_list(ns: argparse.Namespace) -> int:
    app = _app(ns)
    try:
        rows = app.services.reader.listing(ns.kind)
        kinds = app.services.reader.kinds() if ns.kind and not rows else []
        if kinds:  # a kind the catalog does not have: most likely a typo
            print(
                f"no entities of kind {ns.kind!r}; the catalog has: {', '.join(kinds)}",
                file=sys.stderr,
            )
        if ns.format == "json":
            print(
                json.dumps(
                    [
                        {"ref": r.ref, "owner": r.owner_ref, "source": r.source, "file": r.file}
                        for r in rows
                    ],
                    indent=2,
                )
            )
        else:
            width = max((len(r.ref) for r in rows), default=10)
            for r in rows:
                line = f"{r.ref.ljust(width)}  {r.owner_ref or '-':<40}  {r.source}"
                print(terminal_text(line))
            print(f"{len(rows)} entities", file=sys.stderr)
        return 0
    finally:
        app.close()


# Subcommands defined here: a command line naming one needs no platform adapter imported.
CORE_SUBCOMMANDS = frozenset(
    {
        "run",
        "ask",
        "sync",
        "status",
        "report",
        "check",
        "list",
        "scaffold",
        "audit",
        "migrate",
        "attest",
    }
)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; platform adapters add their subcommands unless ``argv`` names a core one."""
    parser = argparse.ArgumentParser(
        prog="callboard", description="Chat-ops for your Backstage-format service catalog."
    )
    _global_options(parser, None)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="sync, then serve the console (and configured chat platforms)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("ask", help="answer one command and exit")
    p.add_argument("text", nargs="+", help='e.g. "/whoowns payments-api"')
    p.add_argument("--format", choices=("text", "json"), default="text")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--sync", action="store_true", help="sync every source first")
    when.add_argument(
        "--no-sync", action="store_true", help="never sync, even a catalog never synced"
    )
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser(
        "sync", help="sync the catalog now: a progress bar, then what changed and the problems"
    )
    p.add_argument("--source", help="only this source")
    p.add_argument("--force", action="store_true", help="parse every file, even unchanged ones")
    p.add_argument("--problems", action="store_true", help="list every problem, not the first 20")
    p.add_argument("--changes", action="store_true", help="list every change, not the first 8")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("status", help="each catalog source's last sync, errors and problems")
    p.add_argument("source", nargs="?", help="one source, with all its problems")
    p.add_argument("--page", type=int, default=1, help="page of that source's problems")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "report", help="print a report: ownership gaps, stale docs, changes, a digest"
    )
    p.add_argument("report", choices=REPORTS)
    p.add_argument("team", nargs="?", help="a team (Group) for its own report; all when left out")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--no-sync", action="store_true", help="report on the stored catalog as is")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("check", help="validate catalog files as sync does (for CI)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument(
        "--strict",
        action="store_true",
        help="fail on entities a default Backstage would drop (a broken sibling target)",
    )
    p.add_argument(
        "--allow",
        action="append",
        metavar="KIND",
        help="as catalog.rules: only these kinds (repeat the option; default: every kind)",
    )
    p.add_argument(
        "--model-layer",
        action="append",
        choices=sorted(MODEL_LAYERS),
        help="as catalog.model_layers: accept an opt-in kind or schema (repeat the option)",
    )
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("migrate", help="migrate the database to this version's schema, then exit")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("list", help="list stored entities")
    p.add_argument("--kind")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_list)

    cli_scaffold.add_cli(sub, _app)  # scaffold, audit
    cli_attest.add_cli(sub, _app)  # attest report

    if argv is None or _subcommand(argv) not in CORE_SUBCOMMANDS:
        for platform in platforms.installed():
            if platform.add_cli is not None:
                platform.add_cli(sub)
    seen: set[int] = set()
    for subparser in sub.choices.values():  # aliases share one parser
        if id(subparser) not in seen:
            seen.add(id(subparser))
            _global_options(subparser, argparse.SUPPRESS)
    return parser


def _subcommand(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names (the first word that is not an option or its value)."""
    words = iter(argv)
    for word in words:
        if word == "--config":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _global_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """``--config`` and ``-v``: accepted before the subcommand and after it.

    On a subcommand they default to SUPPRESS, so a value given before it is kept.
    """
    parser.add_argument(
        "--config",
        default=default,
        help="config file (default: $CALLBOARD_CONFIG or config/callboard.yaml)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=default or False, help="log more"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(args)
    ns = parser.parse_args(args)
    # Non-dumpable, and the platforms' tokens out of os.environ before any child starts.
    harden()
    configure_logging("text", verbose=ns.verbose)  # secrets redacted (bot.logsetup)
    try:
        return int(ns.func(ns))
    except ConfigError as exc:
        print(f"callboard: configuration error: {exc}", file=sys.stderr)
        return 2
    except BotError as exc:
        print(f"callboard: {exc}", file=sys.stderr)
        return 1


def entry() -> None:
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # `callboard list | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    except KeyboardInterrupt:  # Ctrl-C: one line, the shell's code for SIGINT, no traceback
        _interrupted()
        code = 130
    sys.exit(code)


def _interrupted() -> None:
    # A second Ctrl-C while saying so must not bring the traceback back.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    start = "\r\033[K" if sys.stderr.isatty() else ""  # over the ^C echo or a progress bar
    try:
        sys.stderr.write(f"{start}callboard: interrupted\n")
        sys.stderr.flush()
    except OSError:
        pass


if __name__ == "__main__":
    entry()
