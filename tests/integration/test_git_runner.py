"""One git runner (bot.git): no hooks, no inherited repository, an allow-list of protocols, and
no secret in any message, for catalog sources, the scaffolder and the docs index alike."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.errors import BotError, GitError
from bot.git import run_git
from bot.scaffold.publish import Publisher, PublishError, Repository
from bot.scaffold.settings import PublishSettings

TOKEN = "ghp_s3cretTOKENvalue1234"


def _repo(path: Path) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "--quiet", str(path)], check=True)
    (path / "README.md").write_text("hello\n")
    return path


def _commit(repo: Path, message: str = "first") -> None:
    run_git(["add", "--all"], cwd=repo)
    run_git(
        ["commit", "--quiet", "-m", message],
        cwd=repo,
        extra_env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
        },
    )


def test_hooks_never_run(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    ran = tmp_path / "hook-ran"
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for where in (repo / ".git" / "hooks", hooks):
        for name in ("pre-commit", "commit-msg", "post-commit", "reference-transaction"):
            hook = where / name
            hook.write_text(f"#!/bin/sh\ntouch {ran}\n")
            hook.chmod(0o755)
    subprocess.run(["git", "-C", str(repo), "config", "core.hooksPath", str(hooks)], check=True)
    _commit(repo)
    assert run_git(["log", "--format=%s"], cwd=repo).strip() == "first"
    assert not ran.exists()


def test_an_inherited_git_dir_or_work_tree_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = _repo(tmp_path / "ours")
    theirs = _repo(tmp_path / "theirs")
    monkeypatch.setenv("GIT_DIR", str(theirs / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(theirs))
    monkeypatch.setenv("GIT_INDEX_FILE", str(theirs / ".git" / "index"))
    top = run_git(["rev-parse", "--show-toplevel"], cwd=ours).strip()
    assert Path(top).resolve() == ours.resolve()
    _commit(ours)
    monkeypatch.delenv("GIT_DIR")
    monkeypatch.delenv("GIT_WORK_TREE")
    monkeypatch.delenv("GIT_INDEX_FILE")
    assert run_git(["rev-list", "--all"], cwd=theirs).strip() == ""  # theirs got no commit


def test_the_scaffolders_push_obeys_the_protocol_allow_list(tmp_path: Path) -> None:
    marker = tmp_path / "ext-ran"
    project = _repo(tmp_path / "project")
    publisher = Publisher(PublishSettings(remote=None), tmp_path, environ={})
    remote = Repository(f"ext::sh -c touch% {marker}", None, False)
    with pytest.raises(PublishError, match="git push"):
        publisher.push(project, remote, "first")
    assert not marker.exists()


def test_a_token_never_appears_in_an_error(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    with pytest.raises(GitError) as caught:
        run_git(["checkout", f"branch-{TOKEN}"], cwd=repo, secrets=[TOKEN])
    assert isinstance(caught.value, BotError)
    assert "did not match" in caught.value.stderr  # git's own words are kept
    assert TOKEN not in str(caught.value) and TOKEN not in caught.value.stderr
    header = {"http.http://127.0.0.1:9/.extraHeader": f"Authorization: Bearer {TOKEN}"}
    with pytest.raises(GitError) as caught:
        run_git(
            ["ls-remote", "--", f"http://user:{TOKEN}@127.0.0.1:9/repo.git"],
            cwd=repo,
            config=header,
            timeout=30,
        )
    assert "127.0.0.1" in str(caught.value)
    assert TOKEN not in str(caught.value) and TOKEN not in caught.value.stderr


def test_the_credentials_reach_git_only_through_its_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repo(tmp_path / "repo")
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")  # an inherited config entry is dropped
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "callboard.inherited")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "inherited")
    shown = run_git(["config", "--get", "callboard.test"], cwd=repo, config={"callboard.test": "x"})
    assert shown.strip() == "x"
    with pytest.raises(GitError):
        run_git(["config", "--get", "callboard.inherited"], cwd=repo)
