"""Real processes for tests and benchmarks, with nothing but the standard library.

Each child runs in its own process group with its output in a log file, so a test can kill
the whole tree as a crash would, and ``stop`` leaves nothing of it behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from contextlib import suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveProcess:
    def __init__(self, args: list[str], env: dict[str, str], log: Path, **popen) -> None:
        self.log_path = log
        self._log = log.open("wb")
        # Own process group: a test can kill -9 the whole tree, as a crash would.
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **popen,  # e.g. pass_fds, for a socket handed over as systemd does
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            return

    def stop(self, timeout: float = 30) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the main process stops its children
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill_group(signal.SIGKILL)
                self.proc.wait(10)
        self.kill_group(signal.SIGKILL)  # leftovers of the group, if any
        self._log.close()

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")


def children(pid: int) -> list[int]:
    """The pids of a process's children."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with suppress(OSError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return found


def cpu_seconds(pids: list[int], *, with_exited_children: bool = False) -> float:
    """User + system CPU time used so far by these processes.

    ``with_exited_children`` adds what their children that already exited used (gunicorn
    recycles its workers: a worker's CPU moves to its master when it is reaped).
    """
    ticks = os.sysconf("SC_CLK_TCK")
    last = 15 if with_exited_children else 13  # utime, stime[, cutime, cstime]
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(value) for value in fields[11:last]) / ticks
    return total


def descendants(pid: int) -> list[int]:
    """The pids of a process's children, their children, and so on."""
    found = children(pid)
    for child in list(found):
        found += descendants(child)
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU used so far by a process and all its descendants, exited ones included."""
    return cpu_seconds([pid], with_exited_children=True) + cpu_seconds(
        descendants(pid), with_exited_children=True
    )


def rss_bytes(pids: list[int]) -> int:
    """Resident memory of these processes now (those that have exited count 0)."""
    total = 0
    for pid in pids:
        with suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants now."""
    return rss_bytes([pid, *descendants(pid)])


def answers_health(base: str) -> bool:
    """Whether the API at ``base`` answers its health check with 200."""
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def wait_until(condition, timeout: float, describe=lambda: "", interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting; {describe()}"[-4000:])
