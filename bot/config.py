"""Typed, frozen settings loaded once from YAML.

Each section owns its schema; an unknown key is an error naming the key and the file;
``${ENV_VAR}`` (or ``${ENV_VAR:-default}``) is substituted in string values; relative paths are
relative to the config file. ``CALLBOARD_DATABASE_URL`` overrides ``database.url``.
"""

from __future__ import annotations

import builtins
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml
from sqlalchemy.engine import make_url

from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.catalog.sources import CatalogSource
    from bot.store.db import Database

T = TypeVar("T")

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Section:
    """Reads one mapping of the config, remembering which keys were used."""

    def __init__(self, data: Any, where: str, file: str, base: Path) -> None:
        self.present = data is not None
        if data is None:
            data = {}
        # A list is kept for a schema that reads it with ``entries()`` (``schedules:``); any
        # other schema leaves it unread, and ``done()`` says the section must be a mapping.
        self.list_data: list[Any] | None = None
        self.list_read = False
        if isinstance(data, list):
            self.list_data, data = data, {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"{file}: {where or 'the top level'} must be a mapping")
        self.data: Mapping[str, Any] = data
        self.where = where
        self.file = file
        self.base = base
        self.used: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def _get(self, key: str) -> Any:
        self.used.add(key)
        value = self.data.get(key)
        if isinstance(value, str):
            value = self._substitute(key, value)
        return value

    def _substitute(self, key: str, value: str) -> str:
        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            env = os.environ.get(name)
            if env is None:
                if default is not None:
                    return default
                raise ConfigError(
                    f"{self.file}: {self._key(key)} uses ${{{name}}}, which is not set "
                    "in the environment"
                )
            return env

        return _ENV.sub(repl, value)

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.file}: {self._key(key)} {message}")

    def str(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self._get(key)
        if value is None:
            if required:
                raise self.error(key, "is required")
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.error(key, f"must be a string, found {type(value).__name__}")
        return str(value)

    def req_str(self, key: builtins.str) -> builtins.str:
        value = self.str(key, required=True)
        assert value is not None
        return value

    def int(
        self,
        key: builtins.str,
        default: int,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be a whole number, found {value!r}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum}, found {value}")
        if maximum is not None and value > maximum:
            raise self.error(key, f"must be at most {maximum}, found {value}")
        return value

    def bool(self, key: builtins.str, default: bool) -> bool:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, found {value!r}")
        return value

    def path(self, key: builtins.str, default: builtins.str | None = None) -> Path | None:
        value = self.str(key, default)
        return None if value is None else self.resolve(value)

    def resolve(self, value: builtins.str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base / path).resolve()

    def str_list(self, key: builtins.str) -> tuple[builtins.str, ...]:
        value = self._get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            raise self.error(key, "must be a list of strings")
        return tuple(self._substitute(key, str(v)) for v in value)

    def section(self, key: builtins.str) -> Section:
        self.used.add(key)
        sec = Section(self.data.get(key), self._key(key), self.file, self.base)
        # A key written with no value (``discord:`` alone) is present: all defaults, enabled.
        sec.present = key in self.data
        return sec

    def sections(self, key: builtins.str) -> list[Section]:
        self.used.add(key)
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(key, "must be a list")
        return [
            Section(item, f"{self._key(key)}[{i}]", self.file, self.base)
            for i, item in enumerate(value)
        ]

    def raw(self, key: builtins.str) -> Any:
        self.used.add(key)
        return self.data.get(key)

    def entries(self) -> list[Section]:
        """The items of a section written as a list (``schedules: [- id: ...]``), one each."""
        self.list_read = True
        if self.list_data is None:
            if self.present:
                raise ConfigError(f"{self.file}: {self.where} must be a list")
            return []
        return [
            Section(item, f"{self.where}[{i}]", self.file, self.base)
            for i, item in enumerate(self.list_data)
        ]

    def done(self) -> None:
        """Raise for every key this section's schema did not read."""
        if self.list_data is not None and not self.list_read:
            raise ConfigError(f"{self.file}: {self.where or 'the top level'} must be a mapping")
        unknown = [k for k in self.data if k not in self.used]
        if unknown:
            names = ", ".join(self._key(str(k)) for k in unknown)
            raise ConfigError(f"{self.file}: unknown key {names}")


@dataclass(frozen=True)
class SourceSettings:
    """One catalog source (``type: file`` here; other types add their own fields)."""

    type: str
    name: str
    target: Path | None = None
    root: Path | None = None
    refresh_minutes: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)  # type-specific settings
    rules: frozenset[str] | None = None  # kinds this source may add to catalog.rules


@dataclass(frozen=True)
class CatalogSettings:
    refresh_minutes: int = 15
    sources: tuple[SourceSettings, ...] = ()
    max_file_mb: int = 10
    parse_workers: int | None = None  # processes parsing YAML in a large sync; None: one per CPU
    placeholder_file_mb: int = 20  # what $text/$json/$yaml of one catalog file may pull in
    placeholder_sync_mb: int = 200  # ... and of one source in one sync
    rules: frozenset[str] | None = None  # kinds allowed (lower-cased); None: every kind
    model_layers: frozenset[str] = frozenset()  # opt-in kinds and schemas (bot.catalog.rules)
    relative_placeholders: str = "resolve"  # file sources: "resolve" or "drop" (Backstage's)
    fidelity: str = "lenient"  # "backstage": drop what Backstage drops (bot.catalog.fidelity)
    max_glob_matches: int = 1_000_000  # files one glob target of a file source may match

    @property
    def workers(self) -> int:
        """Parse worker processes for a large sync (0: parse in the sync's own process)."""
        if self.parse_workers is not None:
            return self.parse_workers
        from bot.catalog.parsepool import default_workers

        return default_workers()


@dataclass(frozen=True)
class ConsoleSettings:
    """Who the console user is (for ``me``) and which channel the console stands for."""

    user_name: str = "console"
    user_email: str | None = None
    channel: str | None = None


@dataclass(frozen=True)
class Settings:
    """Everything Callboard is configured with."""

    path: Path | None
    data_dir: Path
    database_url: str
    catalog: CatalogSettings
    console: ConsoleSettings
    backstage_url: str | None = None
    admins: tuple[str, ...] = ()  # catalog groups or user refs allowed admin commands
    sections: Mapping[str, Any] = field(default_factory=dict)  # parsed extension sections

    def section(self, name: str, kind: type[T]) -> T:
        """A section's settings, typed (see ``ConfigSection`` and ``bot.bootstrap.CONFIG``)."""
        value = self.sections.get(name)
        if not isinstance(value, kind):
            raise ConfigError(f"settings section {name} is not loaded")
        return value

    def optional_section(self, name: str, kind: type[T]) -> T | None:
        value = self.sections.get(name)
        return value if isinstance(value, kind) else None


@dataclass(frozen=True)
class ConfigSection:
    """A top-level section a capability owns: its name and the parser of its schema.

    The parser is called even when the section is absent (``sec.present`` is False) so it can
    give defaults; ``Settings.section(name)`` returns what it returned.
    """

    name: str
    parse: Callable[[Section], object]


SourceParser = Callable[["Section", int, int], SourceSettings]  # (section, index, refresh)
SourceFactory = Callable[[SourceSettings, "Settings", "Database"], "CatalogSource"]


@dataclass(frozen=True)
class SourceType:
    """A catalog source type (``file``, ``git``, ``backstage``): how its settings are read and
    how its ``CatalogSource`` is built from them. One object per type, named once."""

    name: str
    parse: SourceParser
    build: SourceFactory


@dataclass(frozen=True)
class ConfigSchema:
    """The sections and source types a config file may use (``bot.bootstrap.CONFIG``)."""

    sections: tuple[ConfigSection, ...] = ()
    source_types: tuple[SourceType, ...] = ()

    def source_type(self, name: str) -> SourceType | None:
        return next((t for t in self.source_types if t.name == name), None)


_KIND = re.compile(r"[a-zA-Z][a-z0-9A-Z]*")


def parse_rules(sec: Section, key: str = "rules") -> frozenset[str] | None:
    """Backstage's ``rules: [{allow: [Component, API]}, ...]``: the kinds allowed, lower-cased.

    None when the key is absent (no restriction of its own).
    """
    if sec.raw(key) is None:
        return None
    kinds: set[str] = set()
    for i, rule in enumerate(sec.sections(key)):
        allow = rule.str_list("allow")
        if not allow:
            raise sec.error(f"{key}[{i}]", "must have `allow:` with a list of kinds")
        for kind in allow:
            if not _KIND.fullmatch(kind):
                raise sec.error(f"{key}[{i}].allow", f"has {kind!r}, which is not a kind name")
            kinds.add(kind.lower())
        rule.done()
    return frozenset(kinds)


def parse_file_source(sec: Section, index: int, refresh: int) -> SourceSettings:
    """A ``type: file`` source: a catalog file on this machine and what it references."""
    target = sec.path("target")
    if target is None:
        raise sec.error("target", "is required for a file source")
    root = sec.path("root") or target.parent
    name = sec.str("name") or f"file:{target}"
    rules = parse_rules(sec)
    sec.done()
    return SourceSettings("file", name, target, root, refresh, rules=rules)


def _source(sec: Section, index: int, default_refresh: int, schema: ConfigSchema) -> SourceSettings:
    type_ = sec.str("type", "file") or "file"
    refresh = sec.int("refresh_minutes", default_refresh, minimum=1)
    found = schema.source_type(type_)
    if found is None:
        known = ", ".join(t.name for t in schema.source_types)
        raise sec.error("type", f"is {type_!r}; known source types: {known}")
    return found.parse(sec, index, refresh)


def parse_settings(
    data: Any, file: str, base: Path, path: Path | None = None, *, schema: ConfigSchema
) -> Settings:
    """Validate a parsed config file against ``schema`` (its sections and source types)."""
    top = Section(data, "", file, base)
    data_dir = top.path("data_dir", "./var") or base / "var"
    url = _database_url(top, file, base, data_dir)
    catalog = _catalog_settings(top.section("catalog"), schema)

    con = top.section("console")
    console = ConsoleSettings(
        user_name=con.str("user_name", os.environ.get("USER", "console")) or "console",
        user_email=con.str("user_email") or None,
        channel=con.str("channel"),
    )
    con.done()

    backstage = top.section("backstage")
    backstage_url = backstage.str("url")
    backstage.done()
    admins = top.str_list("admins")

    extra: dict[str, Any] = {}
    for section in schema.sections:
        sec = top.section(section.name)
        extra[section.name] = section.parse(sec)
        sec.done()
    top.done()
    return Settings(
        path=path,
        data_dir=data_dir,
        database_url=url,
        catalog=catalog,
        console=console,
        backstage_url=backstage_url.rstrip("/") if backstage_url else None,
        admins=admins,
        sections=extra,
    )


def _database_url(top: Section, file: str, base: Path, data_dir: Path) -> str:
    """``database.url`` (CALLBOARD_DATABASE_URL wins), a relative SQLite path resolved."""
    db = top.section("database")
    url = db.str("url") or f"sqlite:///{data_dir / 'callboard.db'}"
    db.done()
    env_url = os.environ.get("CALLBOARD_DATABASE_URL")
    if env_url:
        url = env_url
    url = _resolve_sqlite(url, base)
    try:
        make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError, ValueError...
        where = "CALLBOARD_DATABASE_URL" if env_url else f"{file}: database.url"
        raise ConfigError(f"{where} is not a valid SQLAlchemy URL: {exc}") from exc
    return url


def _catalog_settings(cat: Section, schema: ConfigSchema) -> CatalogSettings:
    """The ``catalog`` section: limits, parsing, rules and the sources."""
    refresh = cat.int("refresh_minutes", 15, minimum=1)
    max_mb = cat.int("max_file_mb", 10, minimum=1)
    placeholder_file_mb = cat.int("placeholder_file_mb", 20, minimum=1)
    placeholder_sync_mb = cat.int("placeholder_sync_mb", 200, minimum=1)
    if placeholder_sync_mb < placeholder_file_mb:
        raise cat.error(
            "placeholder_sync_mb",
            f"({placeholder_sync_mb}) must be at least placeholder_file_mb ({placeholder_file_mb})",
        )
    parse_workers = _parse_workers(cat)
    rules = parse_rules(cat)
    from bot.catalog.rules import MODEL_LAYERS

    model_layers = cat.str_list("model_layers")
    for layer in model_layers:
        if layer not in MODEL_LAYERS:
            raise cat.error(
                "model_layers", f"has {layer!r}; known layers: {', '.join(MODEL_LAYERS)}"
            )
    relative_placeholders = _choice(cat, "relative_placeholders", ("resolve", "drop"))
    max_glob_matches = cat.int("max_glob_matches", 1_000_000, minimum=1)
    fidelity = _choice(cat, "fidelity", ("lenient", "backstage"))
    sources = tuple(_source(s, i, refresh, schema) for i, s in enumerate(cat.sections("sources")))
    names = [s.name for s in sources]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise cat.error("sources", f"have duplicate names {', '.join(dupes)}; set `name:` on each")
    cat.done()
    return CatalogSettings(
        refresh,
        sources,
        max_mb,
        parse_workers,
        placeholder_file_mb,
        placeholder_sync_mb,
        rules,
        frozenset(model_layers),
        relative_placeholders,
        fidelity,
        max_glob_matches,
    )


def _choice(sec: Section, key: str, allowed: tuple[str, str]) -> str:
    """One of two words; the first is the default."""
    value = sec.str(key, allowed[0]) or allowed[0]
    if value not in allowed:
        raise sec.error(key, f"must be {allowed[0]} or {allowed[1]}, found {value!r}")
    return value


def _parse_workers(cat: Section) -> int | None:
    """``catalog.parse_workers``: a whole number, or auto (None)."""
    raw = cat._get("parse_workers")
    if raw is None or raw == "auto":
        return None
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw)
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    raise cat.error("parse_workers", f"must be a whole number or auto, found {raw!r}")


def _resolve_sqlite(url: str, base: Path) -> str:
    """Make a relative SQLite path relative to the config file, not the working directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////"):
        rest = url[len(prefix) :]
        if rest and not rest.startswith(":memory:") and not Path(rest).is_absolute():
            return prefix + str((base / rest).resolve())
    return url


def default_config_path() -> Path:
    """``CALLBOARD_CONFIG``, else ``config/callboard.yaml`` here or next to the package."""
    env = os.environ.get("CALLBOARD_CONFIG")
    if env:
        return Path(env)
    here = Path.cwd() / "config" / "callboard.yaml"
    if here.is_file():
        return here
    return Path(__file__).resolve().parent.parent / "config" / "callboard.yaml"


def load_settings(path: Path | None, *, schema: ConfigSchema) -> Settings:
    """Read and validate a config file; every problem is a ``ConfigError`` naming the file."""
    path = path or default_config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    try:
        data = yaml.load(text, Loader=yaml.CSafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        raise ConfigError(f"{path}:{line}: invalid YAML: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    return parse_settings(data, str(path), path.resolve().parent, path, schema=schema)
