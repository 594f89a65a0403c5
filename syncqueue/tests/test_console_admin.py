"""The Django admin as the operator console: pages, actions, who may use them, query counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.utils import timezone

from inbox.models import InboxEvent
from syncqueue.models import DeadLetter, QueueEntry, Status, SyncLog
from syncqueue.processing import drain
from tests.factories import (
    DeadLetterFactory,
    InboxEventFactory,
    QueueEntryFactory,
    SyncLogFactory,
    UserFactory,
    zoho_record,
)

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "/admin/",
    "/admin/inbox/inboxevent/",
    "/admin/syncqueue/queueentry/",
    "/admin/syncqueue/deadletter/",
    "/admin/syncqueue/synclog/",
    "/admin/entities/product/",
    "/admin/entities/invoice/",
]


def _action(client, model: str, action: str, ids: list[int], **extra):
    data = {"action": action, "_selected_action": [str(i) for i in ids], "index": "0", **extra}
    return client.post(f"/admin/syncqueue/{model}/", data)


def _confirm(client, model: str, action: str, ids: list[int], **extra):
    """The second step of an action with an intermediate page (no "index" in the form)."""
    data = {"action": action, "_selected_action": [str(i) for i in ids], "apply": "yes", **extra}
    return client.post(f"/admin/syncqueue/{model}/", data)


def _messages(client) -> list[str]:
    """The messages the last action left for the next page."""
    return [str(m) for m in client.get("/admin/syncqueue/queueentry/").context["messages"]]


# --- who may see and do what ------------------------------------------------------------


@pytest.mark.parametrize("url", CHANGELISTS)
def test_anonymous_and_non_staff_are_sent_to_login(client, plain_user, url):
    assert client.get(url).status_code == 302
    client.force_login(plain_user)
    response = client.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize("url", CHANGELISTS)
def test_a_token_does_not_open_the_admin(client, staff_token, url):
    response = client.get(url, HTTP_AUTHORIZATION=f"Token {staff_token}")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize("url", CHANGELISTS)
def test_staff_see_every_page(staff_client, url):
    QueueEntryFactory(event=InboxEventFactory(entity="invoices"))
    QueueEntryFactory(entity="products")
    assert drain("test:1", budget_seconds=10) == 2  # ERP rows and sync logs to list
    DeadLetterFactory()
    response = staff_client.get(url)
    assert response.status_code == 200
    if url == "/admin/":
        assert 'id="tds-dashboard"' in response.content.decode()
    else:
        model = "{}.{}".format(*url.split("/")[2:4])
        rows = response.context["cl"].result_list
        assert rows and {row._meta.label_lower for row in rows} == {model}


ACTIONS = [
    ("deadletter", "replay_selected"),
    ("deadletter", "mark_resolved"),
    ("deadletter", "replay_matching"),
    ("queueentry", "retry_now"),
    ("queueentry", "dead_letter"),
]


def _target(model: str) -> int:
    if model == "deadletter":
        return DeadLetterFactory().pk
    return QueueEntryFactory(failed=True).pk


def _untouched() -> bool:
    dead = DeadLetter.objects.filter(replay_count=0, resolved=False)
    return (
        not LogEntry.objects.exists()
        and not QueueEntry.objects.filter(status=Status.PENDING).exists()
        and dead.count() == DeadLetter.objects.count()
    )


@pytest.mark.parametrize(("model", "action"), ACTIONS)
def test_actions_refuse_anonymous_non_staff_and_tokens(
    client, plain_user, staff_token, model, action
):
    pk = _target(model)
    for attempt in ("anonymous", "token", "non-staff"):
        if attempt == "non-staff":
            client.force_login(plain_user)
        extra = {"HTTP_AUTHORIZATION": f"Token {staff_token}"} if attempt == "token" else {}
        data = {"action": action, "_selected_action": [str(pk)], "index": "0", "note": "x"}
        response = client.post(f"/admin/syncqueue/{model}/", data, **extra)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], attempt
        confirm = {"action": action, "_selected_action": [str(pk)], "apply": "yes", "note": "x"}
        client.post(f"/admin/syncqueue/{model}/", confirm, **extra)
        assert _untouched(), attempt
    assert client.post("/admin/syncqueue/deadletter/replay-matching/").status_code == 302
    assert _untouched()


@pytest.mark.parametrize(("model", "action"), ACTIONS)
def test_actions_refuse_staff_without_the_change_permission(client, model, action):
    viewer = UserFactory(username="viewer", staff=True)
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    client.force_login(viewer)
    pk = _target(model)
    assert client.get(f"/admin/syncqueue/{model}/").status_code == 200
    _action(client, model, action, [pk], note="x")
    _confirm(client, model, action, [pk], note="x")
    assert client.post("/admin/syncqueue/deadletter/replay-matching/").status_code == 403
    assert _untouched()


# --- dead letters ---------------------------------------------------------------------


def test_replay_selected_requeues_and_records_the_person(staff_client, staff):
    dead = DeadLetterFactory()
    other = DeadLetterFactory(record_id="2")
    response = _action(staff_client, "deadletter", "replay_selected", [dead.pk])
    assert response.status_code == 302
    dead.refresh_from_db()
    other.refresh_from_db()
    assert dead.replay_count == 1 and dead.replayed_by == "ops (admin)"
    assert other.replay_count == 0
    assert dead.entry.__class__.objects.get(pk=dead.entry_id).status == Status.PENDING
    log = LogEntry.objects.get()
    assert (log.user, log.object_id) == (staff, str(dead.pk))


def test_replay_all_matching_uses_the_filter_not_the_selection(staff_client, staff):
    products = [DeadLetterFactory(record_id=str(i)).pk for i in range(3)]
    invoice = DeadLetterFactory(entity="invoices", record_id="9")
    resolved = DeadLetterFactory(record_id="10", resolved=True)
    url = "/admin/syncqueue/deadletter/?entity=products"
    started = staff_client.post(
        url, {"action": "replay_matching", "_selected_action": [str(products[0])], "index": "0"}
    )
    assert started.status_code == 302
    assert "replay-matching/?entity=products" in started["Location"]
    page = staff_client.get(started["Location"])
    assert page.status_code == 200 and b"3 of them unresolved" in page.content
    assert DeadLetter.objects.filter(replay_count=1).count() == 0  # nothing yet
    done = staff_client.post(started["Location"])
    assert done.status_code == 302 and done["Location"].endswith("?entity=products")
    assert set(DeadLetter.objects.filter(replay_count=1).values_list("pk", flat=True)) == set(
        products
    )
    invoice.refresh_from_db()
    resolved.refresh_from_db()
    assert invoice.replay_count == 0 and resolved.replay_count == 0
    assert LogEntry.objects.filter(user=staff).count() == 3


def test_mark_resolved_asks_for_a_note_then_records_it(staff_client, staff):
    dead = DeadLetterFactory()
    form = _action(staff_client, "deadletter", "mark_resolved", [dead.pk])
    assert form.status_code == 200 and b'name="note"' in form.content
    assert not DeadLetter.objects.get().resolved
    empty = _confirm(staff_client, "deadletter", "mark_resolved", [dead.pk], note="")
    assert empty.status_code == 200 and not DeadLetter.objects.get().resolved
    done = _confirm(staff_client, "deadletter", "mark_resolved", [dead.pk], note="fixed by hand")
    assert done.status_code == 302
    dead.refresh_from_db()
    assert dead.resolved and dead.resolved_by == "ops (admin)"
    assert dead.resolution_note == "fixed by hand" and dead.resolved_at is not None
    assert "fixed by hand" in LogEntry.objects.get(user=staff).change_message


def test_dead_letter_page_shows_error_traceback_and_payload(staff_client):
    dead = DeadLetterFactory(error="ValueError: total: 'abc' <b>not</b> a number")
    page = staff_client.get(f"/admin/syncqueue/deadletter/{dead.pk}/change/").content.decode()
    assert "total: &#x27;abc&#x27; &lt;b&gt;not&lt;/b&gt;" in page  # escaped, whole
    assert "Traceback (most recent call last)" in page
    assert f"&quot;item_id&quot;: &quot;{dead.record_id}&quot;" in page  # pretty-printed payload
    assert f"/admin/syncqueue/synclog/?entry_id={dead.entry_id}" in page


def test_dead_letters_default_to_the_open_ones(staff_client):
    DeadLetterFactory(record_id="111")
    DeadLetterFactory(record_id="222", resolved=True)
    page = staff_client.get("/admin/syncqueue/deadletter/").content.decode()
    assert "111" in page and "222" not in page
    assert "222" in staff_client.get("/admin/syncqueue/deadletter/?state=all").content.decode()


# --- queue --------------------------------------------------------------------------------


def test_retry_now_makes_failed_entries_due(staff_client, staff):
    later = timezone.now() + timedelta(hours=1)
    failed = QueueEntryFactory(failed=True, next_attempt_at=later)
    done = QueueEntryFactory(completed=True, record_id="2")
    response = _action(staff_client, "queueentry", "retry_now", [failed.pk, done.pk])
    assert response.status_code == 302
    failed.refresh_from_db()
    done.refresh_from_db()
    assert failed.status == Status.PENDING and failed.next_attempt_at <= timezone.now()
    assert done.status == Status.COMPLETED
    assert list(LogEntry.objects.values_list("object_id", flat=True)) == [str(failed.pk)]
    assert _messages(staff_client) == ["1 failed entry due now; 1 not failed, left alone."]


def test_dead_letter_action_gives_up_with_a_note(staff_client, staff):
    pending = QueueEntryFactory(attempts=1)
    done = QueueEntryFactory(completed=True, record_id="2")
    form = _action(staff_client, "queueentry", "dead_letter", [pending.pk, done.pk])
    assert form.status_code == 200 and b'name="note"' in form.content
    assert not DeadLetter.objects.exists()
    response = _confirm(
        staff_client, "queueentry", "dead_letter", [pending.pk, done.pk], note="bad data in Zoho"
    )
    assert response.status_code == 302
    pending.refresh_from_db()
    done.refresh_from_db()
    assert pending.status == Status.DEAD_LETTER and done.status == Status.COMPLETED
    dead = DeadLetter.objects.get()
    assert dead.entry_id == pending.pk and not dead.resolved
    assert dead.error == "Dead-lettered by ops (admin): bad data in Zoho"
    assert dead.payload == pending.payload
    assert _messages(staff_client) == ["1 entry dead-lettered; 1 already finished, left alone."]


def test_dead_letter_action_reopens_an_existing_dead_letter(staff_client):
    dead = DeadLetterFactory(resolved=True)
    entry = dead.entry
    entry.status = Status.FAILED  # e.g. replayed, then failed again
    entry.save()
    _confirm(staff_client, "queueentry", "dead_letter", [entry.pk], note="again")
    dead.refresh_from_db()
    assert not dead.resolved and dead.error.endswith("again")
    assert DeadLetter.objects.count() == 1


def test_queue_entry_page_shows_attempts_from_the_log_in_one_query(
    staff_client, django_assert_max_num_queries
):
    entry = QueueEntryFactory(failed=True)
    for attempt in (1, 2):
        SyncLogFactory(
            entry=entry,
            outcome="failed",
            attempt=attempt,
            error=f"ValueError: attempt {attempt} broke",
        )
    SyncLogFactory(
        entry=QueueEntryFactory(record_id="other"), outcome="failed", error="not this one"
    )
    url = f"/admin/syncqueue/queueentry/{entry.pk}/change/"
    page = staff_client.get(url).content.decode()
    assert "attempt 1 broke" in page and "attempt 2 broke" in page and "not this one" not in page
    with django_assert_max_num_queries(12):  # session, user, entry, dead letter, logs
        staff_client.get(url)


def test_queue_age_filter(staff_client):
    QueueEntryFactory(record_id="young-one")
    QueueEntryFactory(record_id="old-one", created_at=timezone.now() - timedelta(days=3))
    page = staff_client.get("/admin/syncqueue/queueentry/?age=7d").content.decode()
    assert "old-one" in page and "young-one" not in page
    page = staff_client.get("/admin/syncqueue/queueentry/?age=1h").content.decode()
    assert "young-one" in page and "old-one" not in page


# --- inbox ----------------------------------------------------------------------------------


def test_inbox_search_by_ids_key_and_payload_text(staff_client):
    first = InboxEventFactory(record_id="4815162342", idempotency_key="key-abc")
    QueueEntryFactory(event=first, payload=zoho_record("products", "4815162342", name="Blue Anvil"))
    second = InboxEventFactory(
        record_id="777", raw_body=b'{"item": {"item_id": "777", "name": "Red Kettle"}}'
    )
    rejected = InboxEventFactory(
        rejected=True, raw_body=b"\xff\xfe not json Zebra", rejection_reason="body is not JSON"
    )

    def found(term: str) -> set[int]:
        response = staff_client.get("/admin/inbox/inboxevent/", {"q": term})
        assert response.status_code == 200
        return {obj.pk for obj in response.context["cl"].result_list}

    assert found("4815162342") == {first.pk}
    assert found("key-abc") == {first.pk}
    assert found("blue anvil") == {first.pk}  # in the queued record, any case
    assert found("Red Kettle") == {second.pk}  # in the raw body
    assert found("Zebra") == {rejected.pk}  # a body that is not even UTF-8
    assert found("nothing-like-this") == set()


def test_inbox_filters_and_detail_page(staff_client):
    event = InboxEventFactory(record_id="55", headers={"x-zoho-event": "item.updated"})
    entry = QueueEntryFactory(event=event)
    rejected = InboxEventFactory(rejected=True, rejection_reason="no record id")
    InboxEventFactory(entity="invoices", operation="delete", auth_method="token")

    def listed(query: str) -> set[int]:
        response = staff_client.get(f"/admin/inbox/inboxevent/?{query}")
        return {e.pk for e in response.context["cl"].result_list}

    assert listed("validity__exact=rejected") == {rejected.pk}
    assert listed("entity=products") == {event.pk}
    assert listed("operation=update") == {event.pk}
    assert listed("auth_method__exact=signature") == {event.pk, rejected.pk}

    page = staff_client.get(f"/admin/inbox/inboxevent/{event.pk}/change/").content.decode()
    assert "&quot;item_id&quot;: &quot;55&quot;" in page  # the body, indented
    assert "item.updated" in page
    assert f"/admin/syncqueue/queueentry/{entry.pk}/change/" in page
    assert f"/admin/syncqueue/synclog/?entry_id={entry.pk}" in page
    assert 'name="_save"' not in page  # read-only


def test_sync_logs_are_read_only_and_filter_by_entry(staff_client):
    entry = QueueEntryFactory(failed=True)
    log = SyncLogFactory(entry=entry, outcome="failed")
    SyncLogFactory(entry=QueueEntryFactory(failed=True, record_id="2"), outcome="failed")
    listed = staff_client.get(f"/admin/syncqueue/synclog/?entry_id={entry.pk}")
    assert [row.pk for row in listed.context["cl"].result_list] == [log.pk]
    page = staff_client.get(f"/admin/syncqueue/synclog/{log.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    assert staff_client.get("/admin/syncqueue/synclog/add/").status_code == 403
    assert staff_client.post(f"/admin/syncqueue/synclog/{log.pk}/delete/").status_code == 403
    assert SyncLog.objects.count() == 2


# --- no query per row ---------------------------------------------------------------------


def _many_rows(n: int = 60) -> None:
    for i in range(n):
        event = InboxEventFactory(record_id=str(i), headers={"h": "v"})
        entry = QueueEntryFactory(failed=True, event=event)
        SyncLogFactory(entry=entry, outcome="failed")
        if i % 2:
            QueueEntryFactory(dead_lettered=True, record_id=f"d{i}")
    for i in range(n):
        DeadLetterFactory(record_id=f"x{i}")


@pytest.mark.parametrize("url", [*CHANGELISTS, "/admin/syncqueue/deadletter/?state=all"])
def test_changelists_do_not_query_per_row(staff_client, django_assert_max_num_queries, url):
    _many_rows()
    staff_client.get(url)  # warm caches (content types, session)
    with django_assert_max_num_queries(15):
        response = staff_client.get(url)
    assert response.status_code == 200


def test_inbox_changelist_defers_the_body(staff_client):
    InboxEventFactory(raw_body=b"x" * 10)
    response = staff_client.get("/admin/inbox/inboxevent/")
    event = response.context["cl"].result_list[0]
    assert "raw_body" in event.get_deferred_fields()
    assert isinstance(event, InboxEvent)
