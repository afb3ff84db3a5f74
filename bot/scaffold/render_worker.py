"""Renders a template in a child process: ``python -I render_worker.py < request.json``.

The parent (``bot.scaffold.render``) starts this with an environment stripped of every secret,
``HOME`` and the temp directory pointing into the job's own folder, and a time limit. It reads
one JSON request from stdin and writes one JSON result to the path the request names (hooks
may print to stdout). A v1beta3 run prints each step as it begins (``{"step": name}``) and,
for a pull or merge request step, ``{"live": {...}}``, then reads the bot's answer (one JSON
line) from stdin.

- An untrusted template (``"sandbox": true``) is rendered by ``bot.scaffold.sandbox`` in a
  Jinja sandbox, never by cookiecutter's unsandboxed engine; a trusted one by cookiecutter
  (its hooks and extensions are reviewed code).
- Either way, every output path is rendered and checked first (``sandbox.plan``): nothing is
  written when one would leave the job folder.
- Started as root with ``"run_as": [uid, gid]``, the child drops to that user once its
  modules are imported and before any template text is read, so that template code (or a
  sandbox escape) cannot read the bot's files or ``/proc/<bot>/environ``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def main() -> int:
    # One line (the v1beta3 engine's parent keeps stdin open to answer pull requests).
    request: dict[str, Any] = json.loads(sys.stdin.readline())
    result_path = request["result"]
    if request.get("engine") == "v1beta3":
        return _main_v1beta3(request, result_path)
    try:
        from cookiecutter.exceptions import CookiecutterException
        from cookiecutter.generate import generate_context
        from cookiecutter.main import cookiecutter
        from cookiecutter.prompt import prompt_for_config
        from jinja2 import TemplateError

        from bot.scaffold import sandbox
    except ImportError as exc:
        _write(result_path, {"ok": False, "error": "ImportError", "message": str(exc)})
        return 1
    if request.get("run_as"):
        _preload()
    try:
        _drop_privileges(request.get("run_as"))
    except OSError as exc:
        _write(
            result_path,
            {"ok": False, "error": "PrivilegeDrop", "message": f"cannot drop privileges: {exc}"},
        )
        return 1
    if request.get("sandbox"):
        _limit_memory()
    template = request["template"]
    context = request["context"]
    output = request["output"]
    try:
        if request.get("sandbox"):
            derived = _derived_mismatch(request, sandbox.load_context, _sandbox_values(sandbox))
            if derived is not None:
                _write(result_path, {"ok": False, "error": "DerivedValue", "message": derived})
                return 1
            project = sandbox.generate(template, context, output)
        else:

            def trusted_values(full: dict[str, Any]) -> Any:
                return prompt_for_config(full, no_input=True)

            def trusted_context(path: str, extra: dict[str, Any]) -> dict[str, Any]:
                return dict(
                    generate_context(
                        context_file=os.path.join(path, "cookiecutter.json"), extra_context=extra
                    )
                )

            derived = _derived_mismatch(request, trusted_context, trusted_values)
            if derived is not None:
                _write(result_path, {"ok": False, "error": "DerivedValue", "message": derived})
                return 1
            _check_trusted_paths(sandbox, trusted_context, template, context, output)
            project = cookiecutter(
                template,
                no_input=True,
                extra_context=context,
                output_dir=output,
                accept_hooks=request["accept_hooks"],
                # Never ~/.cookiecutterrc; replay files and clones stay in the job's folder.
                default_config={
                    "replay_dir": request["replay_dir"],
                    "cookiecutters_dir": request["cookiecutters_dir"],
                },
                overwrite_if_exists=False,
            )
    except sandbox.SandboxError as exc:
        _write(result_path, {"ok": False, "error": "SandboxError", "message": str(exc)})
        return 1
    except (CookiecutterException, ValueError, TemplateError, OSError) as exc:
        message = getattr(exc, "message", None) or str(exc)
        inner = getattr(exc, "error", None)
        if inner is not None and str(inner) not in message:
            message = f"{message}: {inner}"
        _write(result_path, {"ok": False, "error": type(exc).__name__, "message": message})
        return 1
    except Exception as exc:  # reported as a failed render, never a silent exit
        _write(result_path, {"ok": False, "error": type(exc).__name__, "message": str(exc)})
        return 1
    _write(result_path, {"ok": True, "project": project})
    return 0


def _main_v1beta3(request: dict[str, Any], result_path: str) -> int:
    """A Backstage v1beta3 Template's steps, run by Callboard's native engine: the same
    privilege drop and memory bound, without loading cookiecutter unless a step needs it."""
    try:
        from binaryornot.check import is_binary  # noqa: F401  (loaded before the drop)

        from bot.scaffold.v1beta3 import engine
    except ImportError as exc:
        _write(result_path, {"ok": False, "error": "ImportError", "message": str(exc)})
        return 1
    if request.get("run_as"):
        steps = (request["run"].get("template") or {}).get("spec", {}).get("steps") or ()
        if any(isinstance(s, dict) and s.get("action") == "fetch:cookiecutter" for s in steps):
            # what the cookiecutter sandbox loads, while the interpreter is still readable
            from cookiecutter.generate import generate_context  # noqa: F401
            from cookiecutter.main import cookiecutter  # noqa: F401
            from cookiecutter.prompt import prompt_for_config  # noqa: F401
        _preload()
    try:
        _drop_privileges(request.get("run_as"))
    except OSError as exc:
        _write(
            result_path,
            {"ok": False, "error": "PrivilegeDrop", "message": f"cannot drop privileges: {exc}"},
        )
        return 1
    _limit_memory()

    def on_step(name: str) -> None:
        print(json.dumps({"step": name}), flush=True)  # read by the bot as it happens

    def live(ask: dict[str, Any]) -> dict[str, Any]:
        print(json.dumps({"live": ask}), flush=True)  # the bot opens the request...
        line = sys.stdin.readline()  # ...and answers on one line
        try:
            answer = json.loads(line) if line else None
        except ValueError:
            answer = None
        return answer if isinstance(answer, dict) else {"error": "the bot gave no answer"}

    try:
        result = engine.run(request["run"], on_step, live)
    except Exception as exc:  # reported as a failed run, never a silent exit
        _write(result_path, {"ok": False, "error": type(exc).__name__, "message": str(exc)})
        return 1
    _write(result_path, {"ok": True, "run": result})
    return 0


def _preload() -> None:
    """Load what rendering loads lazily (codecs, data files, extension modules), while the
    interpreter's files are still readable: after the privilege drop they may not be (a
    Python under /root)."""
    import encodings
    import importlib
    import pkgutil
    import tempfile

    for module in pkgutil.iter_modules(encodings.__path__):
        try:
            importlib.import_module(f"encodings.{module.name}")
        except Exception:  # platform codecs (mbcs...) that do not load here
            continue
    from binaryornot.check import is_binary

    from bot.scaffold import sandbox

    with tempfile.TemporaryDirectory() as folder:
        for name, data in (("t.txt", "é text\n".encode()), ("b.bin", bytes(range(256)))):
            path = os.path.join(folder, name)
            with open(path, "wb") as handle:
                handle.write(data)
            is_binary(path)
    env = sandbox.environment({"cookiecutter": {"_extensions": ["jinja2.ext.do"]}})
    env.from_string(
        "{% now 'utc', '%Y' %}{{ 'a b' | slugify }}{{ {'a': 1} | jsonify }}{{ uuid4() }}"
        "{{ random_ascii_string(2) }}{{ '\\u00e9' }}{% do [1] %}"
    ).render()


def _limit_memory(limit: int = 2 * 2**30) -> None:
    """Bound what a sandboxed template can allocate (``{{ 'x' * 10**11 }}``): it fails with
    a MemoryError instead of pressing the whole machine (the parent bounds its time)."""
    try:
        import resource

        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard == resource.RLIM_INFINITY or hard > limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass


def _drop_privileges(run_as: Any) -> None:
    if not run_as or os.getuid() != 0:
        return
    uid, gid = int(run_as[0]), int(run_as[1])
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise OSError("the user id did not change")


def _sandbox_values(sandbox: Any) -> Any:
    def values(full: dict[str, Any]) -> Any:
        env = sandbox.environment(full)
        return sandbox.context_values(full, sandbox.sandbox_render(env))

    return values


def _check_trusted_paths(
    sandbox: Any, load: Any, template: str, extra: dict[str, Any], output: str
) -> None:
    """Render a trusted template's paths as cookiecutter will, and refuse any that leaves the
    job folder, before cookiecutter writes anything."""
    from cookiecutter.prompt import prompt_for_config
    from cookiecutter.utils import create_env_with_context

    full = load(template, extra)
    original = {k: v for k, v in full["cookiecutter"].items() if not k.startswith("_")}
    sys.path.append(template)  # local extensions, as cookiecutter's own import patch does
    try:
        env = create_env_with_context(full)
        values = prompt_for_config(json.loads(json.dumps(full)), no_input=True)
    finally:
        sys.path.remove(template)
    variables = {"cookiecutter": dict(values), "_cookiecutter": original}

    def render(text: str, names: Any) -> str:
        return str(env.from_string(text).render(**names))

    project = sandbox.find_project_dir(template, env)
    entries = sandbox.plan(template, project, variables, render, refuse_links=False)
    sandbox.check_plan(output, entries)


def _derived_mismatch(request: dict[str, Any], load: Any, compute: Any) -> str | None:
    """A value the template works out itself (a default built from other answers) that breaks
    the template's own pattern for it, said as the user should read it; else None.

    The dialog checks what the user typed; a default such as ``{{ cookiecutter.name | ... }}``
    is only known here, where it is computed the way it will be rendered.
    """
    patterns: dict[str, str] = request.get("patterns") or {}
    if not patterns:
        return None
    import re

    values = compute(load(request["template"], request["context"]))
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
