"""Opening a template's pull or merge request on a git host (``scaffold.hosts``).

``publish:github:pull-request`` and ``publish:gitlab:merge-request`` propose the files of a
step's ``sourcePath`` (placed under ``targetPath``) to an existing repository, as Backstage's
actions do:

1. the repository is looked up through the host's REST API (``GET /repos/{owner}/{repo}`` on
   GitHub, ``GET /projects/{id}`` on GitLab): its clone URL and default branch;
2. the target branch (``targetBranchName``, else the default branch) is fetched into a fresh
   repository, the files are laid over it on a new branch (``branchName``) and committed, and
   the branch is pushed with git (never forced: an existing branch is refused by the remote);
3. the request is opened (``POST /repos/{owner}/{repo}/pulls``,
   ``POST /projects/{id}/merge_requests``) and its outputs returned.

GitHub's ``reviewers``/``teamReviewers`` are asked for after the request opens (a refusal is a
warning, the request stays); ``createWhenEmpty: false`` opens nothing when the files change
nothing. GitLab's ``assignee``/``reviewers`` usernames become user ids (``GET /users``); one
not found is a warning and left out. Warnings reach the reply as notes; the inputs Callboard
does not act on (``_IGNORED``) are named there too.

The host must be listed in ``scaffold.hosts``; its token comes only from the environment
variable the entry names, never from a template's ``token`` input, and it appears in no URL,
argument, message or log line. Blocking: call it off the event loop.
"""

from __future__ import annotations

import base64
import json
import posixpath
import re
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from bot.errors import GitError
from bot.git import run_git, scrub
from bot.hardening import secret_environ
from bot.scaffold.native import LiveError, LiveRequest
from bot.scaffold.settings import HostAPI

GITHUB_PR = "publish:github:pull-request"
GITLAB_MR = "publish:gitlab:merge-request"
MAX_ANSWER = 1 << 20  # bytes read from one API answer
# Inputs Backstage's actions take that Callboard does not act on: named in the step's log.
_IGNORED = {
    GITHUB_PR: ("assignees", "update", "forceFork", "forceEmptyGitAuthor"),
    GITLAB_MR: ("assignReviewersFromApprovalRules", "commitAction", "projectid"),
}
MAX_PEOPLE = 50  # reviewers (or teams) one request may name
_BRANCH = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/+-]{0,199}")


class StepLog(list[str]):
    """A step's log lines; ``warnings`` are the ones the user should see in the reply too
    (an input not acted on, a reviewer not added): the request itself went ahead."""

    def __init__(self) -> None:
        super().__init__()
        self.warnings: list[str] = []

    def warn(self, line: str) -> None:
        self.append(line)
        self.warnings.append(line)


class PullRequests:
    """Opens pull and merge requests on the hosts in ``scaffold.hosts``."""

    def __init__(
        self,
        hosts: Sequence[HostAPI],
        *,
        author_name: str,
        author_email: str,
        timeout: float = 120,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.hosts = {h.host: h for h in hosts}
        self.author_name = author_name
        self.author_email = author_email
        self.timeout = timeout
        # Tokens read through secret_environ leave os.environ (bot.hardening).
        self.environ = environ if environ is not None else secret_environ()

    def open(self, request: LiveRequest) -> tuple[dict[str, Any], StepLog]:
        """Open the request ``request`` asks for; its outputs and log lines, or ``LiveError``."""
        inputs = request.input
        log = StepLog()
        action = request.action
        host, owner, repo, project = _repo_url(inputs.get("repoUrl"), action)
        api = self.hosts.get(host)
        kind = "github" if action == GITHUB_PR else "gitlab"
        if api is None:
            raise LiveError(
                f"{action} opens a request on {host}, which has no API configured: add "
                f"{{host: {host}, type: {kind}, api_url: ..., token_env: ...}} to scaffold.hosts"
            )
        if api.type != kind:
            raise LiveError(
                f"{action} needs a {kind} host, and scaffold.hosts lists {host} as {api.type}"
            )
        token = self.environ.get(api.token_env, "").strip()
        if not token:
            raise LiveError(
                f"the token for {host} is missing: set the environment variable "
                f"{api.token_env} (scaffold.hosts)"
            )
        title = _text(inputs, "title", action, required=True)
        branch = _branch(inputs.get("branchName"), "branchName", action)
        target = inputs.get("targetBranchName")
        target_branch = _branch(target, "targetBranchName", action) if target else None
        for name in (*_IGNORED[action], "token"):
            if inputs.get(name) not in (None, "", [], False):
                why = "the token comes from scaffold.hosts" if name == "token" else "not supported"
                log.warn(f"Callboard ignores the input {name} of {action} ({why})")
        client = _Client(api, token, self.timeout)
        if action == GITHUB_PR:
            full_name = f"{owner}/{repo}"
            return self._github(
                client, inputs, request.files, full_name, title, branch, target_branch, log
            )
        project = project or f"{owner}/{repo}"
        return self._gitlab(
            client, inputs, request.files, project, title, branch, target_branch, log
        )

    # ------------------------------------------------------------------ GitHub

    def _github(
        self,
        client: _Client,
        inputs: Mapping[str, Any],
        files: Path,
        full_name: str,
        title: str,
        branch: str,
        target: str | None,
        log: StepLog,
    ) -> tuple[dict[str, Any], StepLog]:
        owner, _, repo = full_name.partition("/")
        path = f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}"
        status, data = client.call("GET", path)
        if status != 200 or not isinstance(data, dict):
            raise LiveError(client.refusal(status, data, f"reading the repository {full_name}"))
        clone_url = str(data.get("clone_url") or "")
        target = target or str(data.get("default_branch") or "main")
        reviewers = list(dict.fromkeys(_names(inputs, "reviewers", GITHUB_PR)))
        teams = list(dict.fromkeys(_names(inputs, "teamReviewers", GITHUB_PR)))
        empty_ok = inputs.get("createWhenEmpty", True) is not False
        if not self._push(client, inputs, files, clone_url, target, branch, title, log, empty_ok):
            log.warn("No changes to commit, pull request was not created")
            return {}, log
        body = {
            "title": title,
            "body": _text(inputs, "description", GITHUB_PR),
            "head": branch,
            "base": target,
            "draft": bool(inputs.get("draft")),
        }
        status, made = client.call("POST", f"{path}/pulls", body)
        if status != 201 or not isinstance(made, dict) or not made.get("html_url"):
            raise LiveError(
                client.refusal(status, made, f"opening the pull request {branch} → {target}")
                + f"; the branch {branch} was pushed and is left in place",
                log,
            )
        log.append(f"Created pull request {made['html_url']}")
        if (reviewers or teams) and made.get("number") is not None:
            _request_reviewers(client, path, made["number"], reviewers, teams, log)
        outputs = {
            "targetBranchName": target,
            "remoteUrl": str(made["html_url"]),
            "pullRequestNumber": made.get("number"),
        }
        return outputs, log

    # ------------------------------------------------------------------ GitLab

    def _gitlab(
        self,
        client: _Client,
        inputs: Mapping[str, Any],
        files: Path,
        project: str,
        title: str,
        branch: str,
        target: str | None,
        log: StepLog,
    ) -> tuple[dict[str, Any], StepLog]:
        path = f"/projects/{quote(project, safe='')}"
        status, data = client.call("GET", path)
        if status != 200 or not isinstance(data, dict) or "id" not in data:
            raise LiveError(client.refusal(status, data, f"reading the project {project}"))
        clone_url = str(data.get("http_url_to_repo") or "")
        target = target or str(data.get("default_branch") or "main")
        assignee = _text(inputs, "assignee", GITLAB_MR)
        assignee_ids = _gitlab_user_ids(client, [assignee] if assignee else [], log, "an assignee")
        reviewer_ids = _gitlab_user_ids(
            client, _names(inputs, "reviewers", GITLAB_MR), log, "reviewer"
        )
        self._push(client, inputs, files, clone_url, target, branch, title, log)
        body: dict[str, Any] = {
            "source_branch": branch,
            "target_branch": target,
            "title": title,
            "description": _text(inputs, "description", GITLAB_MR),
            "remove_source_branch": bool(inputs.get("removeSourceBranch")),
        }
        if assignee_ids:
            body["assignee_id"] = assignee_ids[0]
        if reviewer_ids:
            body["reviewer_ids"] = reviewer_ids
        labels = inputs.get("labels")
        if labels:
            body["labels"] = ",".join(labels) if isinstance(labels, list) else str(labels)
        status, made = client.call("POST", f"/projects/{data['id']}/merge_requests", body)
        if status != 201 or not isinstance(made, dict) or not made.get("web_url"):
            raise LiveError(
                client.refusal(status, made, f"opening the merge request {branch} → {target}")
                + f"; the branch {branch} was pushed and is left in place",
                log,
            )
        log.append(f"Created merge request {made['web_url']}")
        outputs = {
            "projectid": project,
            "projectPath": project,
            "targetBranchName": target,
            "mergeRequestUrl": str(made["web_url"]),
        }
        return outputs, log

    # ------------------------------------------------------------------ git

    def _push(
        self,
        client: _Client,
        inputs: Mapping[str, Any],
        files: Path,
        clone_url: str,
        target: str,
        branch: str,
        title: str,
        log: list[str],
        empty_ok: bool = True,
    ) -> bool:
        """Lay ``files`` over ``target`` under ``targetPath`` on ``branch``, commit, push.

        False, with nothing pushed, when the files change nothing and ``empty_ok`` is off."""
        parts = urlsplit(clone_url)
        if parts.scheme not in ("https", "http", "file"):
            raise LiveError(f"{client.api.host} gave no usable clone URL ({clone_url[:200]!r})")
        config: dict[str, str] = {}
        if parts.scheme in ("http", "https"):
            user = "x-access-token" if client.api.type == "github" else "oauth2"
            basic = base64.b64encode(f"{user}:{client.token}".encode()).decode()
            config[f"http.{parts.scheme}://{parts.netloc}/.extraHeader"] = (
                f"Authorization: Basic {basic}"
            )
        secrets = [client.token, *config.values()]
        name = str(inputs.get("gitAuthorName") or self.author_name)
        email = str(inputs.get("gitAuthorEmail") or self.author_email)
        if any(c in name + email for c in "<>\n"):
            raise LiveError("gitAuthorName and gitAuthorEmail must not hold <, > or a line break")
        identity = {
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": self.author_name,
            "GIT_COMMITTER_EMAIL": self.author_email,
        }
        message = str(inputs.get("commitMessage") or inputs.get("gitCommitMessage") or title)
        with tempfile.TemporaryDirectory(prefix="callboard-pr-") as tmp:
            checkout = Path(tmp) / "repo"

            def git(*args: str) -> str:
                return run_git(
                    args,
                    cwd=checkout,
                    timeout=self.timeout,
                    config=config,
                    extra_env=identity,
                    secrets=secrets,
                )

            try:
                checkout.mkdir()
                git("init", "--quiet")
                try:
                    git("fetch", "--quiet", "--depth=1", "--", clone_url, f"refs/heads/{target}")
                except GitError as exc:
                    raise LiveError(
                        f"cannot fetch the branch {target} of {scrub(clone_url)}: {exc}", log
                    ) from None
                git("checkout", "--quiet", "-b", branch, "FETCH_HEAD")
                where = _target_dir(checkout, inputs.get("targetPath"))
                _lay_over(files, where, checkout)
                _delete(inputs.get("filesToDelete"), where, checkout, log)
                git("add", "--all", "--", ".")
                if not empty_ok and not git("status", "--porcelain").strip():
                    return False
                git("commit", "--quiet", "--no-verify", "--allow-empty", "-m", message)
                log.append(f"Pushing branch {branch} (from {target}) to {scrub(clone_url)}")
                try:
                    git("push", "--quiet", "--", clone_url, f"HEAD:refs/heads/{branch}")
                except GitError as exc:
                    raise LiveError(
                        f"cannot push the branch {branch} (does it exist already?): {exc}", log
                    ) from None
            except GitError as exc:
                raise LiveError(scrub(str(exc), secrets), log) from None
        return True


def _request_reviewers(
    client: _Client,
    path: str,
    number: Any,
    reviewers: list[str],
    teams: list[str],
    log: StepLog,
) -> None:
    """Ask for reviews on the new pull request; a refusal is logged, the request stays (as
    Backstage's action does)."""
    body: dict[str, Any] = {"reviewers": reviewers}
    if teams:
        body["team_reviewers"] = teams
    try:
        status, data = client.call("POST", f"{path}/pulls/{number}/requested_reviewers", body)
    except LiveError as exc:  # the request is open: its reviewers are not worth failing it
        log.warn(f"Failure when adding reviewers to Pull request {number}: {exc}")
        return
    if status != 201 or not isinstance(data, dict):
        why = client.refusal(status, data, f"adding reviewers to pull request {number}")
        log.warn(f"Failure when adding reviewers to Pull request {number}: {why}")
        return
    users = [
        str(u.get("login")) for u in data.get("requested_reviewers") or [] if isinstance(u, dict)
    ]
    names = [str(t.get("slug")) for t in data.get("requested_teams") or [] if isinstance(t, dict)]
    log.append(
        f"Added users [{', '.join(users)}] and teams [{', '.join(names)}] as reviewers to "
        f"Pull request {number}"
    )


def _gitlab_user_ids(client: _Client, usernames: list[str], log: StepLog, role: str) -> list[int]:
    """GitLab user ids for ``usernames`` (``GET /users?username=``); one not found is logged
    and left out, as Backstage's action does."""
    ids: list[int] = []
    for n, username in enumerate(usernames):
        try:
            status, data = client.call("GET", f"/users?username={quote(username, safe='')}")
        except LiveError as exc:
            # Unreachable: the request goes ahead without these users, and no more lookups
            # wait out the timeout one after the other.
            left = ", ".join(usernames[n:])
            log.warn(
                f"Failed to find gitlab user id for {left}: {exc}. Proceeding with MR "
                f"creation without {role}."
            )
            break
        found = data[0].get("id") if status == 200 and isinstance(data, list) and data else None
        if isinstance(found, int) and not isinstance(found, bool):
            ids.append(found)
            continue
        why = "no such user" if status == 200 else client.refusal(status, data, "looking it up")
        log.warn(
            f"Failed to find gitlab user id for {username}: {why}. Proceeding with MR "
            f"creation without {role}."
        )
    return ids


class _Client:
    """One host's REST API with its token (``Authorization: Bearer`` on GitHub,
    ``PRIVATE-TOKEN`` on GitLab)."""

    def __init__(self, api: HostAPI, token: str, timeout: float) -> None:
        self.api = api
        self.token = token
        self.timeout = timeout

    def call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> tuple[int, Any]:
        headers = {"Accept": "application/json", "User-Agent": "callboard-scaffold"}
        if self.api.type == "github":
            headers["Authorization"] = f"Bearer {self.token}"
            headers["Accept"] = "application/vnd.github+json"
            headers["X-GitHub-Api-Version"] = "2022-11-28"
        else:
            headers["PRIVATE-TOKEN"] = self.token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            self.api.api_url + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, _json(response.read(MAX_ANSWER))
        except urllib.error.HTTPError as exc:
            return exc.code, _json(exc.read(MAX_ANSWER))
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise LiveError(
                scrub(
                    f"cannot reach {self.api.host}'s API at {self.api.api_url}: {reason}",
                    [self.token],
                )
            ) from None

    def refusal(self, status: int, data: Any, doing: str) -> str:
        name = "GitHub" if self.api.type == "github" else "GitLab"
        detail = scrub(_api_message(data), [self.token])
        shown = f" ({status}{': ' + detail if detail else ''})"
        if status in (401, 403):
            return f"{name} refused the token in {self.api.token_env} {doing}{shown}"
        if status == 404:
            return f"{name} found nothing {doing}{shown}"
        return f"{name} answered {status} {doing}{': ' + detail if detail else ''}"


def _repo_url(value: Any, action: str) -> tuple[str, str, str, str]:
    """``host?owner=o&repo=r`` (Backstage's repoUrl) as (host, owner, repo, project): GitLab's
    ``project`` (an id or path) wins over owner/repo when given."""
    text = str(value or "")
    host, _, query = text.partition("?")
    args = parse_qs(query)
    owner = (args.get("owner") or [""])[0]
    repo = (args.get("repo") or [""])[0]
    project = (args.get("project") or [""])[0] if action == GITLAB_MR else ""
    if project and host and "/" not in host:
        return host.lower(), owner, repo, project
    if not host or not owner or not repo or "/" in host:
        raise LiveError(
            f"{action}: repoUrl {text[:200]!r} must be host?owner=...&repo=... "
            "(as RepoUrlPicker gives it)"
        )
    if ".." in owner.split("/") or "/" in repo or repo in (".", ".."):
        raise LiveError(f"{action}: repoUrl {text[:200]!r} names no repository")
    return host.lower(), owner, repo, ""


def _text(inputs: Mapping[str, Any], key: str, action: str, *, required: bool = False) -> str:
    value = inputs.get(key)
    if value is None or value == "":
        if required:
            raise LiveError(f"{action}: input {key} is required")
        return ""
    return str(value)[:60000]


def _names(inputs: Mapping[str, Any], key: str, action: str) -> list[str]:
    """A list of user or team names (``reviewers``...): strings, at most ``MAX_PEOPLE``."""
    value = inputs.get(key)
    if value in (None, "", []):
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise LiveError(f"{action}: {key} must be a list of names, found {value!r:.200}")
    if len(value) > MAX_PEOPLE:
        raise LiveError(f"{action}: {key} names {len(value)}; at most {MAX_PEOPLE}")
    return [v.strip() for v in value]


def _branch(value: Any, key: str, action: str) -> str:
    text = str(value or "")
    if (
        not _BRANCH.fullmatch(text)
        or ".." in text
        or "//" in text
        or "@{" in text
        or text.endswith((".lock", "/", "."))
    ):
        raise LiveError(f"{action}: input {key} is not a valid branch name: {text[:200]!r}")
    return text


def _target_dir(checkout: Path, value: Any) -> Path:
    """``targetPath`` in the checkout (refused when it leaves it or names git's folder)."""
    rel = str(value or "").strip("/")
    if any(part in (".git", "..") for part in Path(rel).parts):
        raise LiveError(f"targetPath {rel!r} must stay in the repository (and out of .git)")
    where = (checkout / rel).resolve()
    if not where.is_relative_to(checkout.resolve()):
        raise LiveError(f"targetPath {rel!r} must stay in the repository")
    return where


def _lay_over(files: Path, where: Path, checkout: Path) -> None:
    """Copy ``files`` into ``where``, replacing what is there; never through a link the
    repository holds (it would lead out of the checkout)."""
    root = checkout.resolve()
    for source in sorted(files.rglob("*")):
        if source.is_dir():
            continue
        dest = where / source.relative_to(files)
        if not dest.parent.resolve().is_relative_to(root):
            raise LiveError(
                f"{dest.relative_to(checkout)} would be written through a symbolic link in the "
                "repository; refused"
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_symlink() or dest.is_file():
            dest.unlink()
        elif dest.is_dir():
            shutil.rmtree(dest)
        shutil.copy2(source, dest)


def _delete(names: Any, where: Path, checkout: Path, log: list[str]) -> None:
    """``filesToDelete`` (paths joined to ``targetPath``, as Backstage joins them): removed
    from the branch; a path that leaves the repository or enters ``.git`` is refused."""
    if not names:
        return
    if not isinstance(names, list):
        raise LiveError("filesToDelete must be a list of paths")
    root = checkout.resolve()
    base = where.resolve().relative_to(root).as_posix()
    for name in names[:1000]:
        rel = posixpath.normpath(posixpath.join(base, str(name).lstrip("/")))
        if rel.startswith("../") or rel in ("..", ".") or ".git" in rel.split("/"):
            raise LiveError(f"filesToDelete names {name!r}, which is not in the repository")
        path = root / rel
        if not path.parent.resolve().is_relative_to(root):
            raise LiveError(f"filesToDelete names {name!r}, which is behind a symbolic link")
        if path.is_symlink() or path.is_file():
            path.unlink()
            log.append(f"Deleting {rel}")


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8")) if raw else {}
    except (ValueError, UnicodeDecodeError):
        return {}


def _api_message(data: Any) -> str:
    """GitHub's ``message`` and ``errors[].message``, or GitLab's ``message``/``error``."""
    if not isinstance(data, dict):
        return ""
    parts: list[str] = []
    for key in ("message", "error"):
        value = data.get(key)
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            parts.extend(str(v) for v in value)
        elif isinstance(value, dict):
            for name, items in value.items():
                items = items if isinstance(items, list) else [items]
                parts.append(f"{name} {', '.join(str(v) for v in items)}")
    for error in data.get("errors") or ():
        if isinstance(error, dict) and error.get("message"):
            parts.append(str(error["message"]))
        elif isinstance(error, str):
            parts.append(error)
    return "; ".join(parts)[:300]
