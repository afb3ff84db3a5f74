"""The scaffolder: templates → dialog → validation → render → repository → push → registration.

One ``Scaffolder`` per app (built by ``bot.bootstrap``). A run is an asyncio task of its own, so
a chat platform that stops waiting does not stop it half way; blocking work (cookiecutter, git,
HTTP) runs in worker threads. Each step reports through the request's ``Progress`` and ends in one
``Reply``: the repository, the files, and the new entity's card, or the step that failed and
why. A failure after the repository was made never leaves a catalog entry behind: the location
is registered only after the push, and unregistered again if the component does not appear.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import shutil
import tempfile
import urllib.parse
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from bot import suggest
from bot.audit import Requester
from bot.catalog.backstage_source import BackstageSource
from bot.catalog.locations import RUNTIME_SOURCE, register_and_sync, unregister_location
from bot.catalog.model import Entity, EntityRef
from bot.catalog.queries import run_blocking
from bot.catalog.validation import is_valid_object_name
from bot.chat import (
    Button,
    ChatUser,
    Dialog,
    DialogField,
    Field,
    FieldKind,
    Link,
    Progress,
    Reply,
    Section,
)
from bot.dispatch import log_error
from bot.errors import CatalogError, NotFound, PermissionDenied, UserError
from bot.permissions import requester_for, requester_groups
from bot.scaffold import permissions, pickers
from bot.scaffold.backstage import repo_url_value
from bot.scaffold.model import (
    Answers,
    InvalidAnswers,
    Template,
    Variable,
    VariableKind,
)
from bot.scaffold.native import (
    LiveError,
    LiveRequest,
    NativeRun,
    parameters_for,
    run_native,
    secrets_for,
    write_output,
)
from bot.scaffold.publish import Publisher, PublishError, Repository
from bot.scaffold.pull_requests import PullRequests
from bot.scaffold.remote import RemoteError, ScaffolderClient
from bot.scaffold.remote_run import RemoteJob, reason, remote_form, remote_reply, write_files
from bot.scaffold.render import Rendered, RenderError, render
from bot.scaffold.settings import ScaffoldSettings
from bot.scaffold.templates import Listing, TemplateLibrary
from bot.scaffold.validate import NAME_RULE, SECRET_SHOWN, validate

if TYPE_CHECKING:
    from bot.catalog.read import CatalogReader
    from bot.catalog.updates import CatalogUpdates
    from bot.config import Settings
    from bot.ports import (
        AuditLog,
        CatalogQueries,
        CatalogTemplates,
        NameClaims,
        RuntimeLocationStore,
    )
    from bot.services import Clock

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger(__name__)

_MARK = {"completed": "✓", "skipped": "–", "failed": "✗"}
DIALOG_PREFIX = "scaffold:"
ACTION = "scaffold"
FILES_SHOWN = 25
STEPS = ("rendering", "repository", "push", "registration")
FIELD_KINDS: Mapping[VariableKind, FieldKind] = {
    "text": "text",
    "number": "text",
    "multiline": "multiline",
    "json": "multiline",
    "choice": "choice",
    "boolean": "boolean",
}


def unavailable_lines(listing: Listing) -> tuple[str, ...]:
    """One line per template that cannot be run, with its reason (as the listing shows it)."""
    return tuple(
        f"template {t.name} ({t.origin}): not available: {t.problems[0]}"
        for t in listing.templates
        if not t.usable
    )


async def unavailable_section(scaffolder: Scaffolder) -> Section | None:
    """The templates that cannot be run, for ``/callboard status`` and sync replies."""
    lines = unavailable_lines(await scaffolder.listing())
    if not lines:
        return None
    return Section(title=f"Templates not available ({len(lines)})", items=lines)


class _Silent:
    async def update(self, text: str) -> None:
        log.info("scaffold: %s", text)


@dataclass
class _Run:
    """One run's state, for the progress line, the reply and the audit log."""

    template: Template
    answers: Answers
    requester: Requester
    progress: Progress
    audit_id: int
    dry_run: bool
    done: dict[str, str] = field(default_factory=dict)  # step → what it did
    failed: tuple[str, str] | None = None  # (step, reason)
    notes: list[str] = field(default_factory=list)
    repository: Repository | None = None
    commit: str | None = None
    rendered: Rendered | None = None
    entity: Entity | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # JSON parameters (--values)
    output: Path | None = None  # where to write the files the run would publish
    native: NativeRun | None = None
    opened: list[tuple[str, str]] = field(default_factory=list)  # (title, url) of requests

    async def say(self, text: str) -> None:
        try:
            await self.progress.update(f"{self.answers.name} ({self.template.name}): {text}")
        except Exception:  # a platform hiccup never stops the run
            log.warning("progress update failed", exc_info=True)


class Scaffolder:
    """Lists templates, builds their dialogs, checks answers and runs scaffolds."""

    def __init__(
        self,
        settings: Settings,
        locations: RuntimeLocationStore,
        catalog: CatalogReader,
        queries: CatalogQueries,
        sync: CatalogUpdates,
        audit: AuditLog,
        claims: NameClaims,
        templates: CatalogTemplates,
        pool: Executor,
        *,
        clock: Clock,
        commands: frozenset[str] = frozenset(),
    ) -> None:
        # ``settings``, ``locations``, ``clock``, ``sync`` and ``offload``: what registering a
        # location needs (``bot.catalog.locations.LocationsHost``).
        self.settings = settings
        self.locations = locations
        self.catalog = catalog  # blocking reads: called in worker threads
        self.queries = queries  # the same reads, awaited
        self.sync = sync
        self.clock = clock
        self.pool = pool
        self.commands = commands  # the registry's names (a button only for a known command)
        self.cfg = settings.optional_section("scaffold", ScaffoldSettings) or ScaffoldSettings()
        self.cache_dir = self.cfg.cache_dir or settings.data_dir / "scaffold"
        self.library = TemplateLibrary(self.cfg, self.cache_dir, templates, lambda: sync.sources)
        self.publisher = Publisher(
            self.cfg.publish, settings.data_dir, timeout=self.cfg.timeout_seconds
        )
        self.requests = PullRequests(
            self.cfg.hosts,
            author_name=self.cfg.publish.author_name,
            author_email=self.cfg.publish.author_email,
            timeout=self.cfg.timeout_seconds,
        )
        self.audit = audit
        self.claims = claims
        self._tasks: set[asyncio.Task[Reply]] = set()  # runs in flight (strong references)

    async def offload(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run blocking ``fn`` (a catalog read) in the app's worker threads."""
        return await run_blocking(self.pool, fn, *args, **kwargs)

    # ------------------------------------------------------------------ templates

    async def listing(self) -> Listing:
        return await asyncio.to_thread(self.library.load)

    async def template(self, name: str, listing: Listing | None = None) -> Template:
        """The usable template called ``name``; ``NotFound`` or ``UserError`` saying why not."""
        listing = listing or await self.listing()
        found = listing.get(name)
        if found is None:
            names = [t.name for t in listing.usable]
            shown = ", ".join(names) if names else "none are configured"
            hint = suggest.hint(name, names)
            raise NotFound(f"There is no template named “{name[:80]}” (templates: {shown}).{hint}")
        if not found.usable:
            raise UserError(f"The template {found.name} cannot be used: {found.problems[0]}")
        return found

    async def form(self, template: Template) -> Template:
        """``template`` with the form its dialog shows: for one run on Backstage, the form
        Backstage serves now (ask only after the permission check: it is a request there)."""
        if template.remote is not None:
            return await remote_form(template, self._client(template))
        return template

    def _client(self, template: Template) -> ScaffolderClient:
        """The scaffolder API of the Backstage ``template`` came from (its source's token)."""
        assert template.remote is not None
        for source in self.sync.sources:
            if source.name == template.remote.source and isinstance(source, BackstageSource):
                options = source.options
                return ScaffolderClient(options.url, options.token, options.timeout_seconds)
        raise UserError(
            f"The template {template.name} cannot be used: its source {template.remote.source} "
            "is no longer configured"
        )

    # ------------------------------------------------------------------ people

    async def requester_for(self, user: ChatUser) -> Requester:
        """The chat user as the scaffolder sees them (``bot.permissions.requester_for``)."""
        return await requester_for(
            user, self.queries, self.catalog, self.offload, self.settings.path
        )

    def requester(
        self,
        platform: str,
        user_id: str,
        name: str | None,
        user: Entity | None,
        unknown_reason: str | None = None,
    ) -> Requester:
        groups = requester_groups(self.catalog, user.ref) if user else ()
        return Requester(
            platform, user_id, name, user.ref if user else None, groups, unknown_reason
        )

    def permit(self, template: Template, requester: Requester) -> str:
        return permissions.check(
            template.name,
            requester,
            self.cfg.permissions,
            self.settings.admins,
            self.catalog,
        )

    async def check_permission(self, template: Template, requester: Requester) -> str:
        """``permit``, with a refusal written to the audit log before it is raised."""
        try:
            return await self.offload(self.permit, template, requester)  # reads groups
        except PermissionDenied as exc:
            details = {"template": template.name, "origin": template.origin, "values": {}}
            await self.audit.start(
                self.clock(), ACTION, requester, template.name, details, "refused", str(exc)
            )
            raise

    async def default_owner(self, requester: Requester) -> EntityRef | None:
        """The requester's team: a group of type team first, else their first group."""
        if not requester.groups:
            return None
        found = await self.queries.get_many(requester.groups)
        teams = [g for g in requester.groups if (e := found.get(str(g))) and e.spec_type == "team"]
        return (teams or list(requester.groups))[0]

    # ------------------------------------------------------------------ dialog

    async def dialog(
        self, template: Template, requester: Requester, dry_run: bool = False
    ) -> Dialog:
        """The dialog for ``template``: name, owner, (system), then the template's variables."""
        template = await self.form(template)
        owner = await self.default_owner(requester)
        fields = [
            DialogField(
                "name",
                "Component name",
                "text",
                required=True,
                max_length=63,
                hint="The new component and its repository: " + NAME_RULE.replace("must be ", ""),
            ),
            DialogField(
                "owner",
                "Owner (a team)",
                "group",
                required=True,
                default=str(owner) if owner else None,
                entity_kinds=("group",),
                hint="The group that owns the new component",
            ),
        ]
        if template.role_variable("system") is not None or not template.has_catalog_info:
            fields.append(
                DialogField(
                    "system",
                    "System (optional)",
                    "entity",
                    required=False,
                    entity_kinds=("system",),
                    hint="The system the component belongs to",
                )
            )
        who = _who(requester)
        for var in template.asked:
            offered = None
            if var.picker is not None and var.picker.field == "EntityTagsPicker":
                tags = await self.offload(pickers.catalog_tags, var.picker, self.catalog)
                if tags:
                    var = replace(var, hint=f"{var.hint} In the catalog: {', '.join(tags)}.")
            elif var.picker is not None and not var.many:
                offered = await self.offload(pickers.allowed, var.picker, self.catalog, who)
            fields.append(self._field(var, offered))
        title = f"New {template.title}" if len(template.title) <= 20 else "Scaffold"
        return Dialog(
            id=f"{DIALOG_PREFIX}{template.name}",
            title=title,
            fields=tuple(fields),
            submit_label="Dry run" if dry_run else "Create",
            notes=template.unasked,
            state={
                "template": template.name,
                "digest": template.digest,
                "dry_run": "1" if dry_run else "",
            },
        )

    def _field(self, var: Variable, offered: list[tuple[str, str]] | None = None) -> DialogField:
        kind, choices, entity_kinds = _offer(var, offered)
        limit = (
            self.cfg.max_text_length
            if var.kind in ("multiline", "json")
            else self.cfg.max_value_length
        )
        if var.max_length is not None:
            limit = min(limit, var.max_length)
        hint = var.hint
        extra = []
        if var.when:
            extra.append(f"Only when {' and '.join(map(str, var.when))}.")
        if var.minimum is not None or var.maximum is not None:
            low = "" if var.minimum is None else f"at least {var.minimum:g}"
            high = "" if var.maximum is None else f"at most {var.maximum:g}"
            extra.append(f"A number {' and '.join(x for x in (low, high) if x)}.")
        if var.format:
            extra.append(f"An {'email address' if var.format == 'email' else 'URI'}.")
        if extra:
            hint = " ".join(x for x in (hint, *extra) if x)
        return DialogField(
            name=var.name,
            label=var.label,
            kind=kind,
            required=var.required and var.default is None and var.derived is None and not var.when,
            default=None if var.secret else var.default,
            choices=choices,
            hint=hint,
            max_length=limit,
            entity_kinds=entity_kinds,
            secret=var.secret,
        )

    # ------------------------------------------------------------------ submit

    async def submit(
        self,
        name: str,
        values: Mapping[str, str],
        requester: Requester,
        progress: Progress | None = None,
        *,
        dry_run: bool = False,
        digest: str | None = None,
        extra: Mapping[str, Any] | None = None,
        output: Path | None = None,
    ) -> Reply:
        """Check everything, then run (or dry-run) the scaffold; ``InvalidAnswers`` per field.

        ``extra`` holds JSON parameters for fields the dialog does not ask (lists, objects:
        ``callboard scaffold --values``), passed as data to a native template's run;
        ``output`` receives a copy of the files the run would publish."""
        template = await self.template(name)
        if template.remote is not None:  # nothing reaches Backstage before the permission
            await self.check_permission(template, requester)
            template = await self.form(template)
        if digest and digest != template.digest:
            raise UserError(
                f"The template {template.name} changed while the dialog was open; run "
                f"/scaffold {template.name} again."
            )
        now = self.clock()
        details: dict[str, Any] = {
            "template": template.name,
            "origin": template.origin,
            "values": _audit_values(values, self.cfg.max_text_length, template.secrets),
            "dry_run": dry_run,
        }
        component = str(values.get("name", "")).strip()
        target = component[:100] or template.name
        try:
            details["permission"] = await self.offload(self.permit, template, requester)
        except PermissionDenied as exc:
            await self.audit.start(now, ACTION, requester, target, details, "refused", str(exc))
            raise
        audit_id = await self.audit.start(now, ACTION, requester, target, details)
        claimed = False
        try:
            # The name is claimed before it is checked, so that of two runs for one name the
            # second always hears why: it is being made, or it exists by now.
            if not dry_run and is_valid_object_name(component):
                holder = await self.claims.claim(component, audit_id, now)
                if holder is not None:
                    raise InvalidAnswers(
                        {
                            "name": f"“{component}” is being scaffolded right now (audit entry "
                            f"{holder})"
                        }
                    )
                claimed = True
            answers = await asyncio.to_thread(
                self._validate, template, values, dry_run, _who(requester), extra or {}
            )
        except Exception as exc:
            if claimed:
                await self.claims.release(component, audit_id)
            if isinstance(exc, InvalidAnswers):
                message = "; ".join(f"{k}: {v}" for k, v in exc.errors.items())[:2000]
                result, extra = "invalid", {"errors": exc.errors}
            else:
                message, result, extra = f"checking the values failed: {exc!r}"[:2000], "failed", {}
            await self.audit.finish(audit_id, self.clock(), result, message, extra)
            raise
        run = _Run(template, answers, requester, progress or _Silent(), audit_id, dry_run)
        run.extra = dict(extra or {}) if template.engine in ("native", "remote") else {}
        run.output = output
        task = asyncio.get_running_loop().create_task(self._run(run))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(task)

    def _validate(
        self,
        template: Template,
        values: Mapping[str, str],
        dry_run: bool,
        who: tuple[str, ...] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> Answers:
        self._check_repository(template, values, extra or {})
        taken: list[str] = []
        name = str(values.get("name", "")).strip()
        # Only a valid name reaches the publisher (it becomes part of a path or a URL); a
        # template run on Backstage publishes through Backstage.
        if is_valid_object_name(name) and not dry_run and template.engine != "remote":
            reason = self.publisher.preflight(name, _owner_name(str(values.get("owner", ""))))
            if reason:
                taken.append(reason)
        return validate(
            template,
            values,
            self.catalog,
            max_value_length=self.cfg.max_value_length,
            max_text_length=self.cfg.max_text_length,
            taken=taken,
            who=who,
        )

    def _check_repository(
        self, template: Template, values: Mapping[str, str], extra: Mapping[str, Any]
    ) -> None:
        """A ``RepoUrlPicker``'s ``allowedHosts``: the repository given (``--values``) must be
        on one of them; so must the one derived from ``scaffold.publish`` for a run on
        Backstage (which publishes there). A run Callboard publishes goes where its operator
        configured, whatever hosts the template names for Backstage's own publishing."""
        var = template.role_variable("repo")
        if var is None or var.picker is None or not var.picker.hosts:
            return
        given = extra.get(var.name)
        if isinstance(given, str) and given:
            try:
                pickers.check(var.picker, given, self.catalog, ())
            except ValueError as exc:
                raise InvalidAnswers({var.name: str(exc)}) from None
            return
        if template.engine != "remote":
            return
        name = str(values.get("name", "")).strip()
        name = name if is_valid_object_name(name) else "x"  # the name's own check says why
        remote = self.publisher.remote_for(name, _owner_name(str(values.get("owner", ""))))
        host = repo_url_value(remote or "", name).split("?", 1)[0]
        if host not in var.picker.hosts:
            raise UserError(
                f"The template {template.name} publishes only to {' or '.join(var.picker.hosts)} "
                f"(its {var.name} field's allowedHosts), and Callboard publishes to {host} "
                "(scaffold.publish)."
            )

    # ------------------------------------------------------------------ the run

    async def _run(self, run: _Run) -> Reply:
        work = Path(tempfile.mkdtemp(prefix="callboard-scaffold-"))
        try:
            reply = await self._steps(run, work)
        except Exception:
            error_id = log_error(f"scaffold {run.answers.name} from {run.template.name}")
            step = next((s for s in STEPS if s not in run.done), STEPS[-1])
            run.failed = (step, f"an internal error (id {error_id}; details in the bot's log)")
            await self._undo(run)
            reply = self._failure(run)
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)
            if not run.dry_run:
                await self.claims.release(run.answers.name, run.audit_id)
        result = "failed" if run.failed else "succeeded"
        message = f"{run.failed[0]} failed: {run.failed[1]}" if run.failed else reply.text
        await self.audit.finish(
            run.audit_id,
            self.clock(),
            result,
            message,
            {
                "steps": run.done,
                "repository": run.repository.url if run.repository else None,
                "commit": run.commit,
                "entity": str(run.entity.ref) if run.entity else None,
                "files": len(run.rendered.files) if run.rendered else 0,
                "notes": run.notes,
            },
        )
        await run.say("failed." if run.failed else "done.")
        return reply

    async def _steps(self, run: _Run, work: Path) -> Reply:
        if run.template.engine == "native":
            return await self._native(run, work)
        if run.template.engine == "remote":
            return await self._on_backstage(run)
        answers = run.answers
        owner_name = answers.owner.name
        remote = self.publisher.remote_for(answers.name, owner_name)
        await run.say("rendering the template…")
        try:
            run.rendered = await asyncio.to_thread(
                render,
                run.template,
                answers,
                work,
                repo_value=repo_url_value(remote or "", answers.name),
                timeout=self.cfg.timeout_seconds,
                max_files=self.cfg.max_files,
                max_bytes=self.cfg.max_output_mb * 2**20,
                render_user=self.cfg.render_user,
            )
        except RenderError as exc:
            run.failed = ("rendering", _redact(str(exc), answers.secrets))
            return self._failure(run)
        run.done["rendering"] = f"{len(run.rendered.files)} files"
        if run.dry_run:
            return self._dry_run(run)

        await run.say(f"rendered {len(run.rendered.files)} files; creating the repository…")
        description = str(
            answers.context.get("description")
            or f"{answers.name}, scaffolded from {run.template.name}"
        )
        refused = await self._publish(run, run.rendered.project, description)
        if refused is not None:
            return refused

        await run.say("registering it in the catalog…")
        problem = await self._register(run)
        if problem:
            run.failed = ("registration", problem)
            return self._failure(run)
        return await self._success(run)

    async def _publish(self, run: _Run, project: Path, description: str) -> Reply | None:
        """Create the repository and push ``project`` to it; the failure reply, or None."""
        answers = run.answers
        try:
            run.repository = await asyncio.to_thread(
                self.publisher.create, answers.name, answers.owner.name, description
            )
        except PublishError as exc:
            run.failed = ("repository", str(exc))
            return self._failure(run)
        run.done["repository"] = (
            f"created {run.repository.shown}"
            if run.repository.created
            else f"using {run.repository.shown}"
        )
        await run.say(f"pushing to {run.repository.url}…")
        message = (
            f"Scaffold {answers.name} from the {run.template.name} template\n\n"
            f"Requested by {run.requester.shown} through Callboard."
        )
        try:
            run.commit = await asyncio.to_thread(
                self.publisher.push, project, run.repository, message
            )
        except PublishError as exc:
            run.failed = ("push", str(exc))
            await self._undo(run)
            return self._failure(run)
        run.done["push"] = f"{self.cfg.publish.branch} at {run.commit[:10]}"
        return None

    async def _native(self, run: _Run, work: Path) -> Reply:
        """A v1beta3 Template on the native engine: its steps in the render child, then the
        publish and registration its steps asked for, through Callboard's publisher."""
        answers, template = run.answers, run.template
        owner_name = answers.owner.name
        remote = self.publisher.remote_for(answers.name, owner_name)
        repo_value = repo_url_value(remote or "", answers.name)
        parameters = parameters_for(template, answers, repo_value, run.extra)
        user: dict[str, Any] = {}
        if run.requester.user_ref is not None:
            entity = await self.queries.get(run.requester.user_ref)
            if entity is not None:
                user["entity"] = json.loads(json.dumps(dict(entity.raw), default=str))
            user["ref"] = str(run.requester.user_ref)
        await run.say("running the template's steps…")
        loop = asyncio.get_running_loop()
        said: list[concurrent.futures.Future[None]] = []

        def on_step(step: str) -> None:  # called from the worker thread, as each step begins
            said.append(asyncio.run_coroutine_threadsafe(run.say(f"{step}…"), loop))

        def on_live(ask: LiveRequest) -> tuple[Mapping[str, Any], list[str]]:
            # in the worker thread, while the render child waits for the request's outputs
            what = "merge request" if ask.action.endswith("merge-request") else "pull request"
            asked = str(ask.input.get("repoUrl") or "")
            chosen = _chosen_repository(template, answers)
            if chosen is not None and not _same_repository(asked, chosen):
                raise LiveError(
                    f"the template's {what} goes to {asked[:200]}, not to the repository you "
                    f"chose ({chosen}); refused"
                )
            host = asked.split("?", 1)[0]
            said.append(
                asyncio.run_coroutine_threadsafe(run.say(f"opening the {what} on {host}…"), loop)
            )
            outputs, lines = self.requests.open(ask)
            run.notes.extend(lines.warnings)
            url = outputs.get("remoteUrl") or outputs.get("mergeRequestUrl")
            if url:
                run.opened.append((what[0].upper() + what[1:], str(url)))
            return outputs, lines

        try:
            native = await asyncio.to_thread(
                run_native,
                template,
                parameters,
                work,
                dry_run=run.dry_run,
                timeout=self.cfg.timeout_seconds,
                max_files=self.cfg.max_files,
                max_bytes=self.cfg.max_output_mb * 2**20,
                secrets=secrets_for(template, answers),
                user=user,
                predicted=self._predicted(answers.name, remote),
                integrations=self._integrations(repo_value),
                render_user=self.cfg.render_user,
                on_step=on_step,
                on_live=on_live,
            )
        except RenderError as exc:
            run.failed = ("rendering", _redact(str(exc), answers.secrets))
            return self._failure(run)
        finally:
            for future in said:  # every step's line is shown before what follows it
                await asyncio.wrap_future(future)
        run.native = native
        published = native.publish if native.publish and native.publish.snapshot else None
        if published is not None and published.snapshot is not None:
            run.rendered = Rendered(published.snapshot, published.files, native.size, False)
        else:
            run.rendered = Rendered(native.workspace, native.files, native.size, False)
        if not native.ok:
            failed = next((s for s in native.steps if s.status == "failed"), None)
            tail = " / ".join(failed.log[-3:]) if failed else ""
            why = f"step {native.failed_step} failed: {native.error}"
            why += f" ({tail})" if tail else ""
            run.failed = ("rendering", _redact(why, answers.secrets))
            for title, url in run.opened:
                run.notes.append(f"the {title.lower()} {url} was opened and stays open")
            return self._failure(run)
        ran = ", ".join(f"{s.name}: {s.status}" for s in native.steps)
        run.done["rendering"] = f"{len(native.files)} files ({ran})"
        if run.output is not None:
            try:
                await asyncio.to_thread(write_output, native, run.output)
            except (RenderError, OSError) as exc:
                run.failed = ("rendering", str(exc))
                return self._failure(run)
            run.notes.append(f"the files were written to {run.output}")
        if run.dry_run:
            return self._dry_run(run)
        publish = native.publish
        if run.opened:
            run.done["push"] = "; ".join(f"{title} {url}" for title, url in run.opened)
        if publish is None or publish.snapshot is None:
            if not run.opened:
                run.notes.append("the template's publish step did not run: nothing was published")
            return self._native_done(run)
        await run.say(f"rendered {len(native.files)} files; creating the repository…")
        description = str(
            publish.input.get("description")
            or answers.context.get("description")
            or f"{answers.name}, scaffolded from {template.name}"
        )
        refused = await self._publish(run, publish.snapshot, description)
        if refused is not None:
            return refused
        register = native.register
        if register is None:
            run.notes.append("the template's register step did not run: nothing was registered")
            return self._native_done(run)
        await run.say("registering it in the catalog…")
        path = str(register.input.get("catalogInfoPath") or "/catalog-info.yaml").lstrip("/")
        problem = await self._register(run, path or "catalog-info.yaml")
        if problem:
            run.failed = ("registration", problem)
            return self._failure(run)
        return await self._success(run)

    async def _on_backstage(self, run: _Run) -> Reply:
        """A Template run (or dry-run) by the Backstage it came from: the task's steps are
        shown as its events arrive, then its output; a failed step's log lines are shown."""
        template, answers = run.template, run.answers
        remote = self.publisher.remote_for(answers.name, answers.owner.name)
        parameters = parameters_for(
            template, answers, repo_url_value(remote or "", answers.name), run.extra
        )
        job = RemoteJob(
            client=self._client(template),
            template=template,
            parameters=parameters,
            secrets=secrets_for(template, answers),
            seconds=self.cfg.timeout_seconds,
            max_bytes=self.cfg.max_output_mb * 2**20,
        )
        if run.dry_run:
            await run.say("asking Backstage for a dry run…")
            result = await asyncio.to_thread(job.dry_run)
            if run.output is not None and result.ok:
                try:
                    await asyncio.to_thread(write_files, result.files, run.output)
                except (RemoteError, OSError) as exc:
                    result.status, result.error = "failed", str(exc)
                else:
                    run.notes.append(f"the files were written to {run.output}")
        else:
            await run.say("creating the task on Backstage…")
            loop = asyncio.get_running_loop()
            said: list[concurrent.futures.Future[None]] = []

            def on_step(line: str) -> None:  # from the worker thread, as each event arrives
                said.append(asyncio.run_coroutine_threadsafe(run.say(line), loop))

            try:
                result = await asyncio.to_thread(job.run, on_step)
            finally:
                for future in said:  # every step's line is shown before the reply
                    await asyncio.wrap_future(future)
        where = f"task {result.task_id}" if result.task_id else "dry run"
        if not result.ok:
            run.failed = ("backstage", _redact(reason(result), answers.secrets))
        else:
            run.done["backstage"] = f"{where}: completed"
        return remote_reply(
            result,
            template,
            answers.name,
            dry_run=run.dry_run,
            notes=run.notes,
            describe="describe" in self.commands,
            secrets=answers.secrets,
        )

    def _predicted(self, name: str, remote: str | None) -> dict[str, Any]:
        """What a template's publish and register steps will give as outputs, for the links
        its ``output`` renders (the repository is made by Callboard's publisher)."""
        shown = remote or f"(the {self.publisher.describe()} repository {name})"
        web = shown[:-4] if shown.startswith("https://") and shown.endswith(".git") else shown
        contents = f"{web}/tree/{self.cfg.publish.branch}" if web.startswith("https://") else web
        publish = {"remoteUrl": web, "repoContentsUrl": contents, "commitHash": ""}
        return {
            "publish:github": publish,
            "publish:gitlab": {**publish, "projectId": 0, "created": True},
            "catalog:register": {
                "entityRef": f"component:default/{name}",
                "catalogInfoUrl": f"{contents}/catalog-info.yaml",
            },
        }

    def _integrations(self, repo_value: str) -> dict[str, str]:
        """Hosts ``parseRepoUrl`` accepts besides Backstage's defaults: the publish target's."""
        host = repo_value.split("?", 1)[0]
        kind = self.cfg.publish.host.type if self.cfg.publish.host else "github"
        return {host: kind} if host else {}

    def _native_done(self, run: _Run) -> Reply:
        """A native run that finished without registering anything (its steps said so)."""
        assert run.rendered is not None
        links = tuple(Link(t, u) for t, u in (run.native.links() if run.native else []))
        if run.repository is not None:
            links = (Link("Repository", run.repository.shown), *links)
        shown = {link.url for link in links}
        links = (*links, *(Link(t, u) for t, u in run.opened if u not in shown))
        opened = " and opened " + ", ".join(f"{t.lower()} {u}" for t, u in run.opened)
        return Reply(
            title=f"Ran {run.template.title} for {run.answers.name}",
            text=(
                f"{run.template.title} ran its steps for {run.answers.name}"
                + (f" and pushed to {run.repository.shown}" if run.repository else "")
                + (opened if run.opened else "")
                + "."
            ),
            sections=(
                self._steps_section(run),
                self._files_section(run.rendered),
                *(
                    Section(title=t, items=(c,))
                    for t, c in (run.native.texts() if run.native else [])
                ),
            ),
            links=links,
            notes=tuple(run.notes),
            ephemeral=False,
        )

    async def _register(self, run: _Run, catalog_file: str = "catalog-info.yaml") -> str | None:
        """Register the repository and sync it; on any failure, unregister (nothing is left)."""
        assert run.repository is not None
        try:
            location, report = await register_and_sync(
                self,
                run.repository.url,
                catalog_file,
                self.cfg.publish.branch,
                added_by=str(run.requester.user_ref or run.requester.shown),
            )
        except UserError as exc:
            run.notes.append(f"the repository stays at {run.repository.shown}")
            return str(exc)
        entity = await self.offload(self._new_entity, run.answers.name)
        if entity is not None:
            run.entity = entity
            run.done["registration"] = f"{entity.ref} (location {location.id})"
            return None
        reasons = [report.error] if report.error else []
        reasons += [p.message for p in report.problems if p.level == "error"][:3]
        await self.offload(unregister_location, self, location.id)
        await self.sync.run_async(only=RUNTIME_SOURCE)
        run.notes.append(
            f"the location was unregistered again; the repository stays at {run.repository.shown}"
        )
        why = "; ".join(r for r in reasons if r) or "the synced catalog file holds no such entity"
        return f"{run.answers.name} did not appear in the catalog after syncing it: {why}"

    def _new_entity(self, name: str) -> Entity | None:
        hits = self.catalog.index().named(name.lower())
        if not hits:
            return None
        return self.catalog.get(hits[0].ref)

    async def _undo(self, run: _Run) -> None:
        if run.repository is not None and "push" not in run.done:
            note = await asyncio.to_thread(self.publisher.discard, run.repository)
            if note:
                run.notes.append(note)

    # ------------------------------------------------------------------ replies

    def _steps_section(self, run: _Run) -> Section:
        items = []
        for step in STEPS if not run.dry_run else STEPS[:1]:
            if step in run.done:
                items.append(f"✓ {step}: {run.done[step]}")
            elif run.failed and run.failed[0] == step:
                items.append(f"✗ {step}: {run.failed[1]}")
            else:
                items.append(f"– {step}: not started")
        return Section(title="Steps", items=tuple(items))

    def _files_section(self, rendered: Rendered) -> Section:
        files = rendered.files
        items = files[:FILES_SHOWN]
        if len(files) > FILES_SHOWN:
            items = (*items, f"… and {len(files) - FILES_SHOWN} more")
        note = " (catalog-info.yaml written by Callboard)" if rendered.catalog_written else ""
        return Section(title=f"Files ({len(files)}){note}", items=tuple(items))

    def _failure(self, run: _Run) -> Reply:
        assert run.failed is not None
        step, reason = run.failed
        notes = list(run.notes)
        if not run.dry_run and "registration" not in run.done:
            notes.append("nothing was registered in the catalog")
        return Reply(
            title=f"Scaffolding {run.answers.name} failed",
            text=f"The {step} step failed: {reason}",
            sections=(self._steps_section(run),),
            notes=tuple(notes),
            error=True,
        )

    def _dry_run(self, run: _Run) -> Reply:
        assert run.rendered is not None
        if run.native is not None:
            return self._native_dry_run(run)
        return Reply(
            title=f"Dry run: {run.answers.name} from {run.template.name}",
            text=(
                f"{run.template.title} would create {len(run.rendered.files)} files for "
                f"{run.answers.name}, owned by {run.answers.owner}. Nothing was published."
            ),
            sections=(self._files_section(run.rendered),),
        )

    def _native_dry_run(self, run: _Run) -> Reply:
        native = run.native
        assert native is not None and run.rendered is not None
        steps = Section(
            title="Template steps",
            items=tuple(
                f"{_MARK.get(s.status, '–')} {s.name} ({s.action}): {s.status}"
                for s in native.steps
            ),
        )
        texts = tuple(Section(title=t, items=(c,)) for t, c in native.texts())
        return Reply(
            title=f"Dry run: {run.answers.name} from {run.template.name}",
            text=(
                f"{run.template.title} would create {len(run.rendered.files)} files for "
                f"{run.answers.name}, owned by {run.answers.owner}. Nothing was published."
            ),
            sections=(steps, self._files_section(run.rendered), *texts),
            links=tuple(Link(t, u) for t, u in native.links()),
            notes=tuple(run.notes),
        )

    async def _success(self, run: _Run) -> Reply:
        assert run.rendered is not None and run.repository is not None
        entity = run.entity
        assert entity is not None
        card: list[Field] = [Field("Entity", str(entity.ref))]
        owners = await self.queries.related(entity.ref, "ownedBy")
        if owners:
            card.append(Field("Owner", str(owners[0])))
        part_of = await self.queries.related(entity.ref, "partOf")
        systems = [r for r in part_of if r.kind == "system"]
        if systems:
            card.append(Field("System", str(systems[0])))
        kind = " / ".join(x for x in (entity.spec_type, entity.lifecycle) if x)
        if kind:
            card.append(Field("Type", kind))
        if entity.description:
            card.append(Field("About", entity.description, inline=False))
        repo_fields = (
            Field("Repository", run.repository.shown, inline=False),
            Field("Branch", self.cfg.publish.branch),
            Field("Commit", (run.commit or "")[:10]),
        )
        return Reply(
            title=f"Created {entity.display_name}",
            text=(
                f"{run.answers.name} was scaffolded from {run.template.title}, pushed to "
                f"{run.repository.shown} and registered: it is in the catalog now."
            ),
            sections=(
                Section(title=entity.display_name, fields=tuple(card)),
                Section(title="Repository", fields=repo_fields),
                self._files_section(run.rendered),
                *(
                    Section(title=t, items=(c,))
                    for t, c in (run.native.texts() if run.native else [])
                ),
            ),
            links=(
                Link("Repository", run.repository.shown),
                *(
                    Link(t, u)
                    for t, u in (run.native.links() if run.native else [])
                    if u != run.repository.shown
                ),
            ),
            buttons=self._buttons(entity, run.native),
            notes=tuple(run.notes),
            ephemeral=False,
        )

    def _buttons(self, entity: Entity, native: NativeRun | None = None) -> tuple[Button, ...]:
        buttons = [Button("Who owns it", command=f"/whoowns {entity.ref}")]
        describe = "describe" in self.commands
        if describe:
            buttons.append(Button("Details", command=f"/describe {entity.ref}"))
        for title, ref in native.entity_links() if native and describe else ():
            if ref.lower() != str(entity.ref):  # a template's own "Open in catalog" link
                buttons.append(Button(title, command=f"/describe {ref}"))
        return tuple(buttons)


def _offer(
    var: Variable, offered: list[tuple[str, str]] | None
) -> tuple[FieldKind, tuple[tuple[str, str], ...], tuple[str, ...]]:
    """A field's kind, choices and entity kinds: a catalog picker is offered from the
    catalog (its few allowed entities as choices, else a search of its kinds)."""
    kind = FIELD_KINDS[var.kind]
    choices = () if var.many else var.choices
    if var.picker is None or var.picker.field not in pickers.ENTITY_PICKERS or var.many:
        return kind, choices, ()
    if offered is not None and 0 < len(offered) <= pickers.OFFERED:
        return "choice", tuple(offered), ()
    if offered is None or offered:
        return "entity", choices, pickers.kinds_of(var.picker)
    return kind, choices, ()


def _chosen_repository(template: Template, answers: Answers) -> str | None:
    """The repository the user named for a template that opens pull or merge requests."""
    for var in template.variables:
        if var.picker is not None and var.picker.field == "RepoUrlPicker" and var.role is None:
            value = answers.context.get(var.name)
            if isinstance(value, str) and value:
                return value
    return None


def _same_repository(one: str, other: str) -> bool:
    """Whether two ``host?owner=...&repo=...`` values name one repository."""

    def key(text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        host, _, query = text.partition("?")
        args = urllib.parse.parse_qs(query)
        picked = tuple((k, args[k][0]) for k in ("owner", "repo", "project") if args.get(k))
        return host.lower(), picked

    return key(one) == key(other)


def _who(requester: Requester) -> tuple[str, ...]:
    """The requester's User and group refs: what their own-entity pickers allow."""
    user = (str(requester.user_ref),) if requester.user_ref else ()
    return (*user, *(str(g) for g in requester.groups))


def _owner_name(text: str) -> str:
    """The group name in an owner ref as typed (for a remote's {owner}); "" when unreadable."""
    try:
        return EntityRef.parse(text.strip(), "group").name if text.strip() else ""
    except CatalogError:
        return ""


def _audit_values(
    values: Mapping[str, Any], limit: int, secrets: tuple[str, ...] = ()
) -> dict[str, str]:
    """The submitted values as the audit log keeps them: bounded, whatever was sent, and
    secret fields replaced by a note."""
    out: dict[str, str] = {}
    for key, value in list(values.items())[:100]:
        if key in secrets:
            out[str(key)[:100]] = SECRET_SHOWN
            continue
        text = value if isinstance(value, str) else repr(value)
        out[str(key)[:100]] = text if len(text) <= limit else text[:limit] + "…"
    return out


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret value replaced (a hook or a template may print one)."""
    for value in sorted(secrets, key=len, reverse=True):
        if len(value) >= 4:  # a shorter one would blank out ordinary words
            text = text.replace(value, "•••")
    return text
