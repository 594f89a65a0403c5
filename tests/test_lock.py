"""The lock files (bin/lock): every release pinned and hashed, in step with pyproject.toml,
complete on every Python the README allows, and what bin/run and bin/test install."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.processes import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
RUNTIME = PYPROJECT["project"]["dependencies"]
DEV = RUNTIME + PYPROJECT["project"]["optional-dependencies"]["dev"]

# Debian 12's 3.11.2 (the servers) and the releases after it that the README allows.
PYTHONS = ("3.11.2", "3.11.9", "3.12.0", "3.13.0")
LOCKS = pytest.mark.parametrize(
    ("lock", "requirements"),
    [("requirements.txt", RUNTIME), ("requirements-dev.txt", DEV)],
    ids=["runtime", "dev"],
)


def pins(name: str) -> dict[str, str]:
    """{package: version} of a lock file; every entry must be `name==version` with hashes."""
    entries = re.split(r"\n(?=[^\s#])", (ROOT / name).read_text())
    found = {}
    for entry in entries:
        first = entry.split("\n", 1)[0]
        if not first.strip() or first.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s;]+) \\", first)
        assert match, f"{name}: not an exact pin: {first!r}"
        assert "--hash=sha256:" in entry, f"{name}: {first} has no hash"
        found[canonicalize_name(match[1])] = match[2]
    return found


def environment(python: str, extra: str) -> dict[str, str]:
    return {
        "python_version": ".".join(python.split(".")[:2]),
        "python_full_version": python,
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "os_name": "posix",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "extra": extra,
    }


def needed(requirements: list[str], python: str) -> set[str]:
    """Every package the requirements pull in on that Python (extras followed), read from the
    installed releases' metadata; a package this venv lacks is named but not followed."""
    seen: set[tuple[str, str]] = set()
    names: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        names.add(name)
        for extra in ("", *requirement.extras):
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            try:
                declared = importlib.metadata.requires(name) or []
            except importlib.metadata.PackageNotFoundError:
                continue
            for line in declared:
                dependency = Requirement(line)
                if not dependency.marker or dependency.marker.evaluate(environment(python, extra)):
                    todo.append(dependency)
    return names


@LOCKS
def test_lock_satisfies_pyproject(lock, requirements):
    locked = pins(lock)
    for line in requirements:
        requirement = Requirement(line)
        version = locked.get(canonicalize_name(requirement.name))
        assert version, f"{lock} lacks {requirement.name}: run bin/lock"
        assert requirement.specifier.contains(version), f"{lock}: {requirement} vs {version}"
    assert {"pip", "setuptools"} <= locked.keys()  # the installs fetch nothing unhashed
    assert "tds-core" not in locked


def test_dev_lock_runs_the_runtime_versions():
    runtime, dev = pins("requirements.txt"), pins("requirements-dev.txt")
    assert {name: dev.get(name) for name in runtime} == runtime


def test_ruff_is_pinned_exactly():
    (ruff,) = [Requirement(r) for r in DEV if Requirement(r).name == "ruff"]
    assert str(ruff.specifier).startswith("==")
    assert pins("requirements-dev.txt")["ruff"] == str(ruff.specifier)[2:]


@pytest.mark.parametrize("python", PYTHONS)
@LOCKS
def test_lock_is_complete_on_every_python(lock, requirements, python):
    """--require-hashes refuses a dependency the lock lacks, and pip-compile leaves out what
    its own interpreter's markers exclude (redis needs async-timeout before 3.11.3)."""
    missing = needed(requirements, python) - pins(lock).keys()
    assert missing == set(), f"{lock} lacks {sorted(missing)} on Python {python}: run bin/lock"


def test_the_completeness_check_follows_markers():
    assert "async-timeout" in needed(["redis"], "3.11.2")
    assert "async-timeout" not in needed(["redis"], "3.11.9")
    assert {"psycopg-binary", "psycopg-pool"} <= needed(["psycopg[binary,pool]"], "3.11.2")
    assert "psycopg-binary" not in needed(["psycopg"], "3.11.2")


# ---------------------------------------------------------------- bin/_venv.sh

FAKE_PYTHON = """#!/usr/bin/env bash
echo "$*" >> "$(dirname "$0")/../calls"
"""


def ensure_venv(workdir: Path, extra: str) -> list[str]:
    """bin/_venv.sh's ensure_venv in a copy of the project whose .venv python only records
    its arguments; returns the calls it made."""
    calls = workdir / ".venv" / "calls"
    before = calls.read_text().splitlines() if calls.exists() else []
    subprocess.run(
        ["bash", "-c", f'source bin/_venv.sh && ensure_venv "{extra}"'],
        cwd=workdir,
        check=True,
        capture_output=True,
        timeout=30,
    )
    return calls.read_text().splitlines()[len(before) :] if calls.exists() else []


@pytest.fixture
def project_copy(tmp_path):
    (tmp_path / "bin").mkdir()
    for name in ("bin/_venv.sh", "pyproject.toml", "requirements.txt", "requirements-dev.txt"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    return tmp_path


@pytest.mark.parametrize(
    ("extra", "lock"), [("", "requirements.txt"), ("dev", "requirements-dev.txt")]
)
def test_bin_venv_installs_from_the_lock_with_hashes(project_copy, extra, lock):
    assert ensure_venv(project_copy, extra) == [
        "-m pip install --quiet --require-hashes -r .venv/pip-lock.txt",
        f"-m pip install --quiet --require-hashes -r {lock}",
        "-m pip install --quiet --no-deps --no-build-isolation -e .",
    ]
    # The lock's own pip first (pip 23.2 misresolves an extra under --require-hashes).
    pip_lock = (project_copy / ".venv" / "pip-lock.txt").read_text()
    assert pip_lock.startswith("pip==") and "--hash=sha256:" in pip_lock
    assert pip_lock.count("==") == 1
    assert ensure_venv(project_copy, extra) == []  # installed once...
    with (project_copy / lock).open("a") as file:
        file.write("# changed\n")
    assert len(ensure_venv(project_copy, extra)) == 3  # ...until the lock changes
