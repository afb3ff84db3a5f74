"""The ``scaffold:`` config section: template locations, trust, publishing, permissions, limits.

```yaml
scaffold:
  templates:                          # directories (each subfolder with a cookiecutter.json,
    - ./templates                     # or one template folder) and git repositories
    - {url: https://git.example.com/platform/templates.git, ref: 3f2a9c1, directory: cookiecutters}
  trusted: [python-service]           # templates whose cookiecutter hooks and extensions may run
  backstage: run                      # Templates from a `backstage` catalog source run on that
                                      # Backstage (its scaffolder API); or a list of their names
  catalog: true                       # also offer catalog Templates that use fetch:cookiecutter
  render_user: nobody                 # a bot started as root renders templates as this user
  publish:
    remote: file:///srv/git/{name}.git   # or git@host:org/{name}.git, https://host/org/{name}.git
    branch: main
    host: {type: github, api_url: https://api.github.com, owner: acme, token_env: GITHUB_TOKEN}
  hosts:                              # git hosts whose API a template's pull/merge request
    - {host: github.com, type: github, api_url: https://api.github.com, token_env: GITHUB_TOKEN}
    - {host: gitlab.example.com, type: gitlab, token_env: GITLAB_TOKEN}  # api_url: https://<host>/api/v4
  permissions:                        # absent: any member of a catalog group may scaffold
    - {templates: [python-service], groups: [team-infra, money-and-platform]}
  variables:                          # which template variable gets the dialog's name/owner/system
    pypackage: {name: package_name}
```

Tokens never live in this file: ``publish.host.token_env`` and ``hosts[].token_env`` name the
environment variables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bot.catalog.model import EntityRef
from bot.config import Section
from bot.errors import CatalogError

BUNDLED_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

HostType = Literal["github", "gitlab"]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
REMOTE_PLACEHOLDERS = ("name", "owner")
DIALOG_ROLES = ("name", "owner", "system")


@dataclass(frozen=True)
class TemplateLocation:
    """One entry of ``scaffold.templates``: a directory, or a git repository pinned to a ref."""

    kind: Literal["directory", "git"]
    path: Path | None = None  # directory
    url: str | None = None  # git
    ref: str | None = None  # git: branch, tag or commit (from config only, never from chat)
    directory: str | None = None  # git: the folder inside the repository holding the templates

    def __str__(self) -> str:
        if self.kind == "directory":
            return str(self.path)
        at = f"@{self.ref}" if self.ref else ""
        sub = f" ({self.directory})" if self.directory else ""
        return f"{self.url}{at}{sub}"


@dataclass(frozen=True)
class HostSettings:
    """A git host whose REST API creates the repository before the push."""

    type: HostType
    api_url: (
        str  # https://api.github.com, https://ghe.example.com/api/v3, https://gitlab.com/api/v4
    )
    owner: str | None  # GitHub organisation (None: the token's user); GitLab group path
    token_env: str  # the environment variable holding the token
    visibility: Literal["private", "internal", "public"] = "private"


@dataclass(frozen=True)
class HostAPI:
    """A git host a template's ``publish:github:pull-request`` or
    ``publish:gitlab:merge-request`` step may open a request on (``scaffold.hosts``)."""

    host: str  # as a template's repoUrl names it: github.com, gitlab.example.com
    type: HostType
    api_url: str  # https://api.github.com, https://gitlab.example.com/api/v4
    token_env: str  # the environment variable holding the token


@dataclass(frozen=True)
class PublishSettings:
    """Where a scaffolded project is pushed."""

    # A pattern with {name} (and {owner}). None: the host's clone URL when a host is set, else
    # a bare repository under the data directory (file://<data_dir>/git/{name}.git).
    remote: str | None
    branch: str = "main"
    host: HostSettings | None = None
    author_name: str = "Callboard"
    author_email: str = "callboard@localhost"


@dataclass(frozen=True)
class PermissionRule:
    """Members of ``groups`` (or their sub-groups) and the ``users`` may scaffold ``templates``."""

    templates: tuple[str, ...]  # names or fnmatch patterns ("*")
    groups: tuple[str, ...]  # group refs, normalised ("group:default/team-infra"), or "*"
    users: tuple[str, ...]  # user refs, normalised


@dataclass(frozen=True)
class ScaffoldSettings:
    """The ``scaffold:`` section, with defaults that work out of the box on the demo."""

    templates: tuple[TemplateLocation, ...] = ()
    trusted: tuple[str, ...] = ()
    catalog: bool = True
    publish: PublishSettings = field(default_factory=lambda: PublishSettings(remote=None))
    permissions: tuple[PermissionRule, ...] = ()
    variables: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    cache_dir: Path | None = None  # git template clones; None: <data_dir>/scaffold
    refresh_minutes: int = 60
    max_value_length: int = 200
    max_text_length: int = 2000
    max_files: int = 5000
    max_output_mb: int = 50
    timeout_seconds: int = 300
    render_user: str = "nobody"  # a bot started as root renders templates as this user
    # Templates from a ``backstage`` catalog source run on that Backstage: ("*",) for all,
    # else their names; () runs none there (they run natively where their files are readable).
    backstage: tuple[str, ...] = ()
    hosts: tuple[HostAPI, ...] = ()  # where pull/merge request steps may open requests

    def host_api(self, host: str) -> HostAPI | None:
        return next((h for h in self.hosts if h.host == host.lower()), None)

    def runs_on_backstage(self, template: str) -> bool:
        return "*" in self.backstage or template in self.backstage

    def is_trusted(self, template: str) -> bool:
        return template in self.trusted


def parse_scaffold(sec: Section) -> ScaffoldSettings:
    """Read ``scaffold:``; every problem names the key and the file."""
    templates = _templates(sec) if "templates" in sec.data else _default_templates(sec)
    trusted = sec.str_list("trusted")
    for name in trusted:
        if not _TEMPLATE_NAME.fullmatch(name):
            raise sec.error("trusted", f"lists {name!r}, which is not a template name")
    publish = _publish(sec.section("publish"))
    permissions = tuple(_rule(s) for s in sec.sections("permissions"))
    variables = _variables(sec.section("variables"))
    limits = {
        "max_value_length": sec.int("max_value_length", 200, minimum=1),
        "max_text_length": sec.int("max_text_length", 2000, minimum=1),
        "max_files": sec.int("max_files", 5000, minimum=1),
        "max_output_mb": sec.int("max_output_mb", 50, minimum=1),
        "timeout_seconds": sec.int("timeout_seconds", 300, minimum=5),
    }
    return ScaffoldSettings(
        templates=templates,
        trusted=trusted,
        catalog=sec.bool("catalog", True),
        publish=publish,
        permissions=permissions,
        variables=variables,
        cache_dir=sec.path("cache_dir"),
        refresh_minutes=sec.int("refresh_minutes", 60, minimum=1),
        render_user=_render_user(sec),
        backstage=_backstage(sec),
        hosts=_hosts(sec),
        **limits,
    )


_TEMPLATE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
_USER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}\$?")


def _render_user(sec: Section) -> str:
    user = sec.str("render_user", "nobody") or "nobody"
    if not _USER_NAME.fullmatch(user) or user == "root":
        raise sec.error("render_user", f"must be an unprivileged user's name, found {user!r}")
    return user


def _backstage(sec: Section) -> tuple[str, ...]:
    """``backstage: run`` (every template of a backstage source), ``off``, or a list of names."""
    raw = sec.raw("backstage")
    if raw is None or raw is False or raw == "off":
        return ()
    if raw is True or raw == "run":
        return ("*",)
    if isinstance(raw, str):
        raise sec.error("backstage", f"must be run, off or a list of template names, found {raw!r}")
    names = sec.str_list("backstage")
    for name in names:
        if not _TEMPLATE_NAME.fullmatch(name):
            raise sec.error("backstage", f"lists {name!r}, which is not a template name")
    return names


def _default_templates(sec: Section) -> tuple[TemplateLocation, ...]:
    """``templates/`` beside the config folder (the source tree and the Docker image both lay
    it out so), else the one beside the source code."""
    for folder in (sec.base.parent / "templates", BUNDLED_TEMPLATES):
        if folder.is_dir() and any(folder.glob("*/cookiecutter.json")):
            return (TemplateLocation("directory", path=folder.resolve()),)
    return ()


def _templates(sec: Section) -> tuple[TemplateLocation, ...]:
    raw = sec.raw("templates")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise sec.error("templates", "must be a list of directories or git repositories")
    out: list[TemplateLocation] = []
    for i, item in enumerate(raw):
        where = f"templates[{i}]"
        if isinstance(item, str):
            text = sec._substitute(where, item)
            out.append(_location_from_text(sec, where, text))
            continue
        if not isinstance(item, Mapping):
            raise sec.error(where, "must be a path, a git URL, or a mapping with url/ref")
        sub = Section(item, f"{sec.where}.{where}", sec.file, sec.base)
        url = sub.str("url")
        path = sub.str("path")
        if (url is None) == (path is None):
            raise sub.error("url", "or path is required (exactly one of them)")
        if path is not None:
            sub.done()
            out.append(TemplateLocation("directory", path=sub.resolve(path)))
            continue
        assert url is not None
        ref = sub.str("ref")
        directory = sub.str("directory")
        if ref is not None and (ref.startswith("-") or not ref.strip()):
            raise sub.error("ref", f"is not a branch, tag or commit: {ref!r}")
        if directory is not None and (directory.startswith("/") or ".." in directory.split("/")):
            raise sub.error(
                "directory", f"must be a relative folder inside the repository: {directory!r}"
            )
        sub.done()
        out.append(
            TemplateLocation("git", url=_git_url(sub, "url", url), ref=ref, directory=directory)
        )
    return tuple(out)


def _location_from_text(sec: Section, where: str, text: str) -> TemplateLocation:
    if _looks_like_git_url(text):
        return TemplateLocation("git", url=_git_url(sec, where, text))
    return TemplateLocation("directory", path=sec.resolve(text))


def _looks_like_git_url(text: str) -> bool:
    return (
        "://" in text
        or text.startswith("git@")
        or (text.endswith(".git") and not Path(text).is_dir())
    )


def _git_url(sec: Section, key: str, url: str) -> str:
    if url.startswith("-") or any(c.isspace() for c in url):
        raise sec.error(key, f"is not a git URL: {url!r}")
    if "://" in url:
        scheme = url.split("://", 1)[0].lower()
        if scheme not in ("https", "http", "ssh", "git", "file"):
            raise sec.error(key, f"uses the scheme {scheme}; use https, ssh, git or file")
        if "@" in url.split("://", 1)[1].split("/", 1)[0] and scheme in ("https", "http"):
            raise sec.error(
                key, "carries credentials in the URL; let git's credential helper supply them"
            )
    return url


def _publish(sec: Section) -> PublishSettings:
    remote = sec.str("remote")
    if remote is not None:
        remote = _remote(sec, remote)
    host = _host(sec.section("host"))
    branch = sec.str("branch", "main") or "main"
    if (
        not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,99}", branch)
        or ".." in branch
        or "//" in branch
        or branch.endswith((".lock", "/", "."))
    ):
        raise sec.error("branch", f"is not a valid branch name: {branch!r}")
    author_email = sec.str("author_email", "callboard@localhost") or "callboard@localhost"
    author_name = sec.str("author_name", "Callboard") or "Callboard"
    for key, value in (("author_email", author_email), ("author_name", author_name)):
        if any(c in value for c in "<>\n"):
            raise sec.error(key, f"must not contain <, > or a line break: {value!r}")
    return PublishSettings(
        remote=remote,
        branch=branch,
        host=host,
        author_name=author_name,
        author_email=author_email,
    )


def _remote(sec: Section, remote: str) -> str:
    names = _PLACEHOLDER.findall(remote)
    unknown = [n for n in names if n not in REMOTE_PLACEHOLDERS]
    if unknown:
        raise sec.error(
            "remote", f"uses {{{unknown[0]}}}; the placeholders are {{name}} and {{owner}}"
        )
    if "name" not in names:
        raise sec.error("remote", "must contain {name} (each project gets its own repository)")
    if remote.startswith("-") or any(c.isspace() for c in remote):
        raise sec.error("remote", f"is not a git URL pattern: {remote!r}")
    if remote.startswith("file://"):
        path = remote[len("file://") :]
        if not path.startswith("/"):  # relative to the config file, like every other path
            remote = "file://" + str(sec.base / path)
    return remote


def _host(sec: Section) -> HostSettings | None:
    if "token" in sec.data:
        raise sec.error("token", "is a secret: name an environment variable in token_env instead")
    if not sec.present:
        return None
    type_ = (sec.str("type") or "").lower()
    if type_ not in ("github", "gitlab"):
        raise sec.error("type", f"must be github or gitlab, found {type_!r}")
    default_api = "https://api.github.com" if type_ == "github" else "https://gitlab.com/api/v4"
    api_url = (sec.str("api_url", default_api) or default_api).rstrip("/")
    if not api_url.startswith(("https://", "http://")):
        raise sec.error("api_url", f"must be an http(s) URL, found {api_url!r}")
    default_env = "GITHUB_TOKEN" if type_ == "github" else "GITLAB_TOKEN"
    token_env = sec.str("token_env", default_env) or default_env
    if not _ENV_NAME.fullmatch(token_env):
        raise sec.error("token_env", f"must be an environment variable name, found {token_env!r}")
    owner = sec.str("owner")
    if type_ == "gitlab" and not owner:
        raise sec.error("owner", "is required for GitLab (the group the project is created in)")
    visibility = (sec.str("visibility", "private") or "private").lower()
    if visibility not in ("private", "internal", "public"):
        raise sec.error("visibility", f"must be private, internal or public, found {visibility!r}")
    sec.done()
    return HostSettings(
        type="github" if type_ == "github" else "gitlab",
        api_url=api_url,
        owner=owner,
        token_env=token_env,
        visibility="public"
        if visibility == "public"
        else "internal"
        if visibility == "internal"
        else "private",
    )


_HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:[0-9]{1,5})?")


def _hosts(sec: Section) -> tuple[HostAPI, ...]:
    out: list[HostAPI] = []
    for item in sec.sections("hosts"):
        if "token" in item.data:
            raise item.error(
                "token", "is a secret: name an environment variable in token_env instead"
            )
        host = (item.str("host", required=True) or "").lower()
        if not _HOST_NAME.fullmatch(host):
            raise item.error("host", f"is not a host name: {host!r}")
        if any(h.host == host for h in out):
            raise item.error("host", f"lists {host} twice")
        default_type = "github" if "github" in host else "gitlab" if "gitlab" in host else ""
        type_ = (item.str("type", default_type) or "").lower()
        if type_ not in ("github", "gitlab"):
            raise item.error("type", f"must be github or gitlab, found {type_!r}")
        if type_ == "github":
            default_api = (
                "https://api.github.com" if host == "github.com" else f"https://{host}/api/v3"
            )
        else:
            default_api = f"https://{host}/api/v4"
        api_url = (item.str("api_url", default_api) or default_api).rstrip("/")
        if not api_url.startswith(("https://", "http://")):
            raise item.error("api_url", f"must be an http(s) URL, found {api_url!r}")
        default_env = "GITHUB_TOKEN" if type_ == "github" else "GITLAB_TOKEN"
        token_env = item.str("token_env", default_env) or default_env
        if not _ENV_NAME.fullmatch(token_env):
            raise item.error(
                "token_env", f"must be an environment variable name, found {token_env!r}"
            )
        item.done()
        out.append(
            HostAPI(
                host=host,
                type="github" if type_ == "github" else "gitlab",
                api_url=api_url,
                token_env=token_env,
            )
        )
    return tuple(out)


def _rule(sec: Section) -> PermissionRule:
    templates = sec.str_list("templates") or ("*",)
    groups = tuple(_ref(sec, "groups", g, "group") for g in sec.str_list("groups"))
    users = tuple(_ref(sec, "users", u, "user") for u in sec.str_list("users"))
    if not groups and not users:
        raise sec.error("groups", "or users is required: whom does this rule let scaffold?")
    sec.done()
    return PermissionRule(templates, groups, users)


def _ref(sec: Section, key: str, text: str, kind: str) -> str:
    if text == "*" and kind == "group":
        return "*"
    try:
        ref = EntityRef.parse(text, kind)
    except CatalogError as exc:
        raise sec.error(key, f"has {text!r}: {exc}") from None
    if ref.kind != kind:
        raise sec.error(key, f"has {text!r}, which is a {ref.kind}, not a {kind}")
    return str(ref)


def _variables(sec: Section) -> Mapping[str, Mapping[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for template in list(sec.data):
        sub = sec.section(str(template))
        mapping: dict[str, str] = {}
        for role in DIALOG_ROLES:
            value = sub.str(role)
            if value is not None:
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
                    raise sub.error(role, f"must name a template variable, found {value!r}")
                mapping[role] = value
        sub.done()
        out[str(template)] = mapping
    return out
