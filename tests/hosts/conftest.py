"""Host tests: TDS Core installed by deploy/install.sh on Debian 12 containers booted with
systemd. Heavy (minutes, root, debootstrap): run only with TDS_HOST_TESTS=1, as the
host stage does. With the variable set, a missing prerequisite is an error, never a skip."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.hosts.machines import SUBNET, Machine, Network, copy_checkout
from tests.processes import ROOT

ENABLED = os.environ.get("TDS_HOST_TESTS") == "1"
CACHE = Path(os.environ.get("TDS_HOSTS_CACHE", "/var/cache/tds-hosts"))
# Where a machine's checkout lies, and the offline wheelhouse it installs from.
CHECKOUT = "/root/tds-core"
WHEELHOUSE = "/wheelhouse"
# pip finds the locked releases in the wheelhouse (downloaded once on this machine): the
# containers need no index, and install.sh's own pip command runs unchanged.
INSTALL_ENV = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": WHEELHOUSE}


# Figures the tests measured, printed in the stage's summary.
FIGURES: list[str] = []


@pytest.fixture
def report() -> Callable[[str], None]:
    return FIGURES.append


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("host test figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(config, items):
    """Without TDS_HOST_TESTS=1, every test that needs the host stage (the fixture
    ``host_stage``, which the containers' fixtures depend on) is skipped, saying why; the
    quick checks of the runbook's text still run."""
    if ENABLED:
        return
    skip = pytest.mark.skip(reason="host tests run with TDS_HOST_TESTS=1 (the host stage)")
    for item in items:
        if "host_stage" in getattr(item, "fixturenames", ()):
            item.add_marker(skip)


def _require() -> None:
    """With TDS_HOST_TESTS=1 the prerequisites must be there: fail, never skip."""
    if os.geteuid() != 0:
        pytest.fail("host tests need root (containers, mounts, a bridge)")
    for tool in ("debootstrap", "systemd-nspawn", "nsenter", "ip", "git"):
        if not shutil.which(tool):
            pytest.fail(f"host tests need {tool} (.ci/run installs debootstrap systemd-container)")


@pytest.fixture(scope="session")
def host_stage() -> None:
    """Requested by every test that needs the stage; never skips once it is enabled."""
    _require()


@pytest.fixture(scope="session")
def rootfs(host_stage) -> Path:
    result = subprocess.run(
        ["bash", str(Path(__file__).parent / "build_rootfs.sh"), str(CACHE)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-8000:]
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def wheelhouse(host_stage) -> Path:
    """The locked releases (requirements.txt, hashes checked) as files, once per lock."""
    lock = ROOT / "requirements.txt"
    target = CACHE / f"wheels-{hashlib.sha256(lock.read_bytes()).hexdigest()[:12]}"
    if not (target / ".complete").exists():
        partial = target.with_suffix(".partial")
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--require-hashes",
                "-r",
                str(lock),
                "-d",
                str(partial),
            ],
            check=True,
            timeout=600,
        )
        (partial / ".complete").touch()
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    return target


@pytest.fixture(scope="session")
def network(host_stage) -> Iterator[Network]:
    net = Network()
    yield net
    net.close()


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    path = Path(f"/var/tmp/tds-hosts-{os.getpid()}")
    path.mkdir(parents=True, exist_ok=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


MachineFactory = Callable[..., list[Machine]]


@pytest.fixture(scope="module")
def machines(rootfs, wheelhouse, network, workdir) -> Iterator[MachineFactory]:
    """``machines(("name", last_octet), …)``: booted (in parallel) with a fresh checkout of
    this tree at CHECKOUT; all powered off and removed when the module ends."""
    made: list[Machine] = []

    def boot(*specs: tuple[str, int]) -> list[Machine]:
        new = []
        for name, octet in specs:
            machine = Machine(
                name, f"{SUBNET}.{octet}", rootfs, workdir, {str(wheelhouse): WHEELHOUSE}
            )
            made.append(machine)
            copy_checkout(ROOT, machine, CHECKOUT)
            new.append(machine)
        with ThreadPoolExecutor(len(new)) as pool:
            list(pool.map(Machine.start, new))
        return new

    yield boot
    with ThreadPoolExecutor(max(1, len(made))) as pool:
        list(pool.map(Machine.close, made))
