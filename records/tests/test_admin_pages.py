"""The console's record pages through Django's test client: the timeline page, holding and
releasing from it, and a replay's preview then the replay. The browser test of the same
pages is tests/browser/test_record_timeline.py."""

from __future__ import annotations

import pytest
from django.urls import reverse

from syncqueue.models import DeadLetter, QueueEntry, RecordHold
from syncqueue.processing import drain
from tests.factories import DeadLetterFactory, QueueEntryFactory, UserFactory, zoho_record

pytestmark = pytest.mark.django_db

PRODUCT = "4600000000555"


@pytest.fixture
def operator(client):
    client.force_login(UserFactory(username="ops", superuser=True))
    return client


@pytest.fixture
def story():
    """A product applied once, then a failed later change waiting as a dead letter."""
    QueueEntryFactory(record=zoho_record("products", PRODUCT, name="Panel", rate="10"))
    assert drain("w") == 1
    later = zoho_record(
        "products",
        PRODUCT,
        name="Panel 60x60",
        rate="12.5",
        last_modified_time="2030-01-01T00:00:00+0000",
    )
    return DeadLetterFactory(record=later, error="OperationalError: the ERP was away")


def test_the_timeline_page_shows_the_row_the_events_and_what_they_changed(operator, story):
    page = operator.get(reverse("admin-record-timeline", args=["products", PRODUCT]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="tds-erp-row"' in html and "Panel" in html
    assert html.count('class="tds-event"') == 2
    assert 'data-column="rate"' in html and "10.000000" in html  # the first event's change
    assert "the ERP was away" in html
    assert reverse("admin-replay-preview", args=[story.pk]) + "?source=received" in html


def test_every_record_list_links_to_the_timeline(operator, story):
    link = reverse("admin-record-timeline", args=["products", PRODUCT])
    for name in ("queueentry", "deadletter", "synclog", "recordeffect"):
        listing = operator.get(reverse(f"admin:syncqueue_{name}_changelist"))
        assert link in listing.content.decode(), name
    erp_list = operator.get(reverse("admin:entities_product_changelist"))
    assert link in erp_list.content.decode()


def test_hold_and_release_from_the_timeline(operator, story):
    url = reverse("admin-record-hold", args=["products", PRODUCT])
    assert operator.post(url, {"action": "hold"}).status_code == 302
    assert RecordHold.objects.filter(record_id=PRODUCT).exists()
    page = operator.get(reverse("admin-record-timeline", args=["products", PRODUCT]))
    assert 'id="tds-held-badge"' in page.content.decode()
    operator.post(url, {"action": "release"})
    assert not RecordHold.objects.exists()


def test_the_replay_preview_shows_the_diff_and_its_button_replays(operator, story):
    url = reverse("admin-replay-preview", args=[story.pk])
    preview = operator.get(url, {"source": "received"})
    html = preview.content.decode()
    assert 'data-column="name"' in html and "Panel 60x60" in html
    assert DeadLetter.objects.get(pk=story.pk).replay_count == 0  # a dry run
    done = operator.post(url, {"source": "received"})
    assert done.status_code == 302
    assert done["Location"] == reverse("admin-record-timeline", args=["products", PRODUCT])
    assert QueueEntry.objects.get(pk=story.entry_id).status == "pending"
    assert DeadLetter.objects.get(pk=story.pk).replayed_by == "ops (admin)"


def test_a_person_without_the_queue_permission_cannot_replay_or_hold(client, story):
    client.force_login(UserFactory(username="viewer", staff=True))
    url = reverse("admin-replay-preview", args=[story.pk])
    assert client.post(url, {"source": "received"}).status_code == 403
    hold = reverse("admin-record-hold", args=["products", PRODUCT])
    assert client.post(hold, {"action": "hold"}).status_code == 403
    assert not RecordHold.objects.exists()
    assert DeadLetter.objects.get(pk=story.pk).replay_count == 0


def test_an_unknown_entity_or_source_is_refused(operator, story):
    assert operator.get("/admin/record/widgets/1/").status_code == 404
    bad = operator.get(reverse("admin-replay-preview", args=[story.pk]), {"source": "x"})
    assert bad.status_code == 400
