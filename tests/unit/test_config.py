"""Config: typed settings from YAML, errors that name the key and the file, env and paths."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from bot.bootstrap import load_settings
from bot.config import Settings, default_config_path
from bot.errors import ConfigError
from tests.conftest import REPO


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CALLBOARD_DATABASE_URL", "CALLBOARD_CONFIG", "CB_TEST_DB", "CB_TEST_DIR"):
        monkeypatch.delenv(name, raising=False)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def load_error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return str(caught.value)


def test_the_issues_minimal_config_loads(tmp_path: Path) -> None:
    config = write(
        tmp_path / "conf" / "callboard.yaml",
        """
        database:
          url: sqlite:///var/callboard.db
        catalog:
          refresh_minutes: 15
          sources:
            - type: file
              target: ./demo/all.yaml
        """,
    )
    settings = load_settings(config)
    assert settings.path == config
    assert settings.catalog.refresh_minutes == 15
    [source] = settings.catalog.sources
    assert (source.type, source.target, source.root) == (
        "file",
        tmp_path / "conf" / "demo" / "all.yaml",
        tmp_path / "conf" / "demo",
    )
    assert source.name == f"file:{tmp_path / 'conf' / 'demo' / 'all.yaml'}"


def test_the_embedded_default_config_uses_sqlite_and_the_demo() -> None:
    settings = load_settings(REPO / "config" / "callboard.yaml")
    assert settings.database_url == f"sqlite:///{REPO / 'var' / 'callboard.db'}"
    assert settings.data_dir == REPO / "var"
    [demo] = settings.catalog.sources
    assert (demo.name, demo.target) == ("demo", REPO / "config" / "demo" / "all.yaml")


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path / "c.yaml", "catalog: {}\n"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.database_url = "sqlite://"  # type: ignore[misc]
    assert isinstance(settings, Settings)


# --- Unknown keys and wrong values name the key and the file -------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("databse:\n  url: sqlite://\n", "databse"),
        ("database:\n  uri: sqlite://\n", "database.uri"),
        ("catalog:\n  refresh: 5\n", "catalog.refresh"),
        ("catalog:\n  sources:\n    - type: file\n      target: a.yaml\n      rot: .\n",
         "catalog.sources[0].rot"),
        ("console:\n  user: me\n", "console.user"),
    ],
)  # fmt: skip
def test_an_unknown_key_is_an_error_naming_key_and_file(
    tmp_path: Path, text: str, key: str
) -> None:
    config = write(tmp_path / "callboard.yaml", text)
    assert load_error(config) == f"{config}: unknown key {key}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("catalog:\n  refresh_minutes: soon\n", "catalog.refresh_minutes must be a whole number, "
         "found 'soon'"),
        ("catalog:\n  refresh_minutes: 0\n", "catalog.refresh_minutes must be at least 1, found 0"),
        ("catalog:\n  sources: {type: file}\n", "catalog.sources must be a list"),
        ("catalog:\n  sources:\n    - type: file\n", "catalog.sources[0].target is required for a "
         "file source"),
        ("catalog:\n  sources:\n    - type: ftp\n",
         "catalog.sources[0].type is 'ftp'; known source types: file"),
        ("database:\n  url: [a, b]\n", "database.url must be a string, found list"),
        ("database: sqlite://\n", "database must be a mapping"),
        ("database:\n  url: not-a-url\n", "database.url is not a valid SQLAlchemy URL"),
        ("- just\n- a list\n", "the top level must be a mapping"),
        ("catalog:\n  sources:\n    - {target: a.yaml, name: x}\n    - {target: b.yaml, name: x}\n",
         "catalog.sources have duplicate names x; set `name:` on each"),
        ("catalog:\n  parse_workers: many\n",
         "catalog.parse_workers must be a whole number or auto, found 'many'"),
        ("catalog:\n  parse_workers: -1\n",
         "catalog.parse_workers must be a whole number or auto, found -1"),
        ("catalog:\n  parse_workers: [2]\n",
         "catalog.parse_workers must be a whole number or auto, found [2]"),
        ("catalog:\n  parse_workers: true\n",
         "catalog.parse_workers must be a whole number or auto, found True"),
        ("scaffold:\n  backstage: always\n",
         "scaffold.backstage must be run, off or a list of template names, found 'always'"),
        ("scaffold:\n  backstage: [Docs Template]\n",
         "scaffold.backstage lists 'Docs Template', which is not a template name"),
    ],
)  # fmt: skip
def test_wrong_values_are_errors_naming_key_and_file(
    tmp_path: Path, text: str, message: str
) -> None:
    config = write(tmp_path / "callboard.yaml", text)
    error = load_error(config)
    assert error.startswith(f"{config}: ")
    assert message in error


def test_invalid_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    config = write(tmp_path / "callboard.yaml", "catalog:\n  sources: [\n    - oops\n")
    error = load_error(config)
    assert error.startswith(f"{config}:")
    assert "invalid YAML" in error
    assert error.split(":")[1].isdigit()  # the line


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    assert (
        load_error(tmp_path / "nope.yaml") == f"config file {tmp_path / 'nope.yaml'} does not exist"
    )


def test_an_empty_config_file_gives_the_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path / "callboard.yaml", ""))
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'callboard.db'}"
    assert settings.catalog.sources == ()
    assert settings.catalog.refresh_minutes == 15


# --- ${ENV_VAR} ------------------------------------------------------------------------


def test_env_vars_are_substituted_in_strings_paths_and_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CB_TEST_DB", "postgresql://cb:s3cret@db.example/cb")
    monkeypatch.setenv("CB_TEST_DIR", str(tmp_path / "catalogs"))
    settings = load_settings(
        write(
            tmp_path / "callboard.yaml",
            """
            database:
              url: ${CB_TEST_DB}
            catalog:
              sources:
                - type: file
                  name: main-${CB_TEST_UNSET:-default}
                  target: ${CB_TEST_DIR}/all.yaml
            admins: ["group:${CB_TEST_UNSET:-platform}"]
            """,
        )
    )
    assert settings.database_url == "postgresql://cb:s3cret@db.example/cb"
    [source] = settings.catalog.sources
    assert (source.name, source.target) == ("main-default", tmp_path / "catalogs" / "all.yaml")
    assert settings.admins == ("group:platform",)


def test_a_missing_env_var_is_an_error_naming_it_key_and_file(tmp_path: Path) -> None:
    config = write(tmp_path / "callboard.yaml", "database:\n  url: ${CB_TEST_DB}\n")
    assert load_error(config) == (
        f"{config}: database.url uses ${{CB_TEST_DB}}, which is not set in the environment"
    )


def test_callboard_database_url_overrides_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path / "callboard.yaml", "database:\n  url: sqlite:///from-file.db\n")
    monkeypatch.setenv("CALLBOARD_DATABASE_URL", "postgresql://cb@db.example/cb")
    assert load_settings(config).database_url == "postgresql://cb@db.example/cb"
    monkeypatch.setenv("CALLBOARD_DATABASE_URL", "not-a-url")
    assert load_error(config).startswith("CALLBOARD_DATABASE_URL is not a valid SQLAlchemy URL")


# --- Relative paths are relative to the config file ---------------------------------------


def test_relative_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = write(
        tmp_path / "deploy" / "callboard.yaml",
        """
        data_dir: ../state
        database:
          url: sqlite:///./db/callboard.db
        catalog:
          sources:
            - type: file
              name: repo
              target: ../catalog/all.yaml
              root: ../catalog
            - type: file
              name: absolute
              target: /srv/catalog/all.yaml
        """,
    )
    settings = load_settings(config)
    assert settings.data_dir == tmp_path / "state"
    assert settings.database_url == f"sqlite:///{tmp_path / 'deploy' / 'db' / 'callboard.db'}"
    repo, absolute = settings.catalog.sources
    assert (repo.target, repo.root) == (tmp_path / "catalog" / "all.yaml", tmp_path / "catalog")
    assert (absolute.target, absolute.root) == (
        Path("/srv/catalog/all.yaml"),
        Path("/srv/catalog"),
    )


def test_the_database_defaults_to_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path / "c" / "callboard.yaml", "data_dir: ./data\n"))
    assert settings.database_url == f"sqlite:///{tmp_path / 'c' / 'data' / 'callboard.db'}"


def test_absolute_and_memory_sqlite_urls_are_kept(tmp_path: Path) -> None:
    absolute = load_settings(write(tmp_path / "a.yaml", "database: {url: 'sqlite:////x/y.db'}\n"))
    assert absolute.database_url == "sqlite:////x/y.db"
    memory = load_settings(write(tmp_path / "b.yaml", "database: {url: 'sqlite:///:memory:'}\n"))
    assert memory.database_url == "sqlite:///:memory:"


def test_callboard_config_picks_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path / "mine.yaml", "catalog: {refresh_minutes: 7}\n")
    monkeypatch.setenv("CALLBOARD_CONFIG", str(config))
    assert default_config_path() == config
    assert load_settings().catalog.refresh_minutes == 7


def test_a_section_written_with_no_value_is_present_with_defaults(tmp_path: Path) -> None:
    """``discord:`` alone (YAML null) turns Discord on with every default."""
    from bot.platforms import DiscordSettings

    path = tmp_path / "callboard.yaml"
    path.write_text("discord:\n")
    assert load_settings(path).section("discord", DiscordSettings).enabled
    absent = tmp_path / "absent.yaml"
    absent.write_text("catalog: {}\n")
    assert not load_settings(absent).section("discord", DiscordSettings).enabled


@pytest.mark.parametrize(
    ("value", "workers"), [("auto", None), ("0", 0), ("3", 3), ("'2'", 2), (None, None)]
)
def test_parse_workers_is_auto_or_a_count(
    tmp_path: Path, value: str | None, workers: int | None
) -> None:
    text = f"catalog:\n  parse_workers: {value}\n" if value else "catalog: {}\n"
    settings = load_settings(write(tmp_path / "callboard.yaml", text))
    assert settings.catalog.parse_workers == workers
    if workers is None:  # one per CPU this process may use, at most four
        assert 1 <= settings.catalog.workers <= 4
    else:
        assert settings.catalog.workers == workers


@pytest.mark.parametrize(
    ("text", "names", "runs"),
    [
        ("scaffold:\n  backstage: run\n", ("*",), True),
        ("scaffold:\n  backstage: off\n", (), False),
        ("scaffold: {}\n", (), False),
        ("scaffold:\n  backstage: [docs-template, chat-service]\n",
         ("docs-template", "chat-service"), True),
    ],
)  # fmt: skip
def test_scaffold_backstage_says_which_templates_run_on_backstage(
    tmp_path: Path, text: str, names: tuple[str, ...], runs: bool
) -> None:
    from bot.scaffold.settings import ScaffoldSettings

    settings = load_settings(write(tmp_path / "callboard.yaml", text))
    scaffold = settings.optional_section("scaffold", ScaffoldSettings) or ScaffoldSettings()
    assert scaffold.backstage == names
    assert scaffold.runs_on_backstage("chat-service") is runs
    assert not scaffold.runs_on_backstage("python-service") or names == ("*",)
