"""What scaffolding works with: templates, their variables, a requester, and the answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bot.catalog.model import EntityRef
from bot.errors import UserError

VariableKind = Literal["text", "multiline", "choice", "boolean", "json", "number"]
Role = Literal["name", "owner", "system", "repo"]
Engine = Literal["cookiecutter", "backstage", "native", "remote"]

# Jinja's default delimiters; a template may change them through ``_jinja2_env_vars``.
JINJA_MARKERS: tuple[str, ...] = ("{{", "}}", "{%", "%}", "{#", "#}")


@dataclass(frozen=True)
class Condition:
    """When a form field applies: ``field``'s value is one of ``values`` (any given value when
    ``values`` is empty); ``negate`` turns it round (an ``else`` branch)."""

    field: str
    values: tuple[str, ...] = ()
    negate: bool = False

    @property
    def known(self) -> bool:
        """False for a condition Callboard could not read (its expression is in ``values``)."""
        return bool(self.field)

    def holds(self, given: str) -> bool:
        if not self.known:
            return True  # asked, and never required, since it cannot be decided here
        found = given in self.values if self.values else given not in ("", "false")
        return found != self.negate

    def __str__(self) -> str:
        if not self.known:
            return self.values[0] if self.values else "some condition"
        if not self.values:
            return f"{self.field} is {'not ' if self.negate else ''}set"
        shown = " or ".join(self.values)
        return f"{self.field} is {'not ' if self.negate else ''}{shown}"


@dataclass(frozen=True)
class Picker:
    """A Backstage picker's ``ui:field`` and what its ``ui:options`` allow
    (``bot.scaffold.pickers``)."""

    field: str  # EntityPicker, OwnedEntityPicker, EntityTagsPicker, RepoUrlPicker...
    kinds: tuple[str, ...] = ()  # allowedKinds (EntityTagsPicker: kinds), lower-cased
    # catalogFilter: any of these; each holds (dotted key, values) pairs that must all match
    filters: tuple[tuple[tuple[str, tuple[str, ...]], ...], ...] = ()
    arbitrary: bool = False  # allowArbitraryValues: true (any entity reference)
    default_kind: str | None = None
    default_namespace: str | None = None
    hosts: tuple[str, ...] = ()  # RepoUrlPicker allowedHosts


@dataclass(frozen=True)
class Variable:
    """One input of a template, read without rendering anything.

    ``role`` marks the variables Callboard fills itself from the dialog's own ``name``,
    ``owner`` and ``system`` fields (and, for Backstage templates, the repository picker).
    """

    name: str
    kind: VariableKind
    label: str
    default: str | None = None  # what the dialog pre-fills ("true"/"false" for booleans)
    derived: str | None = None  # the template's own Jinja default, used when left empty
    choices: tuple[tuple[str, str], ...] = ()  # (value, label)
    required: bool = True
    hint: str | None = None
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    role: Role | None = None
    secret: bool = False  # ui:widget password / ui:field Secret: never logged, echoed, audited
    minimum: float | None = None  # number fields (JSON schema minimum/maximum)
    maximum: float | None = None
    format: str | None = None  # "email", "uri" (JSON schema format)
    integer: bool = False  # type integer
    many: bool = False  # an array: comma-separated in chat, a list for the template
    when: tuple[Condition, ...] = ()  # asked only when all hold (dependencies, if/then)
    shown_as: str | None = None  # the Backstage ui:field chat shows as plain text
    picker: Picker | None = None  # a catalog-backed picker: offered and checked from the catalog
    hidden: bool = False  # ui:widget hidden: never asked; ``fixed`` is passed as it is
    fixed: Any = None  # a hidden field's default (JSON, as the template wrote it)


@dataclass(frozen=True)
class BackstageRecipe:
    """How a catalog Template runs ``fetch:cookiecutter``: its values and where its files are."""

    ref: str  # template:default/docs-template-cookiecutter
    values: Mapping[str, Any]  # the step's input.values, ``${{ parameters.x }}`` unevaluated
    target_path: str  # the step's input.targetPath ("." by default)
    copy_without_render: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()


@dataclass(frozen=True)
class NativeRecipe:
    """A v1beta3 Template Callboard runs itself (``bot.scaffold.v1beta3``)."""

    ref: str  # template:default/docs-template
    document: Mapping[str, Any]  # the Template entity as stored (nothing rendered)
    folder: Path  # the folder holding the template file: relative skeleton URLs start here
    actions: tuple[str, ...] = ()  # its steps' actions, in order


@dataclass(frozen=True)
class RemoteRecipe:
    """A Template that runs on the team's Backstage, through its scaffolder REST API."""

    ref: str  # template:default/docs-template, as Backstage's catalog holds it
    source: str  # the ``backstage`` catalog source it came from (its URL and token)
    document: Mapping[str, Any]  # the entity as the last sync read it (for dry runs)
    # The template's own folder, where Callboard may read it (a file: location inside a
    # scaffold.templates directory): what a dry run sends as its files. None: none readable.
    folder: Path | None = None
    file: str | None = None  # the template's own file in ``folder`` (not sent as a file)


@dataclass(frozen=True)
class Template:
    """A template Callboard can offer; ``problems`` say why one cannot be run."""

    name: str
    title: str
    description: str | None
    owner: str | None
    origin: str  # where it was found, for people: "directory ...", "git ...", "catalog ..."
    engine: Engine
    root: Path  # the cookiecutter template folder; for a catalog Template, its skeleton
    variables: tuple[Variable, ...]
    trusted: bool
    has_hooks: bool = False
    has_catalog_info: bool = True  # ships a catalog-info.yaml (else Callboard writes one)
    spec_type: str = "service"
    digest: str = ""  # changes when the template's definition changes
    problems: tuple[str, ...] = ()
    markers: tuple[str, ...] = JINJA_MARKERS
    extensions: tuple[str, ...] = ()
    patterns: Mapping[str, str] = field(default_factory=dict)
    backstage: BackstageRecipe | None = None
    native: NativeRecipe | None = None
    remote: RemoteRecipe | None = None
    # Variables whose values reach a file or folder name (directly or through a default).
    path_variables: tuple[str, ...] = ()
    unasked: tuple[str, ...] = ()  # optional form fields chat cannot ask, each with why

    @property
    def runs_hooks(self) -> bool:
        """Its hooks run, so every value is spliced into Python source code."""
        return self.trusted and self.has_hooks and self.engine == "cookiecutter"

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables if v.secret)

    @property
    def usable(self) -> bool:
        return not self.problems

    def variable(self, name: str) -> Variable | None:
        for var in self.variables:
            if var.name == name:
                return var
        return None

    def role_variable(self, role: Role) -> Variable | None:
        for var in self.variables:
            if var.role == role:
                return var
        return None

    @property
    def asked(self) -> tuple[Variable, ...]:
        """The template's own variables the dialog asks for (not the ones Callboard fills)."""
        return tuple(v for v in self.variables if v.role is None and not v.hidden)


@dataclass(frozen=True)
class Answers:
    """Validated dialog values: the new component and the template's context overrides."""

    name: str
    owner: EntityRef
    system: EntityRef | None
    context: Mapping[str, Any]  # cookiecutter extra_context (typed: bool, dict, str)
    submitted: Mapping[str, str]  # what the user entered, for the audit log (secrets hidden)
    secrets: tuple[str, ...] = ()  # secret values, to be kept out of every message


def as_mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping (raw JSON/YAML), else an empty one."""
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


class InvalidAnswers(UserError):
    """Dialog values that fail validation: one message per field (shown inline)."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


@dataclass(frozen=True)
class TemplateEntity:
    """A catalog entity of kind ``template``, as stored: where it came from and its JSON."""

    ref: str
    source: str
    file: str | None
    data: str  # the entity's JSON
