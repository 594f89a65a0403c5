"""``manage.py qcluster``: django-q2's cluster, plus the worker heartbeat and the poll.

The cluster runs the drain tasks. This process, which otherwise only waits for it, beats
every WORKER_POLL_INTERVAL seconds and, when entries are due but nothing is queued for the
workers (a dispatch lost in a crash, a retry whose delay ran out), enqueues drain tasks.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import uuid

from django.conf import settings
from django.db import connections
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.management.commands.qcluster import Command as QClusterCommand

from syncqueue.claims import has_claimable_entries
from syncqueue.dispatch import enqueue_drains
from syncqueue.heartbeat import beat, sign_off
from syncqueue.shutdown import request_stop, share_stop_request

logger = logging.getLogger("tds.worker")


class Command(QClusterCommand):
    help = "Start the TDS Core worker: a django-q2 cluster with heartbeat and queue poll."

    def handle(self, *args, **options):
        if options.get("run_once"):
            return super().handle(*args, **options)
        from django_q.cluster import Cluster

        share_stop_request()  # before the cluster forks its processes
        cluster = Cluster()
        name = f"{socket.gethostname()}:{cluster.cluster_id.hex[:8]}:{uuid.uuid4().hex[:4]}"
        stop = threading.Event()

        # Replaces the handlers Cluster() installed, which stop the cluster inside the handler:
        # that join could interrupt this process mid-transaction (a heartbeat on SQLite holds
        # the database's one write lock) while the stopping sentinel waits for that lock.
        # Here the handler only asks; the cluster is stopped below, outside any transaction.
        def handler(signum, frame):
            stop.set()
            request_stop()

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, handler)
        cluster.start()
        started = timezone.now()
        broker = get_broker()
        logger.info("worker started", extra={"worker": name})
        failures = 0
        while not stop.is_set() and cluster.sentinel.is_alive():
            try:
                beat(name, started)
                if broker.queue_size() == 0 and has_claimable_entries():
                    enqueue_drains(settings.WORKER_CONCURRENCY, broker)
            except Exception:  # the database or the broker is away: wait for it
                if not failures:  # one line per outage, not one per interval
                    logger.exception("worker poll failed; trying again every interval")
                failures += 1
                connections.close_all()
            else:
                if failures:
                    logger.info("worker poll works again after %d failures", failures)
                    failures = 0
            stop.wait(settings.WORKER_POLL_INTERVAL)
        cluster.stop()
        try:
            sign_off(name)
        except Exception:  # the database is away: the monitor will call this host lost
            logger.exception("worker could not record its graceful stop")
        connections.close_all()
