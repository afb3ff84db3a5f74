"""The lock files pin every dependency pyproject.toml names, at a version its range allows.

A dependency added to pyproject.toml without `make lock` would be missing from a fresh clone's
install (pip installs the lock with --require-hashes): this says so before CI does.
"""

from __future__ import annotations

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import REPO

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", re.MULTILINE)


def pins(lock: str) -> dict[str, Version]:
    text = (REPO / lock).read_text()
    return {canonicalize_name(name): Version(version) for name, version in PIN.findall(text)}


def requirements(*extras: str) -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in extras:
        wanted += project["optional-dependencies"][extra]
    return [Requirement(r) for r in wanted]


@pytest.mark.parametrize(
    ("lock", "extras"),
    [
        ("requirements.txt", ("slack", "discord")),
        ("requirements-dev.txt", ("slack", "discord", "dev")),
    ],
)
def test_every_dependency_is_pinned_within_its_range(lock: str, extras: tuple[str, ...]) -> None:
    pinned = pins(lock)
    for req in requirements(*extras):
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} is not in {lock}: run `make lock`"
        assert req.specifier.contains(pinned[name], prereleases=True), (
            f"{lock} pins {req.name}=={pinned[name]}, outside {req.specifier}: run `make lock`"
        )


def test_every_pin_carries_a_hash() -> None:
    for lock in ("requirements.txt", "requirements-dev.txt"):
        text = (REPO / lock).read_text()
        blocks = re.split(r"\n(?=[A-Za-z])", text.split("\n", 6)[-1])
        for block in blocks:
            if PIN.match(block):
                assert "--hash=sha256:" in block, f"{lock}: {block.splitlines()[0]} has no hash"


def test_the_runtime_lock_agrees_with_the_dev_lock() -> None:
    run, dev = pins("requirements.txt"), pins("requirements-dev.txt")
    assert {n: v for n, v in run.items() if dev.get(n) != v} == {}
