"""The soak's faults, one every interval, in turn: a PostgreSQL restart (``-m fast``), Redis
killed (started again ``redis_down_for`` seconds later), and SIGKILL of the whole qcluster
process group (a new qcluster started at once, as systemd would)."""

from __future__ import annotations

import itertools
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import benchlib

from tests.instances import PrivatePostgres, PrivateRedis


class ReplaceableQcluster:
    """The running ``qcluster``; the worker fault kills it and starts another."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env, self.workdir = env, workdir
        self.generation = 1
        self.process = benchlib.start_qcluster(env, workdir, "worker-1")

    def kill_and_replace(self) -> str:
        old = self.process
        killed = 1 + len(benchlib.descendants(old.pid))
        old.kill_group(signal.SIGKILL)
        old.stop(5)  # reaps it and closes its log
        self.generation += 1
        self.process = benchlib.start_qcluster(self.env, self.workdir, f"worker-{self.generation}")
        new = self.process.pid
        return f"SIGKILL to {killed} processes of pid {old.pid}; new qcluster pid {new}"

    def stop(self) -> None:
        self.process.stop()


@dataclass(frozen=True)
class Injected:
    at: float  # seconds since the soak started
    fault: str
    took: float
    note: str


class Faults(threading.Thread):
    """Injects the next fault at ``first_at``, ``first_at + interval``, ... seconds, before
    ``until`` (the end of sending: the drain afterwards runs without faults)."""

    def __init__(
        self,
        postgres: PrivatePostgres,
        redis: PrivateRedis,
        qcluster: ReplaceableQcluster,
        first_at: float,
        interval: float,
        until: float,
        redis_down_for: float,
    ) -> None:
        super().__init__(daemon=True)
        self.postgres, self.redis, self.qcluster = postgres, redis, qcluster
        self.first_at, self.interval, self.until = first_at, interval, until
        self.redis_down_for = redis_down_for
        self.injected: list[Injected] = []
        self._finished = threading.Event()
        self._redis_back: threading.Timer | None = None
        self._start = time.monotonic()

    def run(self) -> None:
        self._start = time.monotonic()
        kinds = itertools.cycle(
            [
                ("PostgreSQL restart", self._restart_postgres),
                ("Redis kill", self._kill_redis),
                ("worker SIGKILL", self.qcluster.kill_and_replace),
            ]
        )
        for n in itertools.count():
            at = self.first_at + n * self.interval
            if at >= self.until:
                return
            if self._finished.wait(max(0.0, self._start + at - time.monotonic())):
                return
            name, inject = next(kinds)
            began = time.monotonic()
            note = inject()
            took = time.monotonic() - began
            self.injected.append(Injected(began - self._start, name, took, note))
            benchlib.log(f"fault at {began - self._start:.0f}s: {name} ({note})")

    def finish(self) -> None:
        """No more faults; Redis is running again when this returns."""
        self._finished.set()
        self.join()
        if self._redis_back is not None:
            self._redis_back.join()

    def _restart_postgres(self) -> str:
        self.postgres.restart("fast")
        return "pg_ctl restart -m fast"

    def _kill_redis(self) -> str:
        self.redis.kill()
        self._redis_back = threading.Timer(self.redis_down_for, self.redis.start)
        self._redis_back.start()
        return f"killed; started again {self.redis_down_for:.0f}s later"
