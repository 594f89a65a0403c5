"""The monitor's django-q2 schedule and ``manage.py tds_monitor``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.models import Schedule

from alerts.models import Alert
from alerts.monitor import run_scheduled
from alerts.schedule import SCHEDULE_NAME, ensure_monitor_schedule
from syncqueue.models import WorkerHeartbeat
from tests.factories import QueueEntryFactory, WorkerHeartbeatFactory

pytestmark = pytest.mark.django_db


def test_migrate_installed_the_schedule():
    # post_migrate ran when the test database was created.
    schedule = Schedule.objects.get(name=SCHEDULE_NAME)
    assert schedule.func == "alerts.monitor.run_scheduled"
    assert (schedule.schedule_type, schedule.repeats) == (Schedule.MINUTES, -1)


@pytest.mark.parametrize(("interval", "minutes"), [(300, 5), (90, 1), (30, 1), (3600, 60)])
def test_interval_in_whole_minutes_never_below_one(settings, interval, minutes):
    settings.MONITORING_INTERVAL = interval
    ensure_monitor_schedule()
    ensure_monitor_schedule()
    [schedule] = Schedule.objects.filter(name=SCHEDULE_NAME)
    assert schedule.minutes == minutes


def test_ensure_monitor_schedule_leaves_the_next_run_alone():
    Schedule.objects.filter(name=SCHEDULE_NAME).delete()
    schedule, created = ensure_monitor_schedule()
    assert created
    first_next_run = schedule.next_run
    again, created = ensure_monitor_schedule()
    assert not created and again.next_run == first_next_run


def test_tds_monitor_once_prints_what_it_found(capsys, settings):
    settings.ALERT_PENDING_WARNING = 0
    QueueEntryFactory()
    call_command("tds_monitor", "--once")
    out = capsys.readouterr().out
    assert "queue_backlog   WARNING  opened      1 queue entries pending (threshold 0)" in out
    assert "dead_letters    OK       clear" in out
    assert "worker_down     CRITICAL opened" in out
    assert Alert.objects.filter(code="queue_backlog").exists()


def test_tds_monitor_needs_an_action():
    with pytest.raises(CommandError):
        call_command("tds_monitor")


def test_tds_monitor_schedule(capsys):
    call_command("tds_monitor", "--schedule")
    assert "every 5 min" in capsys.readouterr().out


def test_the_scheduled_task_returns_a_summary(settings):
    assert run_scheduled() == "all clear"
    settings.ALERT_PENDING_WARNING = 0
    QueueEntryFactory()
    assert run_scheduled() == "queue_backlog=warning(opened), worker_down=critical(opened)"


@pytest.mark.django_db
def test_a_spawned_worker_brings_the_schedule_in_line(settings):
    from django_q.models import Schedule
    from django_q.signals import post_spawn

    from alerts.schedule import SCHEDULE_NAME

    settings.MONITORING_INTERVAL = 600
    post_spawn.send(sender="django_q", proc_name="test")
    assert Schedule.objects.get(name=SCHEDULE_NAME).minutes == 10


def test_only_worker_down_raises_and_resolves_it_without_a_worker(capsys, settings):
    """What the API host's watchdog timer runs: the only worker is dead, so no monitor of
    its own reports it."""
    settings.ALERT_PENDING_WARNING = 0  # a backlog too, which --only leaves alone
    QueueEntryFactory()
    beat = WorkerHeartbeatFactory(last_beat_at=timezone.now() - timedelta(minutes=5))

    call_command("tds_monitor", "--once", "--only", "worker_down")
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines] == [["worker_down", "CRITICAL", "opened"]]
    assert list(Alert.objects.values_list("code", "status")) == [("worker_down", "open")]

    WorkerHeartbeat.objects.filter(pk=beat.pk).update(last_beat_at=timezone.now())
    call_command("tds_monitor", "--once", "--only", "worker_down")
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines] == [["worker_down", "OK", "resolved"]]
    assert list(Alert.objects.values_list("code", "status")) == [("worker_down", "resolved")]


def test_only_needs_once_and_a_known_code():
    with pytest.raises(CommandError, match="--only goes with --once"):
        call_command("tds_monitor", "--schedule", "--only", "worker_down")
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("tds_monitor", "--once", "--only", "worker_up")
