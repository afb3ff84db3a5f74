"""``publish:github:pull-request`` and ``publish:gitlab:merge-request`` on the native engine.

GitHub's and GitLab's REST APIs are played by a small server on loopback that follows their
published contracts (the token header, the paths, ``201`` bodies, ``422``/``409`` refusals);
the repositories behind them are real bare git repositories in a temp dir, so the branch push
is a real push. Everything else is Callboard as it runs: the CLI, the scaffolder service, the
render child running the steps, and the pull request opened while that child waits.
"""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from adapters.cli import main as cli_main
from bot.chat import DialogErrors, Reply
from tests.conftest import DEMO, AppFactory
from tests.integration.test_scaffold import Recorder, open_dialog, scaffold_app, submit
from tests.integration.test_v1beta3_parity import scaffolder_url

__all__ = ["scaffolder_url"]  # the parity tests' session fixture: Backstage's scaffolder

ANA = "ana.silva@acme-rides.example"  # team-payments
TOKEN = "tok-7c1e-pr-secret"
TOKEN_ENV = "CB_TEST_PR_TOKEN"


USER_IDS = {"ana.silva": 101, "bo.chen": 102}  # GitLab users the fake knows


class FakeHostAPI(ThreadingHTTPServer):
    """GitHub's pulls API or GitLab's merge requests API over bare repositories on disk."""

    daemon_threads = True

    def __init__(self, kind: str, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.kind = kind
        self.root = root
        self.calls: list[tuple[str, str, dict[str, str], Any]] = []
        self.opened: list[dict[str, Any]] = []  # the requests opened, as the API stored them
        self.review_requests: list[dict[str, Any]] = []  # GitHub's requested_reviewers calls

    @property
    def api_url(self) -> str:
        base = f"http://127.0.0.1:{self.server_address[1]}"
        return base if self.kind == "github" else f"{base}/api/v4"

    def repo(self, owner: str, name: str) -> Path:
        return self.root / owner / f"{name}.git"

    def make_repo(self, owner: str, name: str) -> Path:
        """A bare repository whose main branch holds a README and one service."""
        bare = self.repo(owner, name)
        seed = self.root / f"seed-{owner}-{name}"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
        subprocess.run(["git", "init", "-q", "-b", "main", str(seed)], check=True)
        (seed / "README.md").write_text("the platform monorepo\n")
        (seed / "services" / "ledger").mkdir(parents=True)
        (seed / "services" / "ledger" / "app.py").write_text("print('ledger')\n")
        ident = ["-c", "user.name=Seed", "-c", "user.email=seed@example.test"]
        subprocess.run(["git", "-C", str(seed), "add", "-A"], check=True)
        subprocess.run(["git", "-C", str(seed), *ident, "commit", "-qm", "seed"], check=True)
        subprocess.run(["git", "-C", str(seed), "push", "-q", str(bare), "main"], check=True)
        return bare


class _Handler(BaseHTTPRequestHandler):
    server: FakeHostAPI

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _route(self, method: str) -> None:
        api = self.server
        path = urllib.parse.urlsplit(self.path).path
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.loads(raw) if raw else None
        api.calls.append((method, path, dict(self.headers), body))
        if api.kind == "github":
            self._github(method, path, body)
        else:
            self._gitlab(method, path, body)

    # GitHub: GET /repos/{owner}/{repo}, POST /repos/{owner}/{repo}/pulls
    def _github(self, method: str, path: str, body: Any) -> None:
        api = self.server
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._json(401, {"message": "Bad credentials"})
        parts = path.strip("/").split("/")
        if len(parts) < 3 or parts[0] != "repos" or not api.repo(parts[1], parts[2]).exists():
            return self._json(404, {"message": "Not Found"})
        owner, name, bare = parts[1], parts[2], api.repo(parts[1], parts[2])
        if method == "GET" and len(parts) == 3:
            return self._json(
                200,
                {
                    "full_name": f"{owner}/{name}",
                    "default_branch": "main",
                    "clone_url": bare.as_uri(),
                    "html_url": f"https://github.example/{owner}/{name}",
                },
            )
        if (
            method == "POST"
            and len(parts) == 6
            and parts[3] == "pulls"
            and parts[5] == ("requested_reviewers")
        ):
            if "hangup" in body.get("reviewers", []):  # the connection drops, no answer
                self.close_connection = True
                self.connection.shutdown(2)
                return None
            if "ghost" in body.get("reviewers", []):
                return self._json(
                    422,
                    {
                        "message": "Reviews may only be requested from collaborators. One or "
                        "more of the users or teams you specified is not a collaborator of the "
                        f"{owner}/{name} repository."
                    },
                )
            api.review_requests.append({"number": int(parts[4]), **body})
            return self._json(
                201,
                {
                    "number": int(parts[4]),
                    "requested_reviewers": [{"login": u} for u in body.get("reviewers", [])],
                    "requested_teams": [{"slug": t} for t in body.get("team_reviewers", [])],
                },
            )
        if method == "POST" and parts[3:] == ["pulls"]:
            missing = [k for k in ("title", "head", "base") if not body.get(k)]
            if missing or not _branch_exists(bare, body["head"]):
                return self._json(
                    422,
                    {
                        "message": "Validation Failed",
                        "errors": [{"resource": "PullRequest", "field": "head", "code": "invalid"}],
                    },
                )
            if any(pr["head"] == body["head"] for pr in api.opened):
                return self._json(
                    422,
                    {
                        "message": "Validation Failed",
                        "errors": [
                            {
                                "resource": "PullRequest",
                                "code": "custom",
                                "message": f"A pull request already exists for "
                                f"{owner}:{body['head']}.",
                            }
                        ],
                    },
                )
            number = 7 + len(api.opened)
            pr = {
                **body,
                "number": number,
                "html_url": f"https://github.example/{owner}/{name}/pull/{number}",
                "state": "open",
            }
            api.opened.append(pr)
            return self._json(201, pr)
        self._json(404, {"message": "Not Found"})

    # GitLab: GET /api/v4/projects/{id}, POST /api/v4/projects/{id}/merge_requests
    def _gitlab(self, method: str, path: str, body: Any) -> None:
        api = self.server
        if self.headers.get("PRIVATE-TOKEN") != TOKEN:
            return self._json(401, {"message": "401 Unauthorized"})
        if method == "GET" and path == "/api/v4/users":
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            username = query.get("username", [""])[0]
            if username == "hangup":  # the connection drops, no answer
                self.close_connection = True
                self.connection.shutdown(2)
                return None
            return self._json(200, [{"id": USER_IDS[username]}] if username in USER_IDS else [])
        prefix = "/api/v4/projects/"
        if not path.startswith(prefix):
            return self._json(404, {"message": "404 Not Found"})
        project, _, rest = path[len(prefix) :].partition("/")
        full = urllib.parse.unquote(project)
        owner, _, name = full.rpartition("/")
        ident = 42 if full in ("platform/monorepo", "42") else None
        if ident == 42:
            owner, name = "platform", "monorepo"
        bare = api.repo(owner, name)
        if ident is None or not bare.exists():
            return self._json(404, {"message": "404 Project Not Found"})
        if method == "GET" and not rest:
            return self._json(
                200,
                {
                    "id": 42,
                    "path_with_namespace": "platform/monorepo",
                    "default_branch": "main",
                    "http_url_to_repo": bare.as_uri(),
                    "web_url": "https://gitlab.example/platform/monorepo",
                },
            )
        if method == "POST" and rest == "merge_requests":
            if not _branch_exists(bare, body.get("source_branch", "")):
                return self._json(400, {"message": ["Source branch does not exist"]})
            if any(mr["source_branch"] == body["source_branch"] for mr in api.opened):
                return self._json(
                    409,
                    {
                        "message": [
                            "Another open merge request already exists for this source branch: !1"
                        ]
                    },
                )
            iid = 1 + len(api.opened)
            mr = {
                **body,
                "iid": iid,
                "project_id": 42,
                "web_url": f"https://gitlab.example/platform/monorepo/-/merge_requests/{iid}",
            }
            api.opened.append(mr)
            return self._json(201, mr)
        self._json(404, {"message": "404 Not Found"})

    def _json(self, status: int, data: Any) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def _branch_exists(bare: Path, branch: str) -> bool:
    done = subprocess.run(
        ["git", "--git-dir", str(bare), "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def ls_tree(bare: Path, branch: str) -> list[str]:
    out = subprocess.run(
        ["git", "--git-dir", str(bare), "ls-tree", "-r", "--name-only", branch],
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(out.stdout.split())


def show(bare: Path, spec: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(bare), "show", spec], capture_output=True, text=True, check=True
    ).stdout


HOSTS = {"github": "github.example", "gitlab": "gitlab.example"}


def template(kind: str) -> str:
    """A template proposing a new service to an existing monorepo, then using the request's
    outputs in a later step and in ``output``."""
    host = HOSTS[kind]
    if kind == "github":
        step = """\
    - id: pr
      name: Open the pull request
      action: publish:github:pull-request
      input:
        repoUrl: ${{ parameters.repoUrl }}
        branchName: add-${{ parameters.name }}
        title: Add ${{ parameters.name }}
        description: Adds the ${{ parameters.name }} service.
        sourcePath: ./proposal
        targetPath: services/${{ parameters.name }}
        draft: true
        filesToDelete: [../ledger/app.py, gone.txt]
"""
        url, number = "remoteUrl", "${{ steps.pr.output.pullRequestNumber }}"
    else:
        step = """\
    - id: pr
      name: Open the merge request
      action: publish:gitlab:merge-request
      input:
        repoUrl: ${{ parameters.repoUrl }}
        branchName: add-${{ parameters.name }}
        title: Add ${{ parameters.name }}
        description: Adds the ${{ parameters.name }} service.
        sourcePath: ./proposal
        targetPath: services/${{ parameters.name }}
        removeSourceBranch: true
"""
        url, number = "mergeRequestUrl", "${{ steps.pr.output.projectid }}"
    return f"""\
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {{name: add-service-{kind}, title: Add a service ({kind})}}
spec:
  owner: team-payments
  type: service
  parameters:
    - title: Where
      required: [name, repoUrl]
      properties:
        name: {{type: string, title: Name, ui:field: EntityNamePicker}}
        repoUrl:
          type: string
          title: Repository
          ui:field: RepoUrlPicker
          ui:options: {{allowedHosts: [{host}]}}
  steps:
    - id: fetch
      name: Fetch the skeleton
      action: fetch:template
      input:
        url: ./skeleton
        targetPath: ./proposal
        values: {{name: "${{{{ parameters.name }}}}"}}
{step}
    - id: note
      name: Note the request
      action: catalog:write
      input:
        filePath: request.yaml
        entity:
          apiVersion: backstage.io/v1alpha1
          kind: Component
          metadata:
            name: ${{{{ parameters.name }}}}
            annotations:
              callboard.test/request: ${{{{ steps.pr.output.{url} }}}}
          spec: {{type: service, lifecycle: experimental, owner: team-payments}}
  output:
    links:
      - title: Go to the request
        url: ${{{{ steps.pr.output.{url} }}}}
    text:
      - title: Request
        content: "{number} into ${{{{ steps.pr.output.targetBranchName }}}}"
"""


def _serve(kind: str, tmp_path: Path) -> Iterator[FakeHostAPI]:
    server = FakeHostAPI(kind, tmp_path / "host")
    server.make_repo("acme" if kind == "github" else "platform", "monorepo")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(params=["github", "gitlab"])
def host_api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FakeHostAPI]:
    yield from _serve(request.param, tmp_path)


@pytest.fixture
def github_api(tmp_path: Path) -> Iterator[FakeHostAPI]:
    yield from _serve("github", tmp_path)


def write_template(tmp_path: Path, kind: str) -> Path:
    folder = tmp_path / "templates" / kind
    (folder / "skeleton").mkdir(parents=True)
    (folder / "skeleton" / "app.py").write_text("print('${{ values.name }}')\n")
    (folder / "skeleton" / "README.md").write_text("# ${{ values.name }}\n")
    (folder / "template.yaml").write_text(template(kind))
    return folder


def write_config(tmp_path: Path, kind: str, hosts: list[dict[str, Any]]) -> Path:
    folder = write_template(tmp_path, kind)
    path = tmp_path / "callboard.yaml"
    path.write_text(
        json.dumps(
            {
                "data_dir": str(tmp_path / "var"),
                "database": {"url": f"sqlite:///{tmp_path / 'cb.db'}"},
                "catalog": {
                    "sources": [
                        {"type": "file", "name": "demo", "target": str(DEMO)},
                        {"type": "file", "name": "tpl", "target": str(folder / "template.yaml")},
                    ]
                },
                "console": {"user_email": ANA},
                "scaffold": {
                    "publish": {"remote": f"file://{tmp_path}/git/{{name}}.git"},
                    "hosts": hosts,
                },
            }
        )
    )
    return path


def with_inputs(tmp_path: Path, kind: str, lines: str) -> None:
    """Give the template's request step more inputs (YAML lines, after its title)."""
    path = tmp_path / "templates" / kind / "template.yaml"
    indented = "".join(f"        {line}\n" for line in lines.splitlines())
    path.write_text(
        path.read_text().replace(
            "title: Add ${{ parameters.name }}\n",
            f"title: Add ${{{{ parameters.name }}}}\n{indented}",
            1,
        )
    )


def configured(api: FakeHostAPI) -> list[dict[str, Any]]:
    return [
        {"host": HOSTS[api.kind], "type": api.kind, "api_url": api.api_url, "token_env": TOKEN_ENV}
    ]


def scaffold(
    config: Path, kind: str, tmp_path: Path, name: str = "payouts", *extra: str
) -> tuple[int, str]:
    owner = "acme" if kind == "github" else "platform"
    values = tmp_path / "values.json"
    values.write_text(
        json.dumps({"name": name, "repoUrl": f"{HOSTS[kind]}?owner={owner}&repo=monorepo"})
    )
    args = ["scaffold", f"add-service-{kind}", "--values", str(values), *extra]
    code = cli_main(["--config", str(config), *args])
    return code, ""


def test_the_request_is_pushed_opened_and_its_url_reaches_later_steps_and_the_output(
    host_api: FakeHostAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    kind = host_api.kind
    config = write_config(tmp_path, kind, configured(host_api))
    out_dir = tmp_path / "out"
    code, _ = scaffold(config, kind, tmp_path, "payouts", "--output", str(out_dir))
    printed = capsys.readouterr()
    assert code == 0, printed.out
    owner = "acme" if kind == "github" else "platform"
    bare = host_api.repo(owner, "monorepo")
    # The branch is real: the target branch's files and the proposal under targetPath.
    expected = [
        "README.md",
        "services/ledger/app.py",
        "services/payouts/README.md",
        "services/payouts/app.py",
    ]
    if kind == "github":  # filesToDelete, joined to targetPath as Backstage joins them
        expected.remove("services/ledger/app.py")
    assert ls_tree(bare, "add-payouts") == expected
    assert show(bare, "add-payouts:services/payouts/app.py") == "print('payouts')\n"
    assert ls_tree(bare, "main") == ["README.md", "services/ledger/app.py"]  # untouched
    [opened] = host_api.opened
    if kind == "github":
        url = "https://github.example/acme/monorepo/pull/7"
        assert (opened["title"], opened["head"], opened["base"]) == (
            "Add payouts",
            "add-payouts",
            "main",
        )
        assert opened["draft"] is True and opened["body"] == "Adds the payouts service."
        assert "7 into main" in printed.out  # the output's text, with the real number
    else:
        url = "https://gitlab.example/platform/monorepo/-/merge_requests/1"
        assert (opened["title"], opened["source_branch"], opened["target_branch"]) == (
            "Add payouts",
            "add-payouts",
            "main",
        )
        assert opened["remove_source_branch"] is True
        assert "platform/monorepo into main" in printed.out
    # the output's link is the request the fake API made
    assert url in printed.out
    # a later step rendered the request's real URL (the workspace, written by --output)
    assert f"callboard.test/request: {url}" in (out_dir / "request.yaml").read_text()
    # progress said what happened as it happened
    assert "opening the " in printed.err and f"on {HOSTS[kind]}…" in printed.err
    # the token went only in a header: never in a URL, the output, the remote's config
    for _method, path, headers, _body in host_api.calls:
        assert TOKEN not in path
        assert headers.get("Authorization", headers.get("Private-Token")) is not None
    assert TOKEN not in printed.out + printed.err
    assert TOKEN not in (bare / "config").read_text()
    assert not (tmp_path / "git").exists()  # no new repository: only the request


def test_a_host_that_is_not_configured_fails_the_run_naming_host_and_key(
    host_api: FakeHostAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    kind = host_api.kind
    config = write_config(tmp_path, kind, [])
    code, _ = scaffold(config, kind, tmp_path)
    out = capsys.readouterr().out
    assert code != 0
    action = "publish:github:pull-request" if kind == "github" else "publish:gitlab:merge-request"
    assert f"{action} opens a request on {HOSTS[kind]}, which has no API configured" in out
    assert "scaffold.hosts" in out
    assert host_api.calls == [] and host_api.opened == []
    owner = "acme" if kind == "github" else "platform"
    assert not _branch_exists(host_api.repo(owner, "monorepo"), "add-payouts")


def test_a_template_cannot_send_the_request_to_another_repository_than_the_users(
    host_api: FakeHostAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    kind = host_api.kind
    config = write_config(tmp_path, kind, configured(host_api))
    owner = "acme" if kind == "github" else "platform"
    host_api.make_repo(owner, "payroll")
    path = tmp_path / "templates" / kind / "template.yaml"
    sneaky = f"repoUrl: {HOSTS[kind]}?owner={owner}&repo=payroll"
    path.write_text(path.read_text().replace("repoUrl: ${{ parameters.repoUrl }}", sneaky))
    code, _ = scaffold(config, kind, tmp_path)  # the user chose monorepo
    out = " ".join(capsys.readouterr().out.split())
    assert code != 0
    assert (
        f"goes to {HOSTS[kind]}?owner={owner}&repo=payroll, not to the repository you chose "
        f"({HOSTS[kind]}?owner={owner}&repo=monorepo); refused"
    ) in out
    assert host_api.calls == []
    assert not _branch_exists(host_api.repo(owner, "payroll"), "add-payouts")


def test_a_step_failing_after_the_request_says_the_request_stays_open(
    github_api: FakeHostAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    config = write_config(tmp_path, "github", configured(github_api))
    path = tmp_path / "templates" / "github" / "template.yaml"
    path.write_text(path.read_text().replace("action: catalog:write", "action: fs:rename"))
    code, _ = scaffold(config, "github", tmp_path)
    out = " ".join(capsys.readouterr().out.split())
    assert code != 0
    assert "step note failed: files must be an Array" in out
    url = "https://github.example/acme/monorepo/pull/7"
    assert f"the pull request {url} was opened and stays open" in out


def test_a_run_opens_a_bounded_number_of_requests(
    github_api: FakeHostAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.scaffold.native import MAX_REQUESTS

    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    config = write_config(tmp_path, "github", configured(github_api))
    path = tmp_path / "templates" / "github" / "template.yaml"
    items = list(range(MAX_REQUESTS + 1))
    path.write_text(
        path.read_text()
        .replace(
            "action: publish:github:pull-request",
            f"action: publish:github:pull-request\n      each: {items}",
        )
        .replace("branchName: add-${{ parameters.name }}", "branchName: add-${{ each.value }}")
    )
    code, _ = scaffold(config, "github", tmp_path)
    out = " ".join(capsys.readouterr().out.split())
    assert code != 0
    assert f"a run opens at most {MAX_REQUESTS} pull or merge requests" in out
    assert len(github_api.opened) == MAX_REQUESTS


def test_a_missing_token_names_the_variable(
    host_api: FakeHostAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    config = write_config(tmp_path, host_api.kind, configured(host_api))
    code, _ = scaffold(config, host_api.kind, tmp_path)
    out = capsys.readouterr().out
    assert code != 0
    assert f"set the environment variable {TOKEN_ENV} (scaffold.hosts)" in out
    assert host_api.calls == []


def test_the_apis_refusal_is_named_in_the_reply(
    host_api: FakeHostAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    kind = host_api.kind
    config = write_config(tmp_path, kind, configured(host_api))
    # someone already has an open request from that branch name
    host_api.opened.append({"head": "add-payouts", "source_branch": "add-payouts"})
    code, _ = scaffold(config, kind, tmp_path)
    out = capsys.readouterr().out
    assert code != 0
    flat = " ".join(out.split())
    if kind == "github":
        assert (
            "GitHub answered 422 opening the pull request add-payouts → main: Validation "
            "Failed; A pull request already exists for acme:add-payouts." in flat
        )
    else:
        assert (
            "GitLab answered 409 opening the merge request add-payouts → main: Another open "
            "merge request already exists for this source branch: !1" in flat
        )
    assert "the branch add-payouts was pushed and is left in place" in flat
    assert "nothing was registered in the catalog" in flat


def test_a_refused_token_is_named_without_showing_it(
    host_api: FakeHostAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "not-the-token")
    config = write_config(tmp_path, host_api.kind, configured(host_api))
    code, _ = scaffold(config, host_api.kind, tmp_path)
    out = " ".join(capsys.readouterr().out.split())
    assert code != 0
    assert f"refused the token in {TOKEN_ENV}" in out and "(401" in out
    assert "not-the-token" not in out


def test_a_dry_run_opens_nothing(
    host_api: FakeHostAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    kind = host_api.kind
    config = write_config(tmp_path, kind, configured(host_api))
    code, _ = scaffold(config, kind, tmp_path, "payouts", "--dry-run")
    out = capsys.readouterr().out
    assert code == 0, out
    assert host_api.calls == [] and host_api.opened == []
    if kind == "github":
        # Backstage's dry run of this action: the repoUrl as remoteUrl, number 43
        assert "github.example?owner=acme&repo=monorepo" in out
        assert "43 into add-payouts" in " ".join(out.split())
    else:  # Backstage's merge request action has no dry run: skipped, example outputs
        assert "<example> into <example>" in " ".join(out.split())


async def test_in_chat_the_dialog_asks_the_repository_and_the_reply_links_the_request(
    make_app: AppFactory,
    host_api: FakeHostAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    kind = host_api.kind
    folder = write_template(tmp_path, kind)
    app = scaffold_app(
        make_app,
        tmp_path,
        sources=[{"type": "file", "name": "tpl", "target": str(folder / "template.yaml")}],
        hosts=configured(host_api),
    )
    dialog = await open_dialog(app, f"/scaffold add-service-{kind}")
    fields = {f.name: f for f in dialog.fields}
    # the repository the request goes to is the user's to name (not the publish target)
    assert "repoUrl" in fields and fields["repoUrl"].required
    owner = "acme" if kind == "github" else "platform"
    wrong = await submit(
        app,
        dialog,
        {"name": "payouts", "repoUrl": f"elsewhere.example?owner={owner}&repo=monorepo"},
    )
    assert isinstance(wrong, DialogErrors)
    assert (
        wrong.errors["repoUrl"] == f"must be a repository on {HOSTS[kind]}, not elsewhere.example"
    )
    vague = await submit(app, dialog, {"name": "payouts", "repoUrl": HOSTS[kind]})
    assert isinstance(vague, DialogErrors) and "host?owner=...&repo=..." in vague.errors["repoUrl"]
    progress = Recorder()
    reply = await submit(
        app,
        dialog,
        {"name": "payouts", "repoUrl": f"{HOSTS[kind]}?owner={owner}&repo=monorepo"},
        progress=progress,
    )
    assert isinstance(reply, Reply) and not reply.error, reply.to_text()
    [opened] = host_api.opened
    url = opened.get("html_url") or opened.get("web_url")
    assert url in [link.url for link in reply.links]
    assert f"opened {'pull' if kind == 'github' else 'merge'} request {url}" in reply.text
    what = "pull request" if kind == "github" else "merge request"
    assert any(f"opening the {what} on {HOSTS[kind]}…" in line for line in progress.lines)
    assert TOKEN not in reply.to_text()


@pytest.fixture
def peer_url(request: pytest.FixtureRequest) -> str:
    """Backstage's scaffolder (the peer the parity tests start, once per session)."""
    url: str = request.getfixturevalue("scaffolder_url")
    return url


def test_hosts_config_errors_name_the_key(tmp_path: Path) -> None:
    from bot.config import ConfigError, Section
    from bot.scaffold.settings import parse_scaffold

    def parse(hosts: Any) -> Any:
        return parse_scaffold(Section({"hosts": hosts}, "scaffold", tmp_path / "c.yaml", tmp_path))

    with pytest.raises(ConfigError, match=r"scaffold\.hosts\[0\]\.token is a secret"):
        parse([{"host": "github.com", "token": "ghp_x"}])
    with pytest.raises(ConfigError, match=r"scaffold\.hosts\[0\]\.type must be github or gitlab"):
        parse([{"host": "git.example.com"}])
    with pytest.raises(ConfigError, match=r"scaffold\.hosts\[1\]\.host lists github\.com twice"):
        parse([{"host": "github.com"}, {"host": "GitHub.com"}])
    cfg = parse([{"host": "github.com"}, {"host": "gitlab.example.com", "token_env": "GL"}])
    github, gitlab = cfg.hosts
    assert (github.type, github.api_url, github.token_env) == (
        "github",
        "https://api.github.com",
        "GITHUB_TOKEN",
    )
    assert (gitlab.type, gitlab.api_url, gitlab.token_env) == (
        "gitlab",
        "https://gitlab.example.com/api/v4",
        "GL",
    )


def test_a_dry_run_matches_backstages(peer_url: str, tmp_path: Path) -> None:
    """Backstage's own dry run of the same template (the peer): the same files, links and
    text, with the pull request step's dry-run outputs and the merge request step skipped."""
    from tests.integration.test_v1beta3_parity import backstage, callboard, files_of, stage

    template, values = stage("own", "requests", tmp_path)
    for path in template.parent.rglob("*"):
        if path.is_file():
            path.chmod(0o644)
    values_file = tmp_path / "values.json"
    values_file.write_text(json.dumps(values))
    theirs = backstage(peer_url, template, values_file, tmp_path / "backstage")
    ours = callboard(tmp_path, template, values_file, tmp_path / "callboard")
    mine = files_of(tmp_path / "callboard", "callboard-requests")
    assert mine == files_of(tmp_path / "backstage")
    output = theirs.get("output") or {}
    links = [(link["title"], link["url"]) for link in output.get("links") or ()]
    assert [(link["title"], link["url"]) for link in ours["links"]] == links
    shown = {(s["title"], tuple(s["items"])) for s in ours["sections"]}
    [text] = output.get("text") or ()
    assert (text["title"], (text["content"],)) in shown
    # what both gave: the pull request's dry-run outputs, the merge request skipped
    assert text["content"] == ("PR 43 into add-payouts; MR <example> <example> <example>")
    assert links == [("Pull request", "github.com?owner=acme&repo=monorepo")]
    assert mine["after.md"][0] == b"# 43 add-payouts\n"  # a later step saw the outputs


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"targetPath": "../outside"}, "targetPath '../outside' must stay in the repository"),
        ({"targetPath": ".git/hooks"}, "targetPath '.git/hooks' must stay in the repository"),
        ({"filesToDelete": ["../../../x"]}, "filesToDelete names '../../../x', which is not"),
        ({"branchName": "../main"}, "input branchName is not a valid branch name"),
        ({"repoUrl": "github.example/acme/monorepo"}, "must be host?owner=...&repo=..."),
    ],
)
def test_what_a_template_names_stays_in_the_repository(
    github_api: FakeHostAPI, tmp_path: Path, change: dict[str, Any], refusal: str
) -> None:
    from bot.scaffold.native import LiveError, LiveRequest
    from bot.scaffold.pull_requests import PullRequests
    from bot.scaffold.settings import HostAPI

    files = tmp_path / "files"
    files.mkdir()
    (files / "app.py").write_text("print('x')\n")
    requests = PullRequests(
        [HostAPI("github.example", "github", github_api.api_url, TOKEN_ENV)],
        author_name="Callboard",
        author_email="callboard@localhost",
        environ={TOKEN_ENV: TOKEN},
    )
    inputs = {
        "repoUrl": "github.example?owner=acme&repo=monorepo",
        "branchName": "add-x",
        "title": "Add x",
        "targetPath": "services/x",
        **change,
    }
    with pytest.raises(LiveError) as caught:
        requests.open(LiveRequest("pr", "publish:github:pull-request", inputs, files))
    assert refusal in str(caught.value)
    assert not _branch_exists(github_api.repo("acme", "monorepo"), "add-x")
    assert github_api.opened == []


def test_reviewers_and_assignees_reach_the_request_and_an_unknown_one_is_logged(
    host_api: FakeHostAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """GitHub: ``reviewers``/``teamReviewers`` asked after the request opens (a refusal is
    logged, the request stays); GitLab: ``assignee``/``reviewers`` as user ids, an unknown
    username logged and left out (as Backstage's actions do)."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    kind = host_api.kind
    config = write_config(tmp_path, kind, configured(host_api))
    if kind == "github":
        with_inputs(tmp_path, kind, "reviewers: [ana-s, bo-c]\nteamReviewers: [payments, payments]")
    else:
        with_inputs(tmp_path, kind, "assignee: ana.silva\nreviewers: [bo.chen, nobody.here]")
    code, _ = scaffold(config, kind, tmp_path)
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0, out
    [opened] = host_api.opened
    if kind == "github":
        assert host_api.review_requests == [
            {"number": 7, "reviewers": ["ana-s", "bo-c"], "team_reviewers": ["payments"]}
        ]
    else:
        assert opened["assignee_id"] == 101 and opened["reviewer_ids"] == [102]
        assert (
            "Failed to find gitlab user id for nobody.here: no such user. Proceeding with MR "
            "creation without reviewer." in out
        )
    assert "Callboard ignores the input" not in out


def test_a_refused_review_request_leaves_the_pull_request_open(
    github_api: FakeHostAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    config = write_config(tmp_path, "github", configured(github_api))
    with_inputs(tmp_path, "github", "reviewers: [ghost]")
    code, _ = scaffold(config, "github", tmp_path)
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0, out
    assert len(github_api.opened) == 1 and github_api.review_requests == []
    assert "Failure when adding reviewers to Pull request 7: GitHub answered 422" in out
    assert "https://github.example/acme/monorepo/pull/7" in out


def test_create_when_empty_false_opens_nothing_when_the_files_change_nothing(
    github_api: FakeHostAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    config = write_config(tmp_path, "github", configured(github_api))
    folder = tmp_path / "templates" / "github"
    for stale in (folder / "skeleton").iterdir():
        stale.unlink()
    (folder / "skeleton" / "README.md").write_text("the platform monorepo\n")  # as on main
    text = (folder / "template.yaml").read_text()
    text = text.replace("targetPath: services/${{ parameters.name }}", "targetPath: .")
    text = text.replace("        filesToDelete: [../ledger/app.py, gone.txt]\n", "")
    text = text.replace("draft: true", "draft: true\n        createWhenEmpty: false")
    (folder / "template.yaml").write_text(text)
    code, _ = scaffold(config, "github", tmp_path)
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0, out
    assert github_api.opened == []
    assert not _branch_exists(github_api.repo("acme", "monorepo"), "add-payouts")
    assert "No changes to commit, pull request was not created" in out


def test_a_review_request_that_cannot_reach_github_leaves_the_pull_request_open(
    github_api: FakeHostAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    config = write_config(tmp_path, "github", configured(github_api))
    with_inputs(tmp_path, "github", "reviewers: [hangup]")
    code, _ = scaffold(config, "github", tmp_path)
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0, out
    assert len(github_api.opened) == 1
    assert "Failure when adding reviewers to Pull request 7: cannot reach github.example" in out
    assert "https://github.example/acme/monorepo/pull/7" in out


def test_create_when_empty_false_still_opens_a_request_that_changes_something(
    github_api: FakeHostAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    config = write_config(tmp_path, "github", configured(github_api))
    path = tmp_path / "templates" / "github" / "template.yaml"
    path.write_text(
        path.read_text().replace("draft: true", "draft: true\n        createWhenEmpty: false")
    )
    code, _ = scaffold(config, "github", tmp_path)
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0, out
    assert len(github_api.opened) == 1
    assert ls_tree(github_api.repo("acme", "monorepo"), "add-payouts") == [
        "README.md",
        "services/payouts/README.md",
        "services/payouts/app.py",
    ]
    assert "No changes to commit" not in out


def test_an_input_callboard_does_not_act_on_is_named_in_the_reply(
    github_api: FakeHostAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    config = write_config(tmp_path, "github", configured(github_api))
    with_inputs(tmp_path, "github", "assignees: [ana-s]")
    code, _ = scaffold(config, "github", tmp_path)
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0, out
    assert (
        "Callboard ignores the input assignees of publish:github:pull-request (not supported)"
        in out
    )


@pytest.fixture
def gitlab_api(tmp_path: Path) -> Iterator[FakeHostAPI]:
    yield from _serve("gitlab", tmp_path)


def test_an_unreachable_user_lookup_stops_the_lookups_and_the_merge_request_goes_ahead(
    gitlab_api: FakeHostAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each lookup may wait out the API timeout: after the first that cannot reach GitLab,
    the rest are not tried (one warning names them all), and the request is opened."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    config = write_config(tmp_path, "gitlab", configured(gitlab_api))
    with_inputs(tmp_path, "gitlab", "reviewers: [bo.chen, hangup, ana.silva]")
    code, _ = scaffold(config, "gitlab", tmp_path)
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0, out
    looked_up = [path for method, path, _h, _b in gitlab_api.calls if path == "/api/v4/users"]
    assert len(looked_up) == 2  # bo.chen, then hangup; ana.silva not tried
    [opened] = gitlab_api.opened
    assert opened["reviewer_ids"] == [102]
    assert "Failed to find gitlab user id for hangup, ana.silva: cannot reach" in out
