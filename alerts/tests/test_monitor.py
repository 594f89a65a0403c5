"""CONTRACT §7: every condition raises, escalates in place, deduplicates and resolves."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts import conditions
from alerts.models import Alert
from alerts.monitor import run_monitor
from syncqueue.models import DeadLetter, QueueEntry, SyncLog, WorkerHeartbeat
from tests.factories import (
    AlertFactory,
    DeadLetterFactory,
    QueueEntryFactory,
    SyncLogFactory,
    WorkerHeartbeatFactory,
)

pytestmark = pytest.mark.django_db


# -- drivers: put the database in the state of a level ("clear", "warning", "critical") --


def _pending(n: int) -> None:
    QueueEntry.objects.filter(status="pending").delete()
    QueueEntryFactory.create_batch(n)


def drive_queue_backlog(level: str, settings) -> None:
    settings.ALERT_PENDING_WARNING, settings.ALERT_PENDING_CRITICAL = 3, 6
    _pending({"clear": 3, "warning": 4, "critical": 7}[level])  # exceeded, not reached


def drive_dead_letters(level: str, settings) -> None:
    settings.ALERT_DLQ_WARNING, settings.ALERT_DLQ_CRITICAL = 1, 2
    DeadLetter.objects.all().delete()
    DeadLetterFactory.create_batch({"clear": 1, "warning": 2, "critical": 3}[level])
    DeadLetterFactory(resolved=True)  # resolved ones never count


def drive_failure_rate(level: str, settings) -> None:
    SyncLog.objects.all().delete()
    failed = {"clear": 5, "warning": 6, "critical": 11}[level]  # of 100; 5% and 10% are fine
    SyncLogFactory.create_batch(100 - failed, outcome="applied")
    SyncLogFactory.create_batch(failed - failed // 2, outcome="failed")
    SyncLogFactory.create_batch(failed // 2, outcome="dead_letter")
    # Attempts older than an hour are outside the window.
    SyncLogFactory.create_batch(
        50, outcome="failed", created_at=timezone.now() - timedelta(hours=2)
    )


def drive_oldest_pending(level: str, settings) -> None:
    QueueEntry.objects.all().delete()
    age = {"clear": 0, "warning": 11, "critical": 31}[level]
    QueueEntryFactory(created_at=timezone.now() - timedelta(minutes=age))
    QueueEntryFactory()


DRIVERS = {
    "queue_backlog": drive_queue_backlog,
    "dead_letters": drive_dead_letters,
    "failure_rate": drive_failure_rate,
    "oldest_pending": drive_oldest_pending,
}


def unresolved(code: str) -> list[Alert]:
    return list(Alert.objects.filter(code=code).exclude(status="resolved"))


@pytest.mark.parametrize("code", sorted(DRIVERS))
def test_graded_condition_lifecycle(code, settings, live_worker):
    drive = DRIVERS[code]

    drive("clear", settings)
    run_monitor()
    assert not Alert.objects.filter(code=code).exists()

    drive("warning", settings)
    run_monitor()
    [alert] = unresolved(code)
    assert (alert.severity, alert.status, alert.seen_count) == ("warning", "open", 1)
    first_seen = alert.first_seen_at

    run_monitor()  # still warning: the same row, seen again
    [again] = unresolved(code)
    assert again.pk == alert.pk and again.seen_count == 2
    assert again.last_seen_at >= again.first_seen_at == first_seen

    drive("critical", settings)
    run_monitor()
    [escalated] = unresolved(code)
    assert escalated.pk == alert.pk, "escalation happens in place"
    assert (escalated.severity, escalated.seen_count) == ("critical", 3)
    assert escalated.value > escalated.threshold

    drive("clear", settings)
    run_monitor()
    assert unresolved(code) == []
    resolved = Alert.objects.get(pk=alert.pk)
    assert resolved.status == "resolved" and resolved.resolved_at is not None

    run_monitor()  # stays clear: nothing new
    assert Alert.objects.filter(code=code).count() == 1

    drive("warning", settings)
    run_monitor()
    [reopened] = unresolved(code)
    assert reopened.pk != alert.pk, "a new occurrence is a new alert"


def test_contract_default_thresholds_for_the_backlog(live_worker):
    QueueEntryFactory.create_batch(500)
    run_monitor()
    assert not Alert.objects.filter(code="queue_backlog").exists()  # 500 is not > 500
    QueueEntryFactory.create_batch(1)
    run_monitor()
    assert Alert.objects.get(code="queue_backlog").severity == "warning"
    QueueEntryFactory.create_batch(500)
    run_monitor()
    alert = Alert.objects.get(code="queue_backlog")
    assert (alert.severity, alert.value, alert.threshold) == ("critical", 1001, 1000)
    assert alert.message == "1001 queue entries pending (threshold 1000)"


def test_failure_rate_is_a_decimal_share_of_the_last_hour(settings, live_worker):
    drive_failure_rate("critical", settings)
    run_monitor()
    alert = Alert.objects.get(code="failure_rate")
    assert alert.value == Decimal("0.11")
    assert alert.threshold == Decimal("0.10")
    assert "11% of attempts failed in the last hour (11 of 100" in alert.message


def test_no_attempts_means_no_failure_rate_alert(live_worker):
    SyncLogFactory.create_batch(3, outcome="failed", created_at=timezone.now() - timedelta(hours=3))
    run_monitor()
    assert not Alert.objects.filter(code="failure_rate").exists()


def test_a_de_escalated_alert_stays_the_same_row(settings, live_worker):
    drive_queue_backlog("critical", settings)
    run_monitor()
    drive_queue_backlog("warning", settings)
    run_monitor()
    [alert] = unresolved("queue_backlog")
    assert (alert.severity, alert.seen_count) == ("warning", 2)


def test_stuck_events_are_critical_until_they_move(settings, live_worker):
    settings.STUCK_EVENT_SECONDS = 900
    now = timezone.now()
    # In processing under a live lease: fine.
    QueueEntryFactory(processing=True, locked_until=now + timedelta(minutes=5), updated_at=now)
    run_monitor()
    assert not Alert.objects.filter(code="stuck_events").exists()

    expired = QueueEntryFactory(
        processing=True, locked_until=now - timedelta(seconds=1), updated_at=now
    )
    stale = QueueEntryFactory(
        processing=True,
        locked_until=now + timedelta(minutes=1),
        updated_at=now - timedelta(minutes=16),
    )
    run_monitor()
    run_monitor()
    [alert] = unresolved("stuck_events")
    assert (alert.severity, alert.value, alert.seen_count) == ("critical", 2, 2)
    assert "2 queue entries stuck in processing for more than 15 min" in alert.message

    QueueEntry.objects.filter(pk__in=[expired.pk, stale.pk]).update(status="completed")
    run_monitor()
    assert unresolved("stuck_events") == []


def test_a_replayed_entry_waits_since_its_replay(live_worker):
    QueueEntryFactory(
        created_at=timezone.now() - timedelta(days=3), replayed=True, next_attempt_at=timezone.now()
    )
    run_monitor()
    assert not Alert.objects.filter(code="oldest_pending").exists()


def test_oldest_pending_thresholds_are_configurable(settings, live_worker):
    settings.ALERT_OLDEST_PENDING_WARNING_SECONDS = 30
    settings.ALERT_OLDEST_PENDING_CRITICAL_SECONDS = 60
    QueueEntryFactory(created_at=timezone.now() - timedelta(seconds=45))
    run_monitor()
    alert = Alert.objects.get(code="oldest_pending")
    assert (alert.severity, alert.threshold) == ("warning", 30)


class TestWorkerDown:
    def test_fresh_install_with_no_worker_and_no_work_is_quiet(self):
        run_monitor()
        assert not Alert.objects.filter(code="worker_down").exists()

    def test_work_waiting_and_no_worker_ever(self):
        QueueEntryFactory()
        run_monitor()
        alert = Alert.objects.get(code="worker_down")
        assert alert.severity == "critical"
        assert "no worker has ever started and 1 entries are waiting" in alert.message

    def test_a_worker_that_stopped_beating_then_came_back(self):
        beat = WorkerHeartbeatFactory(last_beat_at=timezone.now() - timedelta(minutes=2))
        run_monitor()
        run_monitor()
        [alert] = unresolved("worker_down")
        assert (alert.severity, alert.seen_count) == ("critical", 2)
        assert alert.value >= 120 and alert.threshold == 30
        assert beat.name in alert.message

        WorkerHeartbeat.objects.filter(pk=beat.pk).update(last_beat_at=timezone.now())
        run_monitor()
        assert unresolved("worker_down") == []

    def test_a_restarted_worker_replaces_its_dead_predecessor_on_the_same_host(self):
        WorkerHeartbeatFactory(
            host="app-1", pid=1, last_beat_at=timezone.now() - timedelta(hours=1)
        )
        WorkerHeartbeatFactory(host="app-1", pid=2)
        QueueEntryFactory()
        run_monitor()
        assert not Alert.objects.filter(code="worker_down").exists()

    def test_a_lost_host_is_named_while_another_host_carries_the_work(self):
        lost = WorkerHeartbeatFactory(
            host="app-2", last_beat_at=timezone.now() - timedelta(minutes=3)
        )
        WorkerHeartbeatFactory(host="app-1")
        run_monitor()
        [alert] = unresolved("worker_down")
        assert alert.severity == "critical"
        assert alert.message.startswith("worker host app-2 silent for 18")
        assert "app-1" not in alert.message

        WorkerHeartbeatFactory(host="app-2", pid=7)  # the host is back, a new worker beats
        run_monitor()
        assert unresolved("worker_down") == []
        lost.refresh_from_db()  # the old row stays as history; the host is what counts
        assert lost.stopped_at is None

    def test_a_host_stopped_gracefully_or_silent_for_a_day_is_not_lost(self):
        WorkerHeartbeatFactory(
            host="app-2",
            last_beat_at=timezone.now() - timedelta(minutes=3),
            stopped_at=timezone.now() - timedelta(minutes=3),
        )
        WorkerHeartbeatFactory(host="app-3", last_beat_at=timezone.now() - timedelta(hours=25))
        WorkerHeartbeatFactory(host="app-1")
        run_monitor()
        assert not Alert.objects.filter(code="worker_down").exists()

    def test_when_every_worker_is_silent_the_lost_hosts_are_named_too(self):
        WorkerHeartbeatFactory(host="app-1", last_beat_at=timezone.now() - timedelta(minutes=2))
        WorkerHeartbeatFactory(host="app-2", last_beat_at=timezone.now() - timedelta(minutes=3))
        run_monitor()
        [alert] = unresolved("worker_down")
        assert "lost: app-1 silent for 12" in alert.message
        assert "app-2 silent for 18" in alert.message


def test_acknowledged_alert_is_reopened_by_escalation(settings, live_worker):
    drive_queue_backlog("warning", settings)
    run_monitor()
    Alert.objects.update(
        status="acknowledged", acknowledged_by="ops", acknowledged_at=timezone.now()
    )
    run_monitor()  # still warning: the acknowledgement holds
    assert Alert.objects.get().status == "acknowledged"
    drive_queue_backlog("critical", settings)
    run_monitor()
    alert = Alert.objects.get(code="queue_backlog")
    assert (alert.status, alert.severity, alert.acknowledged_by) == ("open", "critical", "")


def test_acknowledged_alert_resolves_when_clear(settings, live_worker):
    drive_queue_backlog("warning", settings)
    run_monitor()
    Alert.objects.update(status="acknowledged", acknowledged_by="ops")
    drive_queue_backlog("clear", settings)
    run_monitor()
    assert Alert.objects.get(code="queue_backlog").status == "resolved"


def test_at_most_one_unresolved_alert_per_code_in_the_database():
    AlertFactory(code="dead_letters", status="resolved")
    AlertFactory(code="dead_letters", status="resolved")
    AlertFactory(code="dead_letters", status="acknowledged")
    with pytest.raises(IntegrityError), transaction.atomic():
        AlertFactory(code="dead_letters", status="open")


def test_a_failing_check_does_not_stop_the_others(monkeypatch, settings, live_worker, caplog):
    def broken(now):
        raise RuntimeError("boom")

    broken.__name__ = "check_dead_letters"
    monkeypatch.setattr(
        "alerts.monitor.CONDITIONS",
        tuple(broken if c is conditions.check_dead_letters else c for c in conditions.CONDITIONS),
    )
    drive_queue_backlog("critical", settings)
    report = run_monitor()
    assert [f.code for f in report.errors] == ["dead_letters"]
    assert Alert.objects.get(code="queue_backlog").severity == "critical"
    assert "monitor check failed" in caplog.text
    assert "checks failed: dead_letters" in report.summary()


def test_a_delivery_crash_does_not_stop_the_monitor(monkeypatch, settings, live_worker):
    def crash():
        raise RuntimeError("delivery bug")

    monkeypatch.setattr("alerts.monitor.notify.deliver_pending", crash)
    drive_queue_backlog("warning", settings)
    report = run_monitor()  # must not raise
    assert report.deliveries == []
    assert Alert.objects.filter(code="queue_backlog").exists()
