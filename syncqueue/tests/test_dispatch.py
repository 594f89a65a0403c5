"""Waking the workers after a commit: at most one drain task waits in the broker."""

from __future__ import annotations

import pytest
from django_q.brokers.orm import ORM

from syncqueue.dispatch import DRAIN_TASK, dispatch_drain

pytestmark = pytest.mark.django_db


def test_a_drain_waiting_in_the_broker_makes_another_needless():
    broker = ORM(list_key="dispatch-test")
    assert dispatch_drain(broker) is True
    assert dispatch_drain(broker) is False  # the waiting one starts after this commit
    assert broker.queue_size() == 1
    assert broker.dequeue()  # a worker's pusher takes it: it may already be running
    assert dispatch_drain(broker) is True
    assert broker.queue_size() == 1


def test_drain_results_are_not_saved_by_the_cluster_monitor():
    from django_q.signing import SignedPackage

    broker = ORM(list_key="dispatch-test")
    dispatch_drain(broker)
    (_, package), *_ = broker.dequeue()
    task = SignedPackage.loads(package)
    assert task["func"] == DRAIN_TASK
    assert task["save"] is False
