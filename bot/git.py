"""Running ``git``: one environment, one secret policy, one error, for every part that uses it.

Catalog sources fetch with it, the scaffolder clones templates and pushes new repositories
with it, and the docs index reads commit dates with it. Every run:

* starts from an environment with no ``GIT_*`` variable but the transport ones
  (``GIT_SSH_COMMAND``, ``GIT_SSH``, ``GIT_SSL_CAINFO``, ``GIT_SSL_CAPATH``,
  ``GIT_PROXY_COMMAND``): an inherited ``GIT_DIR``, ``GIT_WORK_TREE``, ``GIT_INDEX_FILE`` or
  ``GIT_CONFIG_*`` (a git hook's environment, a developer's shell) never redirects it;
* never prompts (``GIT_TERMINAL_PROMPT=0``, no askpass, ssh in batch mode);
* may only speak ``file``, ``git``, ``ssh``, ``http`` and ``https`` (``GIT_ALLOW_PROTOCOL``:
  no ``ext::`` remote runs a command), for a fetch and a push alike;
* runs no hooks (``core.hooksPath=/dev/null``) and signs nothing;
* is bounded in time;
* gets credentials only through ``config`` (``GIT_CONFIG_*`` in its environment, e.g. an
  ``http.<url>.extraHeader``), never in a URL or an argument, so they appear neither in a
  process listing nor in ``.git/config``;
* and every message it produces has URL user-info and the ``secrets`` the caller passes
  replaced by ``***``.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from bot.errors import GitError

ALLOWED_PROTOCOLS: Final = "file:git:ssh:http:https"
# The only GIT_* variables inherited: how to reach a host, never where the repository is.
_KEEP: Final = (
    "GIT_SSH_COMMAND",
    "GIT_SSH",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "GIT_PROXY_COMMAND",
)
_SAFE_CONFIG: Final = (
    "-c",
    "core.hooksPath=/dev/null",  # nobody's hooks run on our commits, fetches or pushes
    "-c",
    "commit.gpgsign=false",
    "-c",
    "advice.detachedHead=false",
    "-c",
    "core.quotepath=off",  # paths as they are, not octal-escaped
)
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s'\"]+)@")
DEFAULT_TIMEOUT: Final = 120.0


def git_env(
    config: Mapping[str, str] | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment every git run gets; ``config`` as ``GIT_CONFIG_*`` entries, ``extra``
    (an author identity, a commit date) on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k in _KEEP}
    for name in ("SSH_ASKPASS", "GIT_ASKPASS"):
        env.pop(name, None)
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GCM_INTERACTIVE="never",
        GIT_ALLOW_PROTOCOL=ALLOWED_PROTOCOLS,
        LC_ALL="C",
        LANGUAGE="C",
    )
    if "GIT_SSH_COMMAND" not in env and "GIT_SSH" not in env:
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
    items = list((config or {}).items())
    env["GIT_CONFIG_COUNT"] = str(len(items))
    for i, (key, value) in enumerate(items):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    for key, value in (extra or {}).items():
        if key.startswith("GIT_") and not key.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_")):
            raise ValueError(f"git_env: {key} would change where or how git runs")
        env[key] = value
    return env


def scrub(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` with URL user-info and each of ``secrets`` replaced by ``***``."""
    text = _URL_USERINFO.sub(_hide_userinfo, text)
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _hide_userinfo(match: re.Match[str]) -> str:
    scheme, userinfo = match.group("scheme"), match.group("userinfo")
    if ":" not in userinfo and not scheme.lower().startswith("http"):
        return match.group(0)  # ssh://git@host: a user name, not a secret
    return f"{scheme}***@"


def run_git(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    config: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    secrets: Sequence[str] = (),
) -> str:
    """Run ``git <args>`` (blocking: call it off the event loop); its standard output.

    ``GitError`` when git fails, is missing or runs out of time; its text is scrubbed of
    URL user-info, ``secrets`` and the values in ``config``, and ``.stderr`` holds all of
    git's (scrubbed) error output for callers that explain it.
    """
    hidden = (*secrets, *(config or {}).values())
    verb = args[0] if args else "git"
    try:
        done = subprocess.run(
            ["git", *_SAFE_CONFIG, *args],
            cwd=cwd,
            env=git_env(config, extra_env),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed (no `git` on PATH)") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {verb} took longer than {timeout:.0f} s and was stopped") from None
    if done.returncode != 0:
        stderr = scrub((done.stderr or done.stdout).decode("utf-8", "replace").strip(), hidden)
        lines = [line for line in stderr.splitlines() if line.strip()]
        shown = " / ".join(lines[-4:]) if lines else f"exit status {done.returncode}"
        raise GitError(f"git {verb}: {shown}", stderr=stderr, returncode=done.returncode)
    return done.stdout.decode("utf-8", "surrogateescape")
