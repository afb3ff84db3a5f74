"""The console at a real terminal: `callboard run` on a pty, driven key by key.

Ctrl-C clears a half-typed line and keeps the console open; Ctrl-C in the /scaffold form
cancels it and says so; Ctrl-D quits with a newline; Tab completes command and entity names.
Ctrl-C in a command-line command (`callboard sync`) exits 130 with one line, no traceback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import DEMO, AppFactory
from tests.e2e.pty_session import CTRL_C, CTRL_D, TAB, PtySession
from tests.e2e.test_cli import CALLBOARD, component, dump

PROMPT = r"callboard> "


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBOARD_")}
    env["TERM"] = "xterm"
    env.pop("INPUTRC", None)
    return env


def _config(tmp_path: Path, db_url: str, target: Path = DEMO) -> Path:
    path = tmp_path / "callboard.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "var"),
                "database": {"url": db_url},
                "catalog": {"sources": [{"type": "file", "name": "demo", "target": str(target)}]},
                "console": {"user_email": "ana.silva@acme-rides.example"},
            }
        )
    )
    return path


@pytest.fixture
def console(tmp_path: Path, db_url: str) -> Iterator[PtySession]:
    config = _config(tmp_path, db_url)
    session = PtySession([str(CALLBOARD), "--config", str(config), "run"], _env(), tmp_path)
    try:
        session.expect(r"Ctrl-D quits\.")
        session.expect(PROMPT)
        yield session
    finally:
        session.close()


def _settle() -> None:
    time.sleep(0.3)  # let readline take the keys before the next one (as a person would)


def test_ctrl_c_clears_a_half_typed_line_and_keeps_the_console(console: PtySession) -> None:
    console.send("/whoowns paym")
    _settle()
    console.send(CTRL_C)
    console.expect(PROMPT)
    # The dropped words are gone: this line runs alone, not "/whoowns paym/help".
    console.send("/whoowns payments-api\r")
    console.expect(r"Who owns Payments API")
    console.expect(PROMPT)
    assert "paym/whoowns" not in console.text and "Traceback" not in console.text
    console.send(CTRL_D)
    assert console.wait() == 0


def test_ctrl_c_in_the_scaffold_form_cancels_it_and_says_so(console: PtySession) -> None:
    console.send("/scaffold python-service\r")
    console.expect(r"New Python service")
    console.expect(r"Component name[^\n]*: ")
    console.send("fare-est")
    _settle()
    console.send(CTRL_C)
    console.expect(r"Dialog cancelled \(Ctrl-C\); nothing was submitted\.")
    console.expect(PROMPT)
    console.send("/whoowns payments-api\r")  # still open, still answering
    console.expect(r"Who owns Payments API")
    console.expect(PROMPT)
    console.send(CTRL_D)
    assert console.wait() == 0
    assert "Traceback" not in console.text


def test_ctrl_d_quits_with_a_newline(console: PtySession) -> None:
    console.send(CTRL_D)
    assert console.wait() == 0
    # The shell's prompt starts on a line of its own: the screen ends with a line break.
    assert console.raw.endswith(b"callboard> \r\n")


def test_tab_completes_command_and_entity_names(console: PtySession) -> None:
    console.send("/whoo")
    console.send(TAB)
    _settle()
    console.send("payments-a")
    console.send(TAB)
    _settle()
    console.send("\r")
    console.expect(r"/whoowns payments-api\n")  # what Tab typed, on the prompt line
    console.expect(r"Who owns Payments API")
    console.expect(PROMPT)
    console.send("/whoowns user:default/ana.s")  # a ref completes too
    console.send(TAB)
    _settle()
    console.send("\r")
    console.expect(r"What Ana Silva owns")
    console.expect(PROMPT)
    console.send(CTRL_D)
    assert console.wait() == 0


def _big_catalog(tmp_path: Path, files: int) -> Path:
    root = tmp_path / "big"
    root.mkdir()
    targets = []
    for i in range(files):
        name = f"svc-{i:05d}"
        (root / f"{name}.yaml").write_text(dump(component(name, description="x " * 40)))
        targets.append(f"./{name}.yaml")
    location = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Location",
        "metadata": {"name": "big"},
        "spec": {"targets": targets},
    }
    (root / "all.yaml").write_text(yaml.safe_dump(location))
    return root / "all.yaml"


def test_ctrl_c_during_sync_exits_130_with_one_line(tmp_path: Path) -> None:
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'cb.db'}", _big_catalog(tmp_path, 12000))
    session = PtySession([str(CALLBOARD), "--config", str(config), "sync"], _env(), tmp_path)
    try:
        session.expect(r"files read")  # the progress bar: stderr is a terminal
        session.send(CTRL_C)
        assert session.wait() == 130
        lines = [line for line in session.text.split("\n") if line.strip()]
        assert lines[-1].endswith("callboard: interrupted")
        assert "Traceback" not in session.text and "KeyboardInterrupt" not in session.text
    finally:
        session.close()


def test_ctrl_c_stops_a_piped_run_waiting_for_input(tmp_path: Path) -> None:
    # `callboard run` reading a pipe that stays open (another program feeding it): Ctrl-C
    # (SIGINT to its process) stops it at once, with one line and 130, not at the next input.
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'cb.db'}")
    proc = subprocess.Popen(
        [str(CALLBOARD), "--config", str(config), "run"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
        cwd=tmp_path,
        text=True,
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("/whoowns payments-api\n")
        proc.stdin.flush()
        assert "Who owns Payments API" in proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 130
        assert err.strip().splitlines()[-1] == "callboard: interrupted"
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_ctrl_c_cancels_a_running_command_and_keeps_the_console(tmp_path: Path) -> None:
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'cb.db'}", _big_catalog(tmp_path, 12000))
    session = PtySession([str(CALLBOARD), "--config", str(config), "run"], _env(), tmp_path)
    try:
        session.expect(PROMPT, timeout=120)
        session.send("/callboard sync --force\r")  # a second or more, in a worker thread
        time.sleep(0.3)
        session.send(CTRL_C)
        session.expect(r"Cancelled \(Ctrl-C\)\.")
        session.expect(PROMPT)
        session.send("/whoowns svc-00042\r")
        session.expect(r"svc-00042")
        session.expect(PROMPT)
        session.send(CTRL_D)
        assert session.wait(timeout=120) == 0
        assert "Traceback" not in session.text
    finally:
        session.close()


def test_completions_cover_commands_subcommands_options_names_and_refs(
    make_app: AppFactory, db_url: str
) -> None:
    from adapters.console import Terminal

    app = make_app(sources=[{"type": "file", "name": "demo", "target": str(DEMO)}], db_url=db_url)
    terminal = Terminal(app)
    assert terminal.completions("", "/whoo") == ["/whoowns "]
    assert terminal.completions("", "whoo") == ["whoowns "]
    assert terminal.completions("/callboard ", "st") == ["status "]
    assert terminal.completions("/docs ", "--p") == ["--page", "--problems"]
    assert "payments-api" in terminal.completions("/whoowns ", "payments-")
    assert terminal.completions("who owns ", "team-p") == ["team-payments", "team-pricing"]
    assert terminal.completions("/whoowns ", "group:default/team-ris") == [
        "group:default/team-risk"
    ]


SECRET_TEMPLATE = """\
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: token-demo
  title: A form with a token
spec:
  owner: group:default/team-a
  type: service
  parameters:
    - title: The service
      required: [name, token]
      properties:
        name: {type: string, title: Name}
        token: {type: string, title: Deploy token, ui:widget: password}
  steps:
    - id: log
      name: Say hello
      action: debug:log
      input:
        message: "hello ${{ parameters.name }}"
"""


def test_a_password_field_is_typed_without_echo_and_kept_out_of_history(
    tmp_path: Path, db_url: str
) -> None:
    """A ``ui:widget: password`` answer is read with echo off: what is typed never reaches
    the screen nor the console's history file, while ordinary answers and commands do."""
    template = tmp_path / "token-demo.yaml"
    template.write_text(SECRET_TEMPLATE)
    config = _config(tmp_path, db_url)
    cfg = yaml.safe_load(config.read_text())
    cfg["catalog"]["sources"].append({"type": "file", "name": "tpl", "target": str(template)})
    cfg["scaffold"] = {"publish": {"remote": f"file://{tmp_path}/git/{{name}}.git"}}
    config.write_text(yaml.safe_dump(cfg))
    secret = "tok-5ecret-9f3a"
    session = PtySession([str(CALLBOARD), "--config", str(config), "run"], _env(), tmp_path)
    try:
        session.expect(r"Ctrl-D quits\.")
        session.expect(PROMPT)
        session.send("/scaffold token-demo --dry-run\r")
        session.expect(r"[Nn]ame[^\n]*: ")
        session.send("fare-tokens\r")
        session.expect(r"Owner[^\n]*: ")
        session.send("\r")  # the default: the asker's team
        session.expect(r"Deploy token[^\n]*: ")
        session.send(f"{secret}\r")
        session.expect(PROMPT)
        session.send(CTRL_D)
        assert session.wait() == 0
    finally:
        session.close()
    assert "fare-tokens" in session.text  # an ordinary answer is echoed as typed
    assert "Traceback" not in session.text
    assert secret.encode() not in session.raw
    history = (tmp_path / "var" / "console_history").read_text()
    assert "/scaffold token-demo --dry-run" in history
    assert secret not in history
