"""Alerts reach Slack and e-mail (real local servers); failures are kept and retried."""

from __future__ import annotations

import logging
from email import message_from_string

import pytest
from django.utils import timezone

from alerts import notify
from alerts.conditions import check_queue_backlog
from alerts.models import Alert
from alerts.monitor import record, run_monitor
from alerts.tests.servers import free_port
from syncqueue.models import QueueEntry
from tests.factories import DeadLetterFactory, QueueEntryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _small_thresholds(settings, live_worker):
    settings.ALERT_PENDING_WARNING, settings.ALERT_PENDING_CRITICAL = 1, 2


def backlog(n: int) -> None:
    QueueEntry.objects.all().delete()
    QueueEntryFactory.create_batch(n)


def test_slack_gets_json_on_open_escalation_and_resolution_only(slack):
    backlog(2)
    run_monitor()
    run_monitor()  # same warning again: no second message
    backlog(3)
    run_monitor()  # escalated
    run_monitor()
    backlog(2)
    run_monitor()  # de-escalated: not announced
    backlog(3)
    run_monitor()  # critical again: already announced at critical
    backlog(0)
    run_monitor()  # resolved
    run_monitor()

    texts = [message["text"] for message in slack.received]
    assert len(texts) == 3, texts
    assert "WARNING queue_backlog: 2 queue entries pending (threshold 1)" in texts[0]
    assert "ESCALATED to CRITICAL queue_backlog: 3 queue entries pending (threshold 2)" in texts[1]
    assert "RESOLVED queue_backlog (was critical)" in texts[2]
    first = slack.received[0]
    assert first["blocks"][0]["type"] == "section"
    assert "*seen:* 1 run\n" in first["blocks"][1]["text"]["text"]
    path, headers = slack.requests[0]
    assert path == slack.path
    assert headers["Content-Type"] == "application/json"
    alert = Alert.objects.get(code="queue_backlog")
    assert (alert.notify_pending, alert.delivery_error, alert.pending_channels) == (False, "", "")
    assert alert.notified_at is not None


def test_email_reaches_the_smtp_server(smtp):
    backlog(3)
    run_monitor()
    [(sender, recipients, content)] = smtp.messages
    assert sender == "tds-core@example.com"
    assert recipients == ["ops@example.com", "oncall@example.com"]
    message = message_from_string(content)
    assert message["Subject"].startswith("[TDS_Core] CRITICAL queue_backlog: 3 queue entries")
    body = message.get_payload()
    assert "threshold    2" in body and "seen         1 run\r\n" in body


def test_both_destinations_get_each_announcement(slack, smtp):
    backlog(2)
    run_monitor()
    backlog(0)
    run_monitor()
    assert len(slack.received) == 2
    assert len(smtp.messages) == 2
    assert "RESOLVED" in message_from_string(smtp.messages[1][2])["Subject"]


def test_a_slack_server_error_is_retried_within_the_run(slack):
    slack.statuses.extend([500, 503])
    backlog(2)
    run_monitor()
    assert len(slack.requests) == 3
    assert len(slack.received) == 1
    assert not Alert.objects.get().notify_pending


def test_a_destination_that_is_down_is_retried_on_the_next_run(settings, slack, smtp):
    # E-mail works; Slack is down for the first run.
    working_url = slack.url
    settings.ALERT_SLACK_WEBHOOK_URL = f"http://127.0.0.1:{free_port()}{slack.path}"
    backlog(2)
    report = run_monitor()  # must not raise
    assert Alert.objects.filter(code="queue_backlog").exists()
    alert = Alert.objects.get(code="queue_backlog")
    assert alert.notify_pending and alert.pending_channels == "slack"
    assert alert.delivery_error.startswith("Slack: ConnectError")
    assert alert.notify_attempts == 1
    assert [(d.channel, d.ok) for d in report.deliveries] == [("slack", False), ("email", True)]
    assert len(smtp.messages) == 1

    run_monitor()  # still down: still pending, counted
    assert Alert.objects.get(code="queue_backlog").notify_attempts == 2

    settings.ALERT_SLACK_WEBHOOK_URL = working_url
    run_monitor()
    alert = Alert.objects.get(code="queue_backlog")
    assert (alert.notify_pending, alert.delivery_error) == (False, "")
    assert len(slack.received) == 1 and "WARNING queue_backlog" in slack.received[0]["text"]
    assert len(smtp.messages) == 1, "the destination that took it is not sent it again"


def test_smtp_down_is_recorded_and_retried(settings, smtp):
    settings.EMAIL_URL = f"smtp://127.0.0.1:{free_port()}"
    backlog(2)
    run_monitor()
    alert = Alert.objects.get(code="queue_backlog")
    assert alert.notify_pending and alert.delivery_error.startswith("e-mail: ConnectionRefused")
    settings.EMAIL_URL = f"smtp://127.0.0.1:{smtp.port}"
    run_monitor()
    assert not Alert.objects.get(code="queue_backlog").notify_pending
    assert len(smtp.messages) == 1


def test_an_unconfigured_destination_is_an_error_on_the_alert(settings):
    settings.ALERT_SLACK_ENABLED = True  # but no ALERT_SLACK_WEBHOOK_URL
    backlog(2)
    run_monitor()
    alert = Alert.objects.get(code="queue_backlog")
    assert (
        alert.notify_pending and alert.delivery_error == "Slack: ALERT_SLACK_WEBHOOK_URL is not set"
    )


def test_a_rejected_message_is_not_hammered(slack):
    slack.statuses.extend([400, 400, 400])
    backlog(2)
    run_monitor()
    assert len(slack.requests) == 1, "4xx is not retried within the run"
    assert Alert.objects.get().notify_pending


def test_an_alert_resolved_before_it_could_be_sent_announces_the_resolution(settings, slack):
    working_url = slack.url
    settings.ALERT_SLACK_WEBHOOK_URL = f"http://127.0.0.1:{free_port()}/down"
    backlog(2)
    run_monitor()
    backlog(0)
    settings.ALERT_SLACK_WEBHOOK_URL = working_url
    run_monitor()
    assert [m["text"].split(" ")[2] for m in slack.received] == ["RESOLVED"]


def test_no_destination_enabled_sends_nothing_and_owes_nothing():
    backlog(2)
    run_monitor()
    alert = Alert.objects.get()
    assert not alert.notify_pending and alert.notified_severity == "warning"


def test_secrets_stay_out_of_errors_logs_and_admin(settings, slack, smtp, admin_client, caplog):
    secret_path = slack.path
    slack.statuses.extend([500, 500, 500])
    settings.EMAIL_URL = f"smtp://alerts:Pw-0f-the-SMTP@127.0.0.1:{free_port()}"
    caplog.set_level(logging.INFO)
    backlog(2)
    run_monitor()
    alert = Alert.objects.get()
    assert "HTTP 500" in alert.delivery_error and "e-mail" in alert.delivery_error
    page = admin_client.get(f"/admin/alerts/alert/{alert.pk}/change/").content.decode()
    listing = admin_client.get("/admin/alerts/alert/").content.decode()
    for text in (alert.delivery_error, caplog.text, page, listing):
        assert secret_path not in text
        assert "B0ALERT" not in text
        assert "Pw-0f-the-SMTP" not in text
    assert "***" in alert.delivery_error


def test_a_failing_destination_is_tried_once_per_run(settings, slack):
    settings.ALERT_DLQ_WARNING = 0
    slack.statuses.extend([500] * 5)
    backlog(2)  # queue_backlog
    DeadLetterFactory()  # dead_letters
    run_monitor()
    assert len(slack.requests) == 3, "three tries for the first alert, none for the second"
    pending = Alert.objects.filter(notify_pending=True)
    assert pending.count() == 2
    assert any("not tried" in a.delivery_error for a in pending)
    run_monitor()  # two more 500s, then the server takes both
    assert len(slack.requests) == 3 + 3 + 1
    assert len(slack.received) == 2
    assert not Alert.objects.filter(notify_pending=True).exists()


def test_deliveries_stop_when_the_budget_is_spent(slack):
    backlog(2)
    run_monitor()
    assert len(slack.received) == 1
    backlog(0)

    record(check_queue_backlog(timezone.now()), timezone.now())  # resolves it
    assert notify.deliver_pending(budget_seconds=0) == []
    assert Alert.objects.get().notify_pending
    assert len(notify.deliver_pending()) == 1
    assert len(slack.received) == 2
