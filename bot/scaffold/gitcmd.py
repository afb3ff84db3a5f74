"""Running ``git`` for scaffolding: never prompting, bounded in time, secrets kept out of text.

Credentials reach git only through the environment (``GIT_CONFIG_*`` carrying an
``http.<url>.extraHeader``), never through a URL or an argument, so they appear neither in a
process listing nor in ``.git/config``; every message is scrubbed of them anyway.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


class GitError(Exception):
    """A git command failed; the message holds git's own words (secrets removed)."""


def git_env(
    extra_config: Mapping[str, str] | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"  # fail instead of waiting for a password nobody types
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    for key in [
        k for k in env if k.startswith("GIT_CONFIG_KEY_") or k.startswith("GIT_CONFIG_VALUE_")
    ]:
        del env[key]
    items = list((extra_config or {}).items())
    env["GIT_CONFIG_COUNT"] = str(len(items))
    for i, (key, value) in enumerate(items):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    env.update(extra or {})
    return env


def run_git(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    timeout: float = 120,
    env: Mapping[str, str] | None = None,
    secrets: Sequence[str] = (),
) -> str:
    """Run ``git <args>``; its stdout, or ``GitError`` with its stderr (secrets scrubbed)."""
    command = [
        "git",
        "-c",
        "core.hooksPath=/dev/null",  # nobody's local git hooks run on our commits
        "-c",
        "commit.gpgsign=false",
        "-c",
        "advice.detachedHead=false",
        *args,
    ]
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            env=dict(env) if env is not None else git_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed (the scaffolder needs the git command)") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {args[0]} took longer than {timeout:.0f} s and was stopped") from exc
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
        raise GitError(scrub(f"git {args[0]}: {_last_lines(message)}", secrets))
    return done.stdout


def scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _last_lines(text: str, count: int = 4) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return " / ".join(lines[-count:])
