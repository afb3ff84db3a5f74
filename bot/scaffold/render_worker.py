"""Runs cookiecutter in a child process: ``python -I render_worker.py < request.json``.

The parent (``bot.scaffold.render``) starts this with an environment stripped of every secret,
``HOME`` and the temp directory pointing into the job's own folder, and a time limit. It reads
one JSON request from stdin and writes one JSON result to the path the request names (hooks
may print to stdout). Only the standard library and cookiecutter are imported.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def main() -> int:
    request: dict[str, Any] = json.load(sys.stdin)
    result_path = request["result"]
    try:
        from cookiecutter.exceptions import CookiecutterException
        from cookiecutter.main import cookiecutter
        from jinja2 import TemplateError
    except ImportError as exc:
        _write(result_path, {"ok": False, "error": "ImportError", "message": str(exc)})
        return 1
    try:
        derived = _derived_mismatch(request)
        if derived is not None:
            _write(result_path, {"ok": False, "error": "DerivedValue", "message": derived})
            return 1
        project = cookiecutter(
            request["template"],
            no_input=True,
            extra_context=request["context"],
            output_dir=request["output"],
            accept_hooks=request["accept_hooks"],
            # Never ~/.cookiecutterrc; replay files and clones stay in the job's folder.
            default_config={
                "replay_dir": request["replay_dir"],
                "cookiecutters_dir": request["cookiecutters_dir"],
            },
            overwrite_if_exists=False,
        )
    except (CookiecutterException, ValueError, TemplateError, OSError) as exc:
        message = getattr(exc, "message", None) or str(exc)
        inner = getattr(exc, "error", None)
        if inner is not None and str(inner) not in message:
            message = f"{message}: {inner}"
        _write(result_path, {"ok": False, "error": type(exc).__name__, "message": message})
        return 1
    _write(result_path, {"ok": True, "project": project})
    return 0


def _derived_mismatch(request: dict[str, Any]) -> str | None:
    """A value the template works out itself (a default built from other answers) that breaks
    the template's own pattern for it, said as the user should read it; else None.

    The dialog checks what the user typed; a default such as ``{{ cookiecutter.name | ... }}``
    is only known here, where cookiecutter computes it the way it will render it.
    """
    patterns: dict[str, str] = request.get("patterns") or {}
    if not patterns:
        return None
    import os
    import re

    from cookiecutter.generate import generate_context
    from cookiecutter.prompt import prompt_for_config

    context = generate_context(
        context_file=os.path.join(request["template"], "cookiecutter.json"),
        extra_context=request["context"],
    )
    values = prompt_for_config(context, no_input=True)
    for key, pattern in patterns.items():
        value = values.get(key)
        if key in request["context"] or not isinstance(value, str):
            continue  # what the user typed was checked by the dialog
        if re.fullmatch(pattern, value) is None:
            return (
                f"{key} would be “{value}” (worked out from your other answers), which does not "
                f"match the pattern {pattern}; give {key} yourself"
            )
    return None


def _write(path: str, data: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle)


if __name__ == "__main__":
    sys.exit(main())
