"""Finding templates: configured directories, git repositories, and catalog ``Template``s.

A template's name is the only thing a user types, and it is never joined to a path: it is
looked up among the templates found here. Every folder found is confined to its configured
location (a symlink pointing elsewhere is refused), and git repositories come only from the
config, pinned to the ``ref`` given there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.annotations import MANAGED_BY_LOCATION
from bot.catalog.sources import CatalogSource
from bot.errors import GitError
from bot.git import run_git
from bot.ports import CatalogTemplates
from bot.scaffold import backstage
from bot.scaffold.model import NativeRecipe, RemoteRecipe, Template, as_list, as_mapping
from bot.scaffold.render import CATALOG_FILE
from bot.scaffold.settings import ScaffoldSettings, TemplateLocation
from bot.scaffold.v1beta3 import support as v1beta3_support
from bot.scaffold.variables import (
    CALLBOARD_KEY,
    TemplateDefinitionError,
    backstage_variables,
    cookiecutter_variables,
    markers_for,
    parameters_in,
    path_variables,
    read_cookiecutter_json,
)

log = logging.getLogger(__name__)

TEMPLATE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
HOOK_NAMES = ("pre_prompt", "pre_gen_project", "post_gen_project")
# Jinja extensions cookiecutter ships or Jinja itself has: importing them runs no template code.
SAFE_EXTENSIONS = ("cookiecutter.extensions.", "jinja2.ext.", "jinja2_time.")


@dataclass(frozen=True)
class Listing:
    """Every template found (usable or not) and the problems with whole locations."""

    templates: tuple[Template, ...]
    problems: tuple[str, ...] = ()

    def get(self, name: str) -> Template | None:
        key = name.strip().lower()
        if not TEMPLATE_NAME.fullmatch(key):
            return None
        for template in self.templates:
            if template.name == key:
                return template
        return None

    @property
    def usable(self) -> tuple[Template, ...]:
        return tuple(t for t in self.templates if t.usable)


class TemplateLibrary:
    """Reads templates from their locations; blocking (call it from a worker thread)."""

    def __init__(
        self,
        cfg: ScaffoldSettings,
        cache_dir: Path,
        catalog: CatalogTemplates,
        sources: Callable[[], Sequence[CatalogSource]],
    ) -> None:
        self.cfg = cfg
        self.cache_dir = cache_dir
        self.catalog = catalog
        self.sources = sources
        # cookiecutter.json by path → (size, times, inode), its raw context, its digest: a
        # large one is read again only when it changed, not on every /scaffold.
        self._json: dict[Path, tuple[tuple[int, ...], dict[str, Any], str]] = {}

    def load(self) -> Listing:
        found: list[Template] = []
        problems: list[str] = []
        for location in self.cfg.templates:
            try:
                folder = self._folder(location, problems)
            except GitError as exc:
                problems.append(f"templates from {location}: {exc}")
                continue
            if folder is None:
                continue
            found.extend(self._directory(folder, location, problems))
        if self.cfg.catalog:
            found.extend(self._catalog(problems))
        # The first template of a name wins (config order, then the catalog).
        by_name: dict[str, Template] = {}
        for template in found:
            if template.name in by_name:
                problems.append(
                    f"template {template.name} from {template.origin} is hidden by the one from "
                    f"{by_name[template.name].origin}"
                )
                continue
            by_name[template.name] = template
        return Listing(tuple(sorted(by_name.values(), key=lambda t: t.name)), tuple(problems))

    # ------------------------------------------------------------------ locations

    def _folder(self, location: TemplateLocation, problems: list[str]) -> Path | None:
        if location.kind == "directory":
            assert location.path is not None
            if not location.path.is_dir():
                problems.append(f"template directory {location.path} does not exist")
                return None
            return location.path.resolve()
        checkout = self._checkout(location, problems)
        if location.directory:
            folder = (checkout / location.directory).resolve()
            if not folder.is_relative_to(checkout.resolve()) or not folder.is_dir():
                problems.append(f"templates from {location}: no folder {location.directory}")
                return None
            return folder
        return checkout.resolve()

    def _checkout(self, location: TemplateLocation, problems: list[str]) -> Path:
        """A local copy of a template repository at the configured ref, refreshed hourly."""
        assert location.url is not None
        key = hashlib.sha256(f"{location.url}\n{location.ref or ''}".encode()).hexdigest()[:16]
        base = self.cache_dir / "templates"
        target = base / key
        stamp = base / f"{key}.fetched"
        fresh = stamp.exists() and (
            time.time() - stamp.stat().st_mtime < self.cfg.refresh_minutes * 60
        )
        if target.is_dir() and fresh:
            return target
        base.mkdir(parents=True, exist_ok=True)
        try:
            work = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=base))
            try:
                run_git(
                    ["clone", "--quiet", "--no-checkout", "--", location.url, str(work)],
                    timeout=self.cfg.timeout_seconds,
                )
                commit = _resolve(work, location.ref)
                run_git(
                    ["checkout", "--quiet", "--detach", commit],
                    cwd=work,
                    timeout=self.cfg.timeout_seconds,
                )
                if target.exists():
                    shutil.rmtree(target)
                os.replace(work, target)
            finally:
                if work.exists():
                    shutil.rmtree(work, ignore_errors=True)
        except GitError as exc:
            if target.is_dir():
                problems.append(
                    f"templates from {location}: refresh failed ({exc}); using the copy from "
                    f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(target.stat().st_mtime))}"
                )
                return target
            raise
        stamp.touch()
        return target

    # ------------------------------------------------------------------ cookiecutter folders

    def _directory(
        self, folder: Path, location: TemplateLocation, problems: list[str]
    ) -> list[Template]:
        if (folder / "cookiecutter.json").is_file():
            candidates = [folder]
        else:
            candidates = sorted(
                p for p in folder.iterdir() if p.is_dir() and (p / "cookiecutter.json").is_file()
            )
        out: list[Template] = []
        for path in candidates:
            resolved = path.resolve()
            if not resolved.is_relative_to(folder):
                problems.append(f"template {path} points outside {folder}; skipped")
                continue
            name = path.name.lower()
            if not TEMPLATE_NAME.fullmatch(name):
                problems.append(
                    f"template folder {path} is not a valid template name (lower-case letters, "
                    "digits, ., _ and -); skipped"
                )
                continue
            origin = f"directory {folder}" if location.kind == "directory" else f"git {location}"
            out.append(self._cookiecutter(name, resolved, origin))
        return out

    def _cookiecutter(self, name: str, root: Path, origin: str) -> Template:
        trusted = self.cfg.is_trusted(name)
        try:
            raw, digest = self._read_json(root / "cookiecutter.json")
        except TemplateDefinitionError as exc:
            return Template(
                name,
                name,
                None,
                None,
                origin,
                "cookiecutter",
                root,
                (),
                trusted,
                problems=(str(exc),),
            )
        meta = as_mapping(raw.get(CALLBOARD_KEY))
        problems: list[str] = []
        if {"template", "templates"} & set(raw):
            problems.append(
                "nested templates (a templates key) are not supported; configure "
                "each one as its own folder"
            )
        if not _template_dir(root):
            problems.append(
                "has no project folder (a top-level folder whose name contains "
                "cookiecutter and {{ }})"
            )
        extensions = tuple(str(e) for e in raw.get("_extensions") or () if isinstance(e, str))
        risky = [e for e in extensions if not e.startswith(SAFE_EXTENSIONS)]
        if risky and not trusted:
            problems.append(
                f"loads the Jinja extension {risky[0]}, which runs the template's own code; only "
                "templates listed in scaffold.trusted may"
            )
        patterns = as_mapping(meta.get("patterns"))
        roles = self.cfg.variables.get(name, {})
        variables = cookiecutter_variables(raw, roles)
        for var_ in variables:
            if var_.role is None and var_.name in ("name", "owner", "system"):
                problems.append(
                    f"its variable {var_.name} clashes with the dialog's own {var_.name} field; "
                    f"map it in scaffold.variables.{name}"
                )
        for role, var in roles.items():
            if var not in raw:
                problems.append(
                    f"scaffold.variables.{name}.{role} names {var}, which the "
                    "template does not have"
                )
        return Template(
            name=name,
            title=str(meta.get("title") or name),
            description=str(meta["description"]) if meta.get("description") else None,
            owner=str(meta["owner"]) if meta.get("owner") else None,
            origin=origin,
            engine="cookiecutter",
            root=root,
            variables=variables,
            trusted=trusted,
            has_hooks=_has_hooks(root),
            has_catalog_info=any(
                (p / CATALOG_FILE).is_file() for p in root.iterdir() if _is_project_dir(p)
            ),
            spec_type=str(meta.get("type") or "service"),
            digest=digest,
            problems=tuple(problems),
            markers=markers_for(raw),
            extensions=extensions,
            patterns={str(k): str(v) for k, v in patterns.items()},
            path_variables=path_variables(root, raw),
        )

    def _read_json(self, path: Path) -> tuple[dict[str, Any], str]:
        try:
            st = path.stat()
        except OSError as exc:
            raise TemplateDefinitionError(f"{path}: cannot read: {exc}") from exc
        key = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        cached = self._json.get(path)
        if cached is not None and cached[0] == key:
            return dict(cached[1]), cached[2]
        raw = read_cookiecutter_json(path)
        try:
            digest = _digest(path.read_bytes())
        except OSError as exc:
            raise TemplateDefinitionError(f"{path}: cannot read: {exc}") from exc
        self._json[path] = (key, raw, digest)
        return dict(raw), digest

    # ------------------------------------------------------------------ catalog Templates

    def _catalog(self, problems: list[str]) -> list[Template]:
        rows = self.catalog.template_entities()
        sources = {s.name: s for s in self.sources()}
        out: list[Template] = []
        for row in rows:
            doc = json.loads(row.data)
            spec = as_mapping(doc.get("spec"))
            steps = as_list(spec.get("steps"))
            source = sources.get(row.source)
            name = str(as_mapping(doc.get("metadata")).get("name", "")).lower()
            on_backstage = source is not None and source.type == "backstage"
            if on_backstage and source is not None and self.cfg.runs_on_backstage(name):
                out.append(self._remote(row.ref, doc, spec, source))
                continue
            legacy = any(
                isinstance(s, Mapping) and s.get("action") == backstage.FETCH_ACTION for s in steps
            )
            # The native engine runs fetch:cookiecutter too, with the template's own if:,
            # targetPath and catalogInfoPath, when the template says how it is published; the
            # older path (Callboard publishes every run) keeps the templates without a publish
            # step, and those the native engine cannot run.
            publishes = any(
                isinstance(s, Mapping) and str(s.get("action", "")).startswith("publish:")
                for s in steps
            )
            if legacy and (v1beta3_support.problems(spec) or not publishes):
                template = self._backstage(row.ref, doc, spec, source, row.file)
                if template.usable or template.backstage is not None:
                    out.append(template)
                    continue
            # Everything else (fetch:template and friends) runs on the native engine, or is
            # listed as not available with the reason: never silently left out.
            out.append(self._native(row.ref, doc, spec, source, row.file))
        return out

    def _remote(
        self, ref: str, doc: Mapping[str, Any], spec: Mapping[str, Any], source: CatalogSource
    ) -> Template:
        """A Template that runs on the Backstage it came from (``scaffold.backstage``). Its
        form here is the catalog copy's; the dialog and the checks use the one Backstage gives
        (``Scaffolder.template``)."""
        meta = as_mapping(doc.get("metadata"))
        annotations = as_mapping(meta.get("annotations"))
        name = str(meta.get("name", "")).lower()
        form = backstage_variables(spec.get("parameters"))
        variables, problems = form.variables, form.problems
        if not TEMPLATE_NAME.fullmatch(name):
            problems = (*problems, f"{name!r} is not a valid template name")
        return Template(
            name=name,
            title=str(meta.get("title") or name),
            description=str(meta["description"]) if meta.get("description") else None,
            owner=str(spec["owner"]) if spec.get("owner") else None,
            origin=f"backstage {source.location} ({ref})",
            engine="remote",
            root=Path(),
            variables=variables,
            unasked=form.unasked,
            trusted=False,
            has_catalog_info=True,  # the template's own steps decide
            spec_type=str(spec.get("type") or "service"),
            digest=_digest(json.dumps(doc, sort_keys=True).encode()),
            problems=tuple(problems),
            markers=(),
            remote=RemoteRecipe(
                ref=ref,
                source=source.name,
                document=dict(doc),
                folder=self._local_folder(meta),
                file=os.path.basename(str(annotations.get(MANAGED_BY_LOCATION) or "")) or None,
            ),
        )

    def _local_folder(self, meta: Mapping[str, Any]) -> Path | None:
        """The folder of a Template Backstage read from a ``file:`` location, when that folder
        is inside one of the configured ``scaffold.templates`` directories (nowhere else: a
        catalog annotation never names what Callboard reads)."""
        annotations = as_mapping(meta.get("annotations"))
        location = str(annotations.get(MANAGED_BY_LOCATION) or "")
        if not location.startswith("file:"):
            return None
        folder = Path(os.path.dirname(location[len("file:") :])).resolve()
        for allowed in self.cfg.templates:
            if allowed.kind == "directory" and allowed.path is not None:
                root = allowed.path.resolve()
                if folder.is_relative_to(root) and folder.is_dir():
                    return folder
        return None

    def _native(
        self,
        ref: str,
        doc: Mapping[str, Any],
        spec: Mapping[str, Any],
        source: CatalogSource | None,
        file: str | None,
    ) -> Template:
        meta = as_mapping(doc.get("metadata"))
        name = str(meta.get("name", "")).lower()
        problems = list(v1beta3_support.problems(spec))
        folder = Path()
        if source is None or file is None:
            problems.append("its catalog source is no longer configured")
        else:
            root = _source_root(source)
            if root is None:
                hint = (
                    " (scaffold.backstage: run runs it on that Backstage)"
                    if source.type == "backstage"
                    else ""
                )
                problems.append(
                    f"its source {source.name} has no local folder to read the skeleton from" + hint
                )
            else:
                folder = (root / os.path.dirname(file)).resolve()
                if not folder.is_relative_to(root) or not folder.is_dir():
                    problems.append(f"its folder {os.path.dirname(file)} is not readable")
                else:
                    for url in v1beta3_support.skeleton_urls(spec):
                        path = (folder / url).resolve()
                        if not path.is_relative_to(folder) or not path.exists():
                            problems.append(f"its skeleton {url} does not exist next to it")
        form = backstage_variables(spec.get("parameters"), ask_repo=v1beta3_support.proposes(spec))
        variables = form.variables
        problems.extend(form.problems)
        if not TEMPLATE_NAME.fullmatch(name):
            problems.append(f"{name!r} is not a valid template name")
        actions = tuple(
            str(s.get("action")) for s in as_list(spec.get("steps")) if isinstance(s, Mapping)
        )
        return Template(
            name=name,
            title=str(meta.get("title") or name),
            description=str(meta["description"]) if meta.get("description") else None,
            owner=str(spec["owner"]) if spec.get("owner") else None,
            origin=f"catalog {ref}",
            engine="native",
            root=folder,
            variables=variables,
            unasked=form.unasked,
            trusted=self.cfg.is_trusted(name),
            has_hooks=False,
            has_catalog_info=True,  # the template's own steps write (or not) its catalog file
            spec_type=str(spec.get("type") or "service"),
            digest=_digest(json.dumps(doc, sort_keys=True).encode()),
            problems=tuple(problems),
            markers=(),  # values are data in the context, never template source
            native=NativeRecipe(ref=ref, document=dict(doc), folder=folder, actions=actions),
        )

    def _backstage(
        self,
        ref: str,
        doc: Mapping[str, Any],
        spec: Mapping[str, Any],
        source: CatalogSource | None,
        file: str | None,
    ) -> Template:
        meta = as_mapping(doc.get("metadata"))
        name = str(meta.get("name", "")).lower()
        trusted = self.cfg.is_trusted(name)
        origin = f"catalog {ref}"
        problems: list[str] = []
        root = Path()
        recipe = None
        try:
            recipe = backstage.recipe(ref, spec)
            root = self._skeleton(source, file, backstage.skeleton_path(spec))
        except backstage.Unsupported as exc:
            problems.append(str(exc))
        form = backstage_variables(spec.get("parameters"))
        variables = form.variables
        problems.extend(form.problems)
        if recipe is not None and recipe.extensions and not trusted:
            problems.append(
                f"loads the Jinja extension {recipe.extensions[0]}; only templates listed in "
                "scaffold.trusted may"
            )
        if not TEMPLATE_NAME.fullmatch(name):
            problems.append(f"{name!r} is not a valid template name")
        in_paths: tuple[str, ...] = ()
        if recipe is not None and root.is_dir():
            keys = path_variables(root, recipe.values)
            in_paths = parameters_in(recipe.values, keys)
        return Template(
            name=name,
            title=str(meta.get("title") or name),
            description=str(meta["description"]) if meta.get("description") else None,
            owner=str(spec["owner"]) if spec.get("owner") else None,
            origin=origin,
            engine="backstage",
            root=root,
            variables=variables,
            unasked=form.unasked,
            trusted=trusted,
            has_hooks=False,  # the wrapper folder keeps a skeleton's hooks from running
            has_catalog_info=(root / CATALOG_FILE).is_file() if recipe else True,
            spec_type=str(spec.get("type") or "service"),
            digest=_digest(json.dumps(doc, sort_keys=True).encode()),
            problems=tuple(problems),
            extensions=recipe.extensions if recipe else (),
            backstage=recipe,
            path_variables=in_paths,
        )

    def _skeleton(self, source: CatalogSource | None, file: str | None, url: str) -> Path:
        if source is None or file is None:
            raise backstage.Unsupported("its catalog source is no longer configured")
        root = _source_root(source)
        if root is None:
            raise backstage.Unsupported(
                f"its source {source.name} has no local folder to read the skeleton from"
            )
        folder = (root / os.path.dirname(file) / url).resolve()
        if not folder.is_relative_to(root):
            raise backstage.Unsupported(f"its skeleton {url} is outside the source folder {root}")
        if not folder.is_dir():
            raise backstage.Unsupported(f"its skeleton folder {url} does not exist")
        return folder


def _source_root(source: CatalogSource) -> Path | None:
    root = getattr(source, "root", None)
    if isinstance(root, Path):
        return root.resolve()
    location = source.location
    if location and "://" not in location and Path(location).is_dir():
        return Path(location).resolve()
    return None


def _resolve(repo: Path, ref: str | None) -> str:
    """The commit a configured ref names: a commit, a tag, or a branch of ``origin``."""
    candidates = [ref, f"origin/{ref}", f"refs/tags/{ref}"] if ref else ["origin/HEAD", "HEAD"]
    for candidate in candidates:
        try:
            return run_git(
                ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{candidate}^{{commit}}"],
                cwd=repo,
            ).strip()
        except GitError:
            continue
    raise GitError(f"no branch, tag or commit named {ref!r} in the repository")


def _is_project_dir(path: Path) -> bool:
    """Cookiecutter's rule for the folder it renders: ``cookiecutter`` and ``{{ }}`` in the name."""
    name = path.name
    return path.is_dir() and "cookiecutter" in name and "{{" in name and "}}" in name


def _template_dir(root: Path) -> bool:
    return any(_is_project_dir(p) for p in root.iterdir())


def _has_hooks(root: Path) -> bool:
    hooks = root / "hooks"
    return hooks.is_dir() and any(p.stem in HOOK_NAMES for p in hooks.iterdir() if p.is_file())


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def with_problem(template: Template, problem: str) -> Template:
    return replace(template, problems=(*template.problems, problem))
