"""Safe replays: a dry run shows the ERP change first; a replay can send Zoho's current record
instead of the stale payload, which the dead letter keeps. The admin's preview page has its
browser test in tests/browser/; the fetch from a Zoho server is reconciliation's (its tests).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import call_command

from entities.models import Product
from syncqueue import replay as replays
from syncqueue.models import DeadLetter, QueueEntry, RecordEffect
from syncqueue.processing import drain
from syncqueue.replay import ReplaySource, preview_replay
from tests.factories import DeadLetterFactory, QueueEntryFactory, zoho_record

pytestmark = pytest.mark.django_db

PRODUCT = "4600000000777"


def product(name: str, rate: str, modified: str) -> dict:
    return {
        **zoho_record("products", PRODUCT, rate=rate),
        "name": name,
        "last_modified_time": modified,
    }


@pytest.fixture
def letter() -> DeadLetter:
    """The ERP has the product at 10.00; a later event that failed would set 12.50."""
    QueueEntryFactory(record=product("Panel", "10", "2025-01-01T00:00:00+0000"))
    assert drain("w") == 1
    return DeadLetterFactory(record=product("Panel 60x60", "12.50", "2025-01-02T00:00:00+0000"))


@pytest.fixture
def zoho_has() -> Iterator[dict[str, dict | None]]:
    """What "Zoho" answers for a record: the function the reconciliation app installs."""
    records: dict[str, dict | None] = {}
    before = replays._current_record
    replays.set_current_record_source(lambda entity, zoho_id: records[zoho_id])
    yield records
    replays._current_record = before


def test_a_dry_run_shows_the_change_and_changes_nothing(letter):
    preview = preview_replay(letter, ReplaySource.RECEIVED)
    assert not preview.error and not preview.stale
    assert preview.changes == {
        "name": ["Panel", "Panel 60x60"],
        "rate": ["10.000000", "12.500000"],
    }
    assert Product.objects.get(zoho_id=PRODUCT).name == "Panel"
    assert not RecordEffect.objects.filter(entry_id=letter.entry_id).exists()
    letter.refresh_from_db()
    assert (letter.replay_count, letter.entry.status) == (0, "dead_letter")


def test_a_dry_run_says_when_the_replay_would_fail_or_change_nothing(letter):
    broken = DeadLetterFactory()  # its rate is no number
    assert "rate" in preview_replay(broken, ReplaySource.RECEIVED).error
    stale = DeadLetterFactory(record=product("Old", "1", "2024-06-01T00:00:00+0000"))
    preview = preview_replay(stale, ReplaySource.RECEIVED)
    assert (preview.stale, preview.changes, preview.error) == (True, None, "")


def test_replaying_from_zoho_sends_its_current_record_and_keeps_the_received_one(letter, zoho_has):
    received = letter.payload
    zoho_has[PRODUCT] = product("Panel 60x60 LED", "13", "2025-01-03T00:00:00+0000")
    preview = preview_replay(letter, ReplaySource.ZOHO)
    assert preview.changes["rate"] == ["10.000000", "13.000000"]
    out = StringIO()
    call_command("tds_replay", "--id", str(letter.pk), "--fetch-latest", stdout=out)
    assert "replayed 1 dead letter(s), 0 already resolved (skipped), Zoho's current" in (
        out.getvalue()
    )
    assert drain("w") == 1
    assert Product.objects.get(zoho_id=PRODUCT).name == "Panel 60x60 LED"
    letter.refresh_from_db()
    assert (letter.resolved, letter.replayed_from, letter.payload) == (True, "zoho", received)
    assert QueueEntry.objects.get(pk=letter.entry_id).payload["rate"] == "13"


def test_a_record_gone_from_zoho_replays_as_its_delete(letter, zoho_has):
    zoho_has[PRODUCT] = None
    preview = preview_replay(letter, ReplaySource.ZOHO)
    assert (preview.event.operation, preview.changes) == ("delete", {"is_deleted": [False, True]})


def test_a_replay_that_fails_again_keeps_the_payload_as_received(letter, zoho_has):
    received = letter.payload
    zoho_has[PRODUCT] = {**product("Broken", "x", "2025-01-04T00:00:00+0000")}
    call_command("tds_replay", "--id", str(letter.pk), "--fetch-latest", stdout=StringIO())
    for _ in range(3):  # every attempt fails; the retry delays are zero in the tests
        QueueEntry.objects.filter(pk=letter.entry_id).update(next_attempt_at=letter.created_at)
        drain("w")
    letter.refresh_from_db()
    assert not letter.resolved and "rate" in letter.error
    assert letter.payload == received


def test_tds_replay_dry_run_prints_each_change(letter):
    out = StringIO()
    call_command("tds_replay", "--all", "--dry-run", stdout=out)
    assert "    name: 'Panel' -> 'Panel 60x60'" in out.getvalue()
    assert "    rate: '10.000000' -> '12.500000'" in out.getvalue()
    assert DeadLetter.objects.get(pk=letter.pk).replay_count == 0


def test_fetch_latest_without_a_zoho_source_names_the_option(letter, zoho_has):
    replays._current_record = None
    with pytest.raises(Exception, match="--fetch-latest: no source of Zoho's current records"):
        call_command("tds_replay", "--all", "--fetch-latest", stdout=StringIO())
    assert DeadLetter.objects.get(pk=letter.pk).replay_count == 0


def test_the_api_dry_run_and_replay_from_zoho(api, letter, zoho_has):
    url = f"/dashboard/dead-letters/{letter.pk}/replay"
    dry = api.post(url, {"dry_run": True}, format="json")
    assert dry.status_code == 200
    assert dry.json() == {
        "id": letter.pk,
        "source": "received",
        "dry_run": True,
        "operation": "update",
        "changes": {"name": ["Panel", "Panel 60x60"], "rate": ["10.000000", "12.500000"]},
        "stale": False,
        "error": "",
    }
    bad = api.post(url, {"source": "elsewhere"}, format="json")
    assert bad.status_code == 400 and "source" in bad.json()
    zoho_has[PRODUCT] = product("Panel 60x60 LED", "13", "2025-01-03T00:00:00+0000")
    done = api.post(url, json.dumps({"source": "zoho"}), content_type="application/json")
    assert done.status_code == 202
    assert done.json() == {"id": letter.pk, "replayed": True, "status": "pending", "source": "zoho"}
