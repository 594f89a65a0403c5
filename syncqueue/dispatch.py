"""Waking the workers without a broker write per webhook.

After an ingest commits, ``request_drain`` only sets a flag. One daemon thread per API
process turns flags into at most one drain task per DISPATCH_DEBOUNCE_SECONDS: every event
that committed before that task starts is picked up by it. The worker's poll (every
WORKER_POLL_INTERVAL seconds) is the safety net for a dispatch lost in a crash.
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import connections

logger = logging.getLogger("tds.dispatch")

DISPATCH_DEBOUNCE_SECONDS = 0.05
DISPATCH_RETRY_SECONDS = 5.0  # the longest wait between tries while the broker is down
DRAIN_TASK = "syncqueue.tasks.drain_queue"


def enqueue_drains(count: int = 1, broker=None) -> None:
    """Put ``count`` drain tasks on the django-q2 broker (``broker``: one to reuse)."""
    from django_q.tasks import async_task

    # A drain's success is in the sync logs; django-q2 saving it too would cost five queries
    # per task in the cluster's one monitor process, which a stopping worker waits for.
    options = {"task_name": "drain queue", "save": False}
    if broker is not None:
        options["broker"] = broker
    for _ in range(count):
        async_task(DRAIN_TASK, q_options=dict(options))


def dispatch_drain(broker) -> bool:
    """Enqueue one drain task unless one still waits in ``broker``: that one starts after
    the caller's commit and picks its events up. Without this check, busy workers would
    find thousands of empty drains queued behind them. Returns whether it enqueued."""
    if broker.queue_size():
        return False
    enqueue_drains(1, broker)
    return True


class _Dispatcher:
    def __init__(self) -> None:
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        # Event.set takes a lock and notifies: skip it while the flag is up. The flag is
        # cleared just before a task is enqueued, so that task starts after this commit.
        if not self._wanted.is_set():
            self._wanted.set()
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._run, name="tds-drain-dispatch", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        # One broker for the thread's life: django-q2 builds a new one (for Redis, a new
        # connection, handshake included) on every async_task otherwise.
        broker = None
        failures = 0
        while True:
            self._wanted.wait()
            # Let the events of the next few milliseconds ride on the same task. (A sleep:
            # waiting on the flag again would return at once, since it is still set.)
            time.sleep(DISPATCH_DEBOUNCE_SECONDS)
            self._wanted.clear()
            try:
                if broker is None:
                    from django_q.brokers import get_broker

                    broker = get_broker()
                dispatch_drain(broker)
            except Exception as error:
                # The worker's poll picks the events up; keep the API unaffected, and while
                # the broker is down, try again now and then with one log line per outage.
                if not failures:
                    logger.warning("cannot dispatch drain tasks: %s", error)
                failures += 1
                broker = None
                connections.close_all()
                self._wanted.set()
                time.sleep(min(DISPATCH_DEBOUNCE_SECONDS * 2**failures, DISPATCH_RETRY_SECONDS))
                continue
            if failures:
                logger.info("drain tasks dispatched again after %d failed tries", failures)
                failures = 0


_dispatcher = _Dispatcher()


def request_drain() -> None:
    """Ask for a drain soon; cheap enough to call after every accepted webhook."""
    from django.conf import settings

    if getattr(settings, "DISPATCH_DRAINS", True):
        _dispatcher.request()
