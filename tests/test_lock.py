"""The lock file (requirements/lock.txt) agrees with pyproject.toml; `make lock` repairs it."""

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"
PYPROJECT = ROOT / "pyproject.toml"
PRE_COMMIT_CONFIG = ROOT / ".pre-commit-config.yaml"

# "name==version" or "name==version ; marker", then the hashes on continuation lines.
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def _lock_entries() -> list[tuple[str, Version, str]]:
    """(canonical name, pinned version, the entry's text including its hashes) per pin."""
    entries: list[tuple[str, Version, str]] = []
    for line in LOCK.read_text().splitlines():
        match = PIN.match(line)
        if match:
            name = canonicalize_name(match["name"])
            entries.append((name, Version(match["version"]), line))
        elif entries and line.startswith(" "):
            name, version, text = entries[-1]
            entries[-1] = (name, version, f"{text}\n{line}")
    return entries


def _lock_versions() -> dict[str, list[Version]]:
    versions: dict[str, list[Version]] = {}
    for name, version, _ in _lock_entries():
        versions.setdefault(name, []).append(version)
    return versions


def _pyproject_requirements() -> list[str]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["dev"]]


def _applies(requirement: Requirement, *, extra: str = "") -> bool:
    return requirement.marker is None or requirement.marker.evaluate({"extra": extra})


@pytest.mark.parametrize("line", _pyproject_requirements())
def test_pyproject_requirement_is_pinned_in_the_lock_within_its_range(line):
    requirement = Requirement(line)
    if not _applies(requirement):
        pytest.skip(f"{line} does not apply to this interpreter")
    pins = _lock_versions().get(canonicalize_name(requirement.name))
    assert pins, f"{requirement.name} is in pyproject.toml but not in {LOCK.name}: run `make lock`"
    for version in pins:
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{requirement.name}=={version} in {LOCK.name} is outside {line!r}: run `make lock`"
        )


@pytest.mark.parametrize(
    "line", [line for line in _pyproject_requirements() if Requirement(line).extras]
)
def test_requirements_of_a_pyproject_extra_are_in_the_lock(line):
    requirement = Requirement(line)
    locked = _lock_versions()
    for extra in sorted(requirement.extras):
        for dependency_line in metadata.requires(requirement.name) or []:
            dependency = Requirement(dependency_line)
            if _applies(dependency) or not _applies(dependency, extra=extra):
                continue  # a plain dependency of the package, or one of another extra
            assert canonicalize_name(dependency.name) in locked, (
                f"{requirement.name}[{extra}] needs {dependency.name}, missing from "
                f"{LOCK.name}: run `make lock`"
            )


def test_every_pin_in_the_lock_carries_a_hash():
    entries = _lock_entries()
    assert entries, f"{LOCK} holds no pins"
    unhashed = [name for name, _, text in entries if not HASH.search(text)]
    assert unhashed == [], f"pins without --hash in {LOCK.name} (make install requires hashes)"


def test_pre_commit_runs_the_locked_ruff():
    pinned = re.findall(r"ruff==([^\s\"',\]]+)", PRE_COMMIT_CONFIG.read_text())
    assert pinned, f"{PRE_COMMIT_CONFIG.name} pins no ruff version"
    assert {Version(version) for version in pinned} == set(_lock_versions()["ruff"])
