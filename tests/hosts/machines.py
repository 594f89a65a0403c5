"""Debian 12 hosts for the host tests: systemd-nspawn containers booted with systemd as PID 1.

Each machine is an overlayfs copy of the cached root file system (tests/hosts/build_rootfs.sh),
on a private bridge of its own with a fixed address, so its ports never meet this machine's
(PostgreSQL on 5432 included). Commands run inside with nsenter. Everything made here
(mounts, bridge, containers) is undone by ``close()``/``Network.close()``, even after a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

BRIDGE = "tdshb0"
SUBNET = "10.213.77"  # /24; the bridge (this machine) is .1
GATEWAY = f"{SUBNET}.1"
# This machine's addresses on the bridge that tests send from: several senders, as Zoho has
# (nginx and the app limit webhooks per client address).
SENDERS = [GATEWAY, *(f"{SUBNET}.{n}" for n in (201, 202, 203))]


def sh(*argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=timeout)


def cgroup_roots() -> list[Path]:
    """Where a container's own cgroup goes: the unified hierarchy alone (cgroup v2), or the
    named systemd hierarchy and the unified one (the hybrid v1 layout)."""
    base = Path("/sys/fs/cgroup")
    if (base / "cgroup.procs").exists():
        return [base / "tds-hosts"]
    return [base / sub / "tds-hosts" for sub in ("systemd", "unified") if (base / sub).is_dir()]


class Network:
    """The bridge every test machine's veth joins; this machine is its .1."""

    def __init__(self) -> None:
        self.close()  # a bridge left over by an interrupted run
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        for address in SENDERS:
            sh("ip", "addr", "add", f"{address}/24", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")

    def close(self) -> None:
        sh("ip", "link", "del", BRIDGE, check=False)


class Machine:
    """One booted container: ``run()`` a shell command in it, ``reboot()``, ``kill()``."""

    def __init__(self, name: str, address: str, rootfs: Path, workdir: Path, binds: dict) -> None:
        self.name = name
        self.address = address
        self.rootfs = rootfs
        self.dir = workdir / name
        self.root = self.dir / "root"
        self.binds = binds  # host path -> container path, read-only
        self.process: subprocess.Popen | None = None
        self.leader = 0
        self.boots = 0
        for sub in ("upper", "work", "root"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        # An overlay on the cached root file system: a private copy in no time.
        sh(
            "mount", "-t", "overlay", "overlay", "-o",
            f"lowerdir={rootfs},upperdir={self.dir / 'upper'},workdir={self.dir / 'work'}",
            str(self.root),
        )  # fmt: skip
        self._configure()

    def _configure(self) -> None:
        (self.root / "etc/hostname").write_text(f"{self.name}\n")
        hosts = self.root / "etc/hosts"
        hosts.write_text(f"127.0.0.1 localhost\n{self.address} {self.name}\n")
        network = self.root / "etc/systemd/network/10-host0.network"
        network.parent.mkdir(parents=True, exist_ok=True)
        network.write_text(
            "[Match]\nName=host0\n\n[Network]\n"
            f"Address={self.address}/24\nGateway={GATEWAY}\nLinkLocalAddressing=no\n"
        )

    # -- power ---------------------------------------------------------------------------

    def boot(self) -> None:
        console = open(self.dir / "console.log", "ab")  # noqa: SIM115 - lives with the container
        argv = [
            "systemd-nspawn", "-q", "-D", str(self.root), "-M", self.name,
            "--register=no", "--keep-unit", "-b", f"--network-bridge={BRIDGE}",
        ]  # fmt: skip
        argv += [f"--bind-ro={host}:{inside}" for host, inside in self.binds.items()]
        # --keep-unit makes the caller's cgroup the container's: each machine needs one of its
        # own, or their systemds share /system.slice/… and each waits, at a unit's stop, for
        # the other machines' processes of the same unit.
        cgroups = [root / self.name for root in cgroup_roots()]
        for cgroup in cgroups:
            cgroup.mkdir(parents=True, exist_ok=True)

        def own_cgroup() -> None:
            for cgroup in cgroups:
                (cgroup / "cgroup.procs").write_text(str(os.getpid()))

        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=console,
            start_new_session=True,
            preexec_fn=own_cgroup,
        )
        console.close()
        self.boots += 1
        deadline = time.monotonic() + 30
        while not (leader := self._find_leader()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no init process after 30 s")
            time.sleep(0.05)
        self.leader = leader

    def _find_leader(self) -> int:
        """The container's PID 1 as this machine sees it: the nspawn process's child."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name}: systemd-nspawn exited {self.process.returncode}")
        pid = self.process.pid
        for task in Path(f"/proc/{pid}/task").glob("*"):
            children = (task / "children").read_text().split()
            for child in children:
                with contextlib.suppress(OSError):
                    if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                        return int(child)
        return 0

    def wait_booted(self, timeout: float = 120) -> None:
        """Until systemd says the boot is over; 'degraded' (a failed unit) is a failure."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.run("systemctl is-system-running --wait", check=False, timeout=timeout)
            state = result.stdout.strip()
            if state == "running" and self.address in self.out("ip -4 -br addr show host0"):
                return
            # "offline": PID 1 is up but its bus not yet (the first moments of a boot).
            if state not in ("", "offline", "initializing", "starting", "running") or (
                time.monotonic() > deadline
            ):
                failed = self.out("systemctl --failed --no-legend --plain", check=False)
                units = " ".join(f"-u {line.split()[0]}" for line in failed.splitlines() if line)
                why = self.out(f"journalctl --no-pager -n 40 {units}", check=False)
                raise AssertionError(f"{self.name} booted {state!r}; failed:\n{failed}\n{why}")
            time.sleep(0.5)

    def start(self) -> Machine:
        self.boot()
        self.wait_booted()
        return self

    def reboot(self) -> None:
        """`systemctl reboot` inside; systemd-nspawn then exits (133), and the machine boots
        again as its firmware would."""
        self.run("systemctl reboot", check=False)
        self._wait_exit(timeout=120)
        self.start()

    def kill(self) -> None:
        """Power cut: SIGKILL to the container's PID 1 ends every process in it at once."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.leader, signal.SIGKILL)
        self._wait_exit(timeout=30)

    def _wait_exit(self, timeout: float) -> None:
        assert self.process is not None
        self.process.wait(timeout=timeout)
        self.leader = 0

    def close(self) -> None:
        """Cut the power (the machine is thrown away: no need to wait for a clean shutdown)
        and unmount; the directory goes too."""
        if self.process and self.process.poll() is None:
            with contextlib.suppress(Exception):
                self.kill()
            if self.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        sh("umount", "-l", str(self.root), check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
        for root in cgroup_roots():  # the machine's cgroups, deepest first
            for cgroup in sorted((root / self.name).glob("**/"), reverse=True):
                with contextlib.suppress(OSError):
                    cgroup.rmdir()

    # -- inside --------------------------------------------------------------------------

    def run(
        self, command: str, *, check: bool = True, timeout: float = 300, env: dict | None = None
    ) -> subprocess.CompletedProcess:
        """A bash command as root inside the machine, with a clean login-like environment."""
        if not self.leader:
            raise AssertionError(f"{self.name} is not running")
        variables = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        variables.update({"HOME": "/root", "LANG": "C.UTF-8"}, **(env or {}))
        argv = ["nsenter", f"--target={self.leader}", "--all", "--", "env", "-i"]
        argv += [f"{key}={value}" for key, value in variables.items()]
        argv += ["bash", "-c", command]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{self.name}$ {command}\nexit {result.returncode}\n"
                f"{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
            )
        return result

    def out(self, command: str, **kwargs) -> str:
        return self.run(command, **kwargs).stdout.strip()

    def psql(self, sql: str, database: str = "tsh_erp") -> str:
        """A query on this machine's PostgreSQL, as postgres (the database host)."""
        quoted = sql.replace("'", "'\\''")
        psql = f"runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d {database}"
        return self.out(f"{psql} -c '{quoted}'")

    def put(self, path: str, text: str, mode: int = 0o644) -> None:
        target = self.root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(mode)

    def read(self, path: str) -> str:
        return (self.root / path.lstrip("/")).read_text()

    def active(self, unit: str) -> str:
        return self.out(f"systemctl is-active {unit}", check=False)


def copy_checkout(source: Path, machine: Machine, dest: str) -> str:
    """The committed-or-staged files of ``source`` (what ``git ls-files`` lists) as a fresh
    checkout at ``dest`` inside the machine: no .venv, .env or database of the developer's."""
    files = sh("git", "-C", str(source), "ls-files", "-z", "--cached").stdout.split("\0")
    target = machine.root / dest.lstrip("/")
    target.mkdir(parents=True, exist_ok=True)
    for name in filter(None, files):
        src = source / name
        if src.is_file():
            out = target / name
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, out)
    return dest
