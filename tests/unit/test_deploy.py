"""deploy/ and the Dockerfile: linted, validated against Kubernetes' schemas, and held to the
rules of issue 20 (no container engine runs here, so the files are checked as text and data)."""

from __future__ import annotations

import copy
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from adapters.cli import build_parser
from bot.bootstrap import load_settings
from bot.hardening import KNOWN_SECRETS
from bot.logsetup import LoggingSettings
from bot.platforms import SlackSettings
from tests.conftest import REPO

DEPLOY = REPO / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
# The oldest Kubernetes minor still commonly run, and the newest the schemas know.
KUBE_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
SECRET_ENV = {*KNOWN_SECRETS, "BACKSTAGE_TOKEN", "CALLBOARD_DATABASE_URL"}
BUILD_TOOLS = re.compile(
    r"\b(gcc|g\+\+|cc|clang|make|build-essential|cmake|[a-z0-9.+-]+-dev|python3-pip)\b"
)


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*.yaml") if p.is_file())


def manifests() -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                found.append((path, doc))
    return found


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in manifests() if doc["kind"] == kind]


def test_yamllint_passes_over_deploy() -> None:
    conf = YamlLintConfig(file=str(DEPLOY / ".yamllint.yaml"))
    assert yaml_files()
    problems = [
        f"{path.relative_to(REPO)}:{p.line}:{p.column}: {p.desc} ({p.rule})"
        for path in yaml_files()
        for p in linter.run(path.read_text(), conf, str(path))
    ]
    assert problems == []


def test_yamllint_would_catch_a_problem() -> None:
    conf = YamlLintConfig(file=str(DEPLOY / ".yamllint.yaml"))
    bad = "key: value\nkey: again   \n"
    rules = {p.rule for p in linter.run(bad, conf)}
    assert {"key-duplicates", "trailing-spaces"} <= rules


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_every_manifest_validates_against_the_kubernetes_schemas(version: str) -> None:
    docs = manifests()
    kinds = sorted(doc["kind"] for _, doc in docs)
    assert kinds == ["ConfigMap", "CronJob", "Deployment", "PodDisruptionBudget", "Service"]
    for path, doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.relative_to(REPO)}: {exc.message} at {list(exc.path)}")


def test_the_schema_check_would_catch_a_misspelt_field() -> None:
    [deployment] = of_kind("Deployment")
    broken = copy.deepcopy(deployment)
    probe = broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    probe["httpGets"] = probe.pop("httpGet")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBE_VERSIONS[-1], strict=True)


def pod_specs() -> list[dict[str, Any]]:
    [deployment] = of_kind("Deployment")
    [cronjob] = of_kind("CronJob")
    return [
        deployment["spec"]["template"]["spec"],
        cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"],
    ]


def test_the_deployment_probes_health_and_readiness() -> None:
    [deployment] = of_kind("Deployment")
    assert deployment["spec"]["replicas"] >= 2
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["ports"][0]["containerPort"] == 3000


def test_every_pod_runs_non_root_on_a_read_only_root_with_writable_empty_dirs() -> None:
    for pod in pod_specs():
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            assert container["resources"]["requests"]["memory"]
            assert container["resources"]["limits"]["memory"]
            writable = {
                m["mountPath"]: m["name"]
                for m in container["volumeMounts"]
                if not m.get("readOnly")
            }
            assert set(writable) == {"/app/var", "/tmp"}
            assert set(writable.values()) <= empty_dirs


def test_tokens_come_from_the_secret_and_the_config_from_the_configmap() -> None:
    for pod in pod_specs():
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            for env in container["env"]:
                if env["name"] in SECRET_ENV:
                    assert "value" not in env, env["name"]
                    assert env["valueFrom"]["secretKeyRef"]["name"] == "callboard-secrets"
            names = {e["name"] for e in container["env"]}
            assert "CALLBOARD_DATABASE_URL" in names
        [config] = [v for v in pod["volumes"] if v["name"] == "config"]
        assert config["configMap"]["name"] == "callboard-config"


def test_the_configmap_holds_deploy_callboard_yaml_and_it_loads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    [configmap] = of_kind("ConfigMap")
    text = (DEPLOY / "callboard.yaml").read_text()
    assert configmap["data"]["callboard.yaml"] == text
    monkeypatch.setenv("CALLBOARD_DATABASE_URL", "postgresql://cb:pw@db.example:5432/callboard")
    monkeypatch.setenv("BACKSTAGE_URL", "https://backstage.example.com")
    monkeypatch.setenv("CALLBOARD_PUBLIC_URL", "https://callboard.example.com")
    path = tmp_path / "callboard.yaml"
    path.write_text(text)
    settings = load_settings(path)
    assert settings.database_url.startswith("postgresql")
    assert settings.data_dir == Path("/app/var")
    slack = settings.section("slack", SlackSettings)
    assert (slack.mode, slack.host, slack.port) == ("http", "0.0.0.0", 3000)
    assert settings.section("logging", LoggingSettings).format == "json"
    [source] = settings.catalog.sources
    assert source.type == "backstage"


def test_the_service_and_the_budget_select_the_deployments_pods() -> None:
    [deployment] = of_kind("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    [service] = of_kind("Service")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    [budget] = of_kind("PodDisruptionBudget")
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert budget["spec"]["minAvailable"] < deployment["spec"]["replicas"]


def test_the_commands_the_deploy_files_run_are_callboard_subcommands() -> None:
    parser = build_parser()
    [deployment] = of_kind("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    [cronjob] = of_kind("CronJob")
    [report] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    argvs = [
        pod["initContainers"][0]["args"],
        pod["containers"][0]["args"],
        report["args"],
        *(s["command"] for s in compose["services"].values() if "build" in s),
    ]
    for argv in argvs:
        ns = parser.parse_args(argv)
        assert callable(ns.func), argv
    assert pod["initContainers"][0]["args"] == ["migrate"]
    assert report["args"][:1] == ["report"]


def test_compose_runs_two_replicas_on_postgresql_after_a_one_shot_migration() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert "healthcheck" in services["postgres"]
    migrate = services["migrate"]
    assert migrate["command"] == ["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    replicas = [s for name, s in services.items() if name.startswith("callboard-")]
    assert len(replicas) == 2
    ports = set()
    for replica in replicas:
        assert replica["command"] == ["run"]
        assert replica["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert replica["read_only"] is True
        assert "/etc/callboard/callboard.yaml" in " ".join(replica["volumes"])
        ports.update(replica["ports"])
        url = replica["environment"]["CALLBOARD_DATABASE_URL"]
        assert url.startswith("postgresql://") and "@postgres:5432/" in url
        for name in SECRET_ENV - {"CALLBOARD_DATABASE_URL"}:
            value = replica["environment"].get(name)
            assert value is None or value.startswith("${"), name  # from the host, not written
    assert len(ports) == 2


# --- the Dockerfile ---


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, op: str) -> list[str]:
        return [args for o, args in self.instructions if o == op]


def dockerfile_stages(text: str) -> list[Stage]:
    """The stages of a Dockerfile, each with its instructions (continuations joined)."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    stages: list[Stage] = []
    for line in logical:
        op, _, args = line.partition(" ")
        op = op.upper()
        if op == "FROM":
            words = args.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(name, words[0]))
        else:
            assert stages, f"{op} before the first FROM"
            stages[-1].instructions.append((op, args.strip()))
    return stages


def test_the_dockerfile_builds_from_the_lock_in_one_stage_and_runs_without_build_tools() -> None:
    stages = dockerfile_stages((REPO / "Dockerfile").read_text())
    assert len(stages) >= 2
    build, runtime = stages[0], stages[-1]
    build_runs = " && ".join(build.all("RUN"))
    assert re.search(r"pip install --require-hashes -r requirements\.txt", build_runs)
    assert re.search(r"pip install --no-deps\b[^&]* \.", build_runs)
    assert any("requirements.txt" in c for c in build.all("COPY"))
    # The runtime stage takes the built environment whole and compiles or resolves nothing.
    assert any(c.startswith(f"--from={build.name} ") for c in runtime.all("COPY"))
    for run in runtime.all("RUN"):
        assert "pip install" not in run, run
        for command in run.split("&&"):
            words = shlex.split(command)
            if words[:2] == ["apt-get", "install"]:
                packages = [w for w in words[2:] if not w.startswith("-")]
                tools = [p for p in packages if BUILD_TOOLS.fullmatch(p)]
                assert tools == [], f"build tools in the runtime stage: {tools}"
    assert runtime.base == build.base  # the same Python in both


def test_the_dockerfile_runs_as_a_non_root_user_with_a_healthcheck_on_healthz() -> None:
    [runtime] = dockerfile_stages((REPO / "Dockerfile").read_text())[-1:]
    users = runtime.all("USER")
    assert users, "no USER: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert user.isdigit()  # numeric, so Kubernetes' runAsNonRoot can check it
    [deployment] = of_kind("Deployment")
    pod_user = deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    assert int(user) == pod_user
    [health] = runtime.all("HEALTHCHECK")
    env = " ".join(runtime.all("ENV"))
    assert "CMD" in health
    assert "CALLBOARD_HEALTH_URL" in health
    assert re.search(r"CALLBOARD_HEALTH_URL=http://127\.0\.0\.1:3000/healthz\b", env)
    assert "PYTHONDONTWRITEBYTECODE=1" in env  # the root filesystem may be read-only
    assert runtime.all("ENTRYPOINT") == ['["callboard"]']


def test_everything_the_dockerfile_copies_from_the_context_exists() -> None:
    for stage in dockerfile_stages((REPO / "Dockerfile").read_text()):
        for copy_args in stage.all("COPY"):
            words = copy_args.split()
            if words[0].startswith("--from="):
                continue
            for source in words[:-1]:
                assert (REPO / source).exists(), source


def test_the_build_context_leaves_out_what_the_image_does_not_copy() -> None:
    ignored = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "var", "tests"} <= ignored
    copied = {
        words[0]
        for stage in dockerfile_stages((REPO / "Dockerfile").read_text())
        for words in (c.split() for c in stage.all("COPY"))
        if not words[0].startswith("--from=")
    }
    assert not copied & ignored


def test_the_readme_says_how_to_deploy() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Deploying\n", 1)[1].split("\n## ", 1)[0]
    for part in ("**Topology.**", "**Upgrading.**", "**Backup.**", "**Sizing.**"):
        assert part in section
    assert "callboard migrate" in section
    # The sizing figures come from `make bench`, measured, with the machine they ran on.
    assert "TODO" not in section
    sizing = section.split("**Sizing.**", 1)[1].split("\n**", 1)[0]
    assert "make bench" in sizing and "| catalog |" in sizing and "vCPU" in sizing
    for named in re.findall(r"deploy/[\w./-]+", section):
        assert (REPO / named).exists(), named
