"""Publishing a rendered project: create the repository, commit, push.

The remote comes from ``scaffold.publish.remote`` with ``{name}`` (and ``{owner}``) filled in:
a ``file://`` remote gets a bare repository made on the spot; with ``publish.host`` the
repository is first created through GitHub's or GitLab's REST API (the base URL is
configurable for enterprise installs), with the token read from the environment variable the
config names. The token never appears in a URL, an argument, a message or a log line.
"""

from __future__ import annotations

import base64
import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from bot.errors import GitError
from bot.git import run_git, scrub
from bot.hardening import secret_environ
from bot.scaffold.settings import HostSettings, PublishSettings


class PublishError(Exception):
    """Creating or pushing the repository failed; the message says why (no secrets)."""


@dataclass(frozen=True)
class Repository:
    """Where the project goes: the URL git pushes to and the page people open."""

    url: str
    web_url: str | None
    created: bool  # this run created it
    bare_path: Path | None = None  # a file:// repository on disk

    @property
    def shown(self) -> str:
        return self.web_url or self.url


class Publisher:
    """Creates repositories and pushes to them; blocking (run it in a worker thread)."""

    def __init__(
        self,
        cfg: PublishSettings,
        data_dir: Path,
        *,
        timeout: float = 120,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.cfg = cfg
        self.timeout = timeout
        # Tokens read through secret_environ leave os.environ (bot.hardening).
        self.environ = environ if environ is not None else secret_environ()
        self.pattern = cfg.remote
        if self.pattern is None and cfg.host is None:
            self.pattern = f"file://{data_dir / 'git'}/{{name}}.git"

    # ------------------------------------------------------------------ where

    def remote_for(self, name: str, owner: str) -> str | None:
        """The push URL for a new project (None: the git host's API will say)."""
        if self.pattern is None:
            return None
        return self.pattern.replace("{name}", name).replace("{owner}", owner)

    def describe(self) -> str:
        """Where projects go, for listings: the remote pattern or the host."""
        if self.pattern:
            return self.pattern
        assert self.cfg.host is not None
        owner = self.cfg.host.owner or "the token's user"
        return f"{self.cfg.host.type} ({self.cfg.host.api_url}), under {owner}"

    def _bare_path(self, url: str) -> Path:
        assert self.pattern is not None
        path = Path(unquote(url[len("file://") :]))
        # Every repository stays in the folder the pattern fixes before its first placeholder.
        prefix = unquote(self.pattern[len("file://") :].split("{", 1)[0])
        base = Path(prefix) if prefix.endswith("/") else Path(prefix).parent
        resolved = path.resolve()
        if not resolved.is_relative_to(base.resolve()):
            raise PublishError(f"the repository path {path} is outside {base}")
        return resolved

    def preflight(self, name: str, owner: str) -> str | None:
        """Why a repository for ``name`` cannot be made (it exists), or None."""
        remote = self.remote_for(name, owner)
        if remote is not None and remote.startswith("file://"):
            path = self._bare_path(remote)
            if path.exists():
                return f"a repository already exists at {remote}"
            return None
        host = self.cfg.host
        token = self._token() if host else None
        if host is None or not token:
            return None
        try:
            if host.type == "github":
                owner_path = host.owner or self._github_login(token)
                status, _ = self._api("GET", f"/repos/{quote(owner_path)}/{quote(name)}", token)
            else:
                assert host.owner is not None
                status, _ = self._api(
                    "GET", f"/projects/{quote(f'{host.owner}/{name}', safe='')}", token
                )
        except PublishError:
            return None  # the create call will say what is wrong
        if status == 200:
            return f"a repository named {name} already exists on {host.type}"
        return None

    # ------------------------------------------------------------------ create

    def create(self, name: str, owner: str, description: str) -> Repository:
        """Make the empty repository the project is pushed to."""
        host = self.cfg.host
        remote = self.remote_for(name, owner)
        if host is not None:
            created = self._create_on_host(host, name, description)
            url = remote or created["clone_url"]
            return Repository(url, created.get("web_url"), True)
        assert remote is not None
        if remote.startswith("file://"):
            path = self._bare_path(remote)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise PublishError(
                    f"cannot create {path}: {exc.strerror} ({exc.filename})"
                ) from None
            try:
                path.mkdir()
            except FileExistsError:
                raise PublishError(f"a repository already exists at {remote}") from None
            except OSError as exc:
                raise PublishError(f"cannot create {path}: {exc.strerror}") from None
            try:
                run_git(
                    ["init", "--quiet", "--bare", f"--initial-branch={self.cfg.branch}", str(path)],
                    timeout=self.timeout,
                )
            except GitError as exc:
                shutil.rmtree(path, ignore_errors=True)
                raise PublishError(str(exc)) from None
            return Repository(remote, None, True, bare_path=path)
        # An ssh or https remote without a host API: the repository must exist already.
        return Repository(remote, _web_url(remote), False)

    def discard(self, repo: Repository) -> str:
        """Undo ``create`` after a failed push, where we can; says what happened."""
        if repo.bare_path is not None and repo.created:
            shutil.rmtree(repo.bare_path, ignore_errors=True)
            return f"the empty repository {repo.url} was removed again"
        if repo.created:
            return f"the empty repository {repo.shown} was created and is left in place"
        return ""

    def _token(self) -> str:
        host = self.cfg.host
        assert host is not None
        return self.environ.get(host.token_env, "").strip()

    def _require_token(self) -> str:
        token = self._token()
        if not token:
            assert self.cfg.host is not None
            raise PublishError(
                f"the {self.cfg.host.type} token is missing: set the environment variable "
                f"{self.cfg.host.token_env} (scaffold.publish.host.token_env)"
            )
        return token

    def _create_on_host(self, host: HostSettings, name: str, description: str) -> dict[str, str]:
        token = self._require_token()
        if host.type == "github":
            path = f"/orgs/{quote(host.owner)}/repos" if host.owner else "/user/repos"
            body: dict[str, Any] = {
                "name": name,
                "description": description[:350],
                "private": host.visibility != "public",
                "auto_init": False,
            }
            if host.owner:
                body["visibility"] = host.visibility
            status, data = self._api("POST", path, token, body)
            if status != 201:
                raise PublishError(self._refusal("GitHub", status, data, name))
            return {"clone_url": str(data.get("clone_url")), "web_url": str(data.get("html_url"))}
        assert host.owner is not None
        status, ns = self._api("GET", f"/namespaces/{quote(host.owner, safe='')}", token)
        if status != 200 or not isinstance(ns, dict) or "id" not in ns:
            raise PublishError(self._refusal("GitLab", status, ns, host.owner, "group"))
        status, data = self._api(
            "POST",
            "/projects",
            token,
            {
                "name": name,
                "path": name,
                "namespace_id": ns["id"],
                "visibility": host.visibility,
                "description": description[:2000],
                "initialize_with_readme": False,
            },
        )
        if status != 201:
            raise PublishError(self._refusal("GitLab", status, data, name))
        return {
            "clone_url": str(data.get("http_url_to_repo")),
            "web_url": str(data.get("web_url")),
        }

    def _github_login(self, token: str) -> str:
        status, data = self._api("GET", "/user", token)
        if status != 200 or not isinstance(data, dict) or not data.get("login"):
            raise PublishError(self._refusal("GitHub", status, data, "the token's user"))
        return str(data["login"])

    def _refusal(
        self, host: str, status: int, data: Any, what: str, kind: str = "repository"
    ) -> str:
        detail = _api_message(data)
        if status in (401, 403):
            assert self.cfg.host is not None
            return (
                f"{host} refused the token in {self.cfg.host.token_env} ({status}"
                f"{': ' + detail if detail else ''})"
            )
        if status == 404:
            return f"{host} has no {kind} {what} (404{': ' + detail if detail else ''})"
        if status in (400, 409, 422) and ("taken" in detail or "exists" in detail):
            return f"a repository named {what} already exists on {host} ({detail})"
        return f"{host} answered {status} creating {what}{': ' + detail if detail else ''}"

    def _api(
        self, method: str, path: str, token: str, body: Mapping[str, Any] | None = None
    ) -> tuple[int, Any]:
        host = self.cfg.host
        assert host is not None
        headers = {"Accept": "application/json", "User-Agent": "callboard-scaffold"}
        if host.type == "github":
            headers["Authorization"] = f"Bearer {token}"
            headers["Accept"] = "application/vnd.github+json"
            headers["X-GitHub-Api-Version"] = "2022-11-28"
        else:
            headers["PRIVATE-TOKEN"] = token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            host.api_url + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, _json(exc.read())
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PublishError(
                scrub(f"cannot reach {host.type} at {host.api_url}: {reason}", [token])
            ) from None

    # ------------------------------------------------------------------ push

    def push(self, project: Path, repo: Repository, message: str) -> str:
        """Commit everything in ``project`` and push it as the first commit; its hash."""
        token = self._token() if self.cfg.host is not None else ""
        config: dict[str, str] = {}
        parts = urlsplit(repo.url)
        if token and parts.scheme in ("http", "https"):
            user = (
                "x-access-token" if self.cfg.host and self.cfg.host.type == "github" else ("oauth2")
            )
            basic = base64.b64encode(f"{user}:{token}".encode()).decode()
            config[f"http.{parts.scheme}://{parts.netloc}/.extraHeader"] = (
                f"Authorization: Basic {basic}"
            )
        secrets = [token, *(v for v in config.values())]
        identity = {
            "GIT_AUTHOR_NAME": self.cfg.author_name,
            "GIT_AUTHOR_EMAIL": self.cfg.author_email,
            "GIT_COMMITTER_NAME": self.cfg.author_name,
            "GIT_COMMITTER_EMAIL": self.cfg.author_email,
        }

        def git(*args: str) -> str:
            return run_git(
                args,
                cwd=project,
                timeout=self.timeout,
                config=config,
                extra_env=identity,
                secrets=secrets,
            )

        try:
            git("init", "--quiet", f"--initial-branch={self.cfg.branch}")
            git("add", "--all", "--", ".")
            git("commit", "--quiet", "--no-verify", "-m", message)
            git("push", "--quiet", "--", repo.url, f"HEAD:refs/heads/{self.cfg.branch}")
            return git("rev-parse", "HEAD").strip()
        except GitError as exc:
            raise PublishError(scrub(str(exc), secrets)) from None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8")) if raw else {}
    except (ValueError, UnicodeDecodeError):
        return {}


def _api_message(data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    parts: list[str] = []
    message = data.get("message")
    if isinstance(message, str):
        parts.append(message)
    elif isinstance(message, dict):  # GitLab: {"name": ["has already been taken"]}
        for key, value in message.items():
            items = value if isinstance(value, list) else [value]
            parts.append(f"{key} {', '.join(str(v) for v in items)}")
    for error in data.get("errors") or ():  # GitHub: [{"message": "name already exists..."}]
        if isinstance(error, dict) and error.get("message"):
            parts.append(str(error["message"]))
    return "; ".join(parts)[:300]


def _web_url(remote: str) -> str | None:
    if remote.startswith(("https://", "http://")):
        return remote[:-4] if remote.endswith(".git") else remote
    return None
